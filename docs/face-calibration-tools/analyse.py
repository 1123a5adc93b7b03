"""Analyses on the cached encodings (encode.py): gates, thresholds per K, encoder variants, the
recent-reference simulation (docs/face-calibration.md). FACE_CACHE names the cache folder
(calib.pkl and calib_rev.pkl, two halves encoded in parallel), FACE_DIR the photos.

    REFMODE=mirrorref .venv/bin/python docs/face-calibration-tools/analyse.py final|sim|variants|gates"""

import json
import os
import pickle
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from biometrics import calibration as cal  # noqa: E402
from biometrics import faces  # noqa: E402

C = Path(os.environ.get("FACE_CACHE", Path(__file__).resolve().parents[3] / "cache-faces"))
cache = {}
for name in ("calib.pkl", "calib_rev.pkl"):
    if (C / name).exists():
        cache.update(pickle.loads((C / name).read_bytes()))
REFMODE = "jitter"
jit = {}
for name in ("jitter.pkl",):
    if (C / name).exists():
        jit.update(pickle.loads((C / name).read_bytes()))
for key, rec in cache.items():
    if key in jit:
        rec["jitter"] = jit[key]
    if rec.get("outcome") == "ok":
        rec["mirrorref"] = (rec["plain"] + rec["mirror"]) / 2
if os.environ.get("REFMODE"):
    REFMODE = os.environ["REFMODE"]
# keep only identities whose every photo is cached
_src = Path(os.environ.get("FACE_DIR", Path(__file__).resolve().parents[3] / "shared" / "faces-calibration"))
_complete = {p.name for p in _src.iterdir() if p.is_dir() and all(f"{p.name}/{f.name}" in cache for f in p.iterdir())}
cache = {k: v for k, v in cache.items() if k.split("/")[0] in _complete}
people = defaultdict(list)
for key in sorted(cache, key=lambda k: (k.split("/")[0], k.split("/")[1])):
    people[key.split("/")[0]].append(key)
names = sorted(people)
index_of = {n: i for i, n in enumerate(names)}
print("photos", len(cache), "identities", len(names), file=sys.stderr)


def passes(rec, gate, ignore_multi=False):
    if rec["outcome"] != "ok":
        return False, rec["outcome"]
    if rec.get("rivals") and not ignore_multi:
        return False, "multiple_faces"
    problem = faces._gate(rec["quality"], gate)
    return (not problem), problem[:30]


def unit(v):
    return v / np.linalg.norm(v)


def probe_vec(rec, mode):
    if mode == "plain":
        return rec["plain"]
    if mode == "mirror":
        return (rec["plain"] + rec["mirror"]) / 2


def attempts(K, *, ref_gate, probe_gate, probe_mode="plain", template="mean", weight=None, cohort=None, extra=None):
    """Galleries of exactly K ready refs among the first K files; probes index >= 1 of
    others for impostors, index >= K of own for genuine."""
    galleries = {}
    for n in names:
        files = people[n][:K]
        if len(people[n]) <= K and False:
            continue
        refs = [cache[f] for f in files if passes(cache[f], ref_gate)[0]]
        if len(refs) == K:
            galleries[n] = refs
    gen, gen_id, imp, imp_p, imp_g = [], [], [], [], []
    gal_names = sorted(galleries)
    G = [galleries[n] for n in gal_names]
    gal_idx = np.array([index_of[n] for n in gal_names])

    def dist(vec, refs):
        stack = np.array([r[REFMODE] for r in refs])
        if template == "mean":
            if weight:
                w = np.array([weight(r) for r in refs])
                return float(np.linalg.norm((stack * w[:, None]).sum(0) / w.sum() - vec))
            return float(np.linalg.norm(stack.mean(0) - vec))
        if template == "nearest":
            return float(np.linalg.norm(stack - vec, axis=1).min())
        if template == "mean_nearest":
            return float(min(np.linalg.norm(stack.mean(0) - vec), np.linalg.norm(stack - vec, axis=1).min()))

    templates = np.array([np.mean([r[REFMODE] for r in refs], 0) for refs in G])
    stacks = np.array([[r[REFMODE] for r in refs] for refs in G])
    if weight:
        wtemplates = np.array([np.sum([weight(r) * r[REFMODE] for r in refs], 0) / sum(weight(r) for r in refs) for refs in G])
    for n in names:
        for i, f in enumerate(people[n]):
            if i == 0:
                continue
            rec = cache[f]
            ok = passes(rec, probe_gate)[0]
            own = n in galleries and i >= K
            if own:
                pass
            elif n not in galleries and i >= K and len(people[n]) > K:
                # an identity whose K references did not all pass: with fewer refs it falls in
                # another K; count its misses only when none passed
                continue
            if not ok:
                if own:
                    gen.append(np.nan)
                    gen_id.append(index_of[n])
                continue
            vec = probe_vec(rec, probe_mode)
            if template == "mean" and not weight:
                ds = np.linalg.norm(templates - vec, axis=1)
            elif template == "nearest":
                ds = np.linalg.norm(stacks - vec, axis=2).min(axis=1)
            else:
                ds = np.linalg.norm(wtemplates - vec, axis=1)
            if cohort is not None:
                raw = np.linalg.norm(templates - vec, axis=1)
                mask = gal_idx != index_of[n]
                c = np.sort(raw[mask])[:cohort] if cohort > 0 else raw[mask]
                ds = (ds - c.mean()) / c.std()
            for j, gname in enumerate(gal_names):
                if gname == n:
                    if own:
                        gen.append(ds[j])
                        gen_id.append(index_of[n])
                else:
                    imp.append(ds[j])
                    imp_p.append(index_of[n])
                    imp_g.append(gal_idx[j])
    return cal.Attempts(np.array(gen), np.array(gen_id), np.array(imp), np.array(imp_p), np.array(imp_g), len(names))


def summary(at, target=0.001, rounds=100, fixed=None):
    r = cal.choose(at, target=target, rounds=rounds, fixed=fixed)
    return {
        k: r[k]
        for k in (
            "genuine",
            "impostor",
            "no_score",
            "threshold_at_target",
            "threshold_at_target_ci95",
            "fnmr_at_target",
            "fnmr_at_target_ci95",
            "threshold",
            "fmr_at_threshold",
            "fnmr_at_threshold",
            "operating_points",
        )
    } | ({"fixed": r["fixed"]} if fixed else {})


LOOSE = faces.QualityGate(
    min_face_px=0, min_sharpness=0, min_brightness=0, max_brightness=256, min_contrast=0, max_yaw=9, max_outside=1
)

what = sys.argv[1] if len(sys.argv) > 1 else "gates"
if what == "gates":
    oks = [r for r in cache.values() if r["outcome"] == "ok"]
    print(
        "outcomes",
        {o: sum(1 for r in cache.values() if r["outcome"] == o) for o in ("ok", "no_face", "unreadable")},
        "rivals",
        sum(1 for r in oks if r.get("rivals")),
    )
    for q in ("face_px", "sharpness", "brightness", "contrast", "yaw", "outside"):
        v = np.array([abs(r["quality"][q]) for r in oks])
        print(q, "percentiles 0,0.5,1,2,5,50,95,99,100:", np.round(np.percentile(v, [0, 0.5, 1, 2, 5, 50, 95, 99, 100]), 3))
    for label, gate in (("probe", faces.PROBE_GATE), ("reference", faces.REFERENCE_GATE)):
        fails = defaultdict(int)
        for r in cache.values():
            ok, why = passes(r, gate)
            if not ok:
                fails[why] += 1
        print(label, "gate refuses", sum(fails.values()), "of", len(cache), dict(fails))
    # genuine distance (first photo jitter vs later plain) against probe sharpness / face px
    rows = []
    for n in names:
        r0 = cache[people[n][0]]
        if REFMODE not in r0:
            continue
        for f in people[n][1:]:
            r = cache[f]
            if r["outcome"] == "ok":
                rows.append(
                    (
                        np.linalg.norm(r0[REFMODE] - r["plain"]),
                        r["quality"]["sharpness"],
                        r["quality"]["face_px"],
                        r0["quality"]["sharpness"],
                        r0["quality"]["face_px"],
                    )
                )
    rows = np.array(rows)
    for col, label in ((1, "probe sharpness"), (2, "probe face px"), (3, "ref sharpness"), (4, "ref face px")):
        for lo, hi in (
            ((0, 0.05), (0.05, 0.065), (0.065, 0.075), (0.075, 0.08), (0.08, 0.1), (0.1, 9))
            if col in (1, 3)
            else ((0, 60), (60, 70), (70, 80), (80, 90), (90, 110), (110, 999))
        ):
            sel = (rows[:, col] >= lo) & (rows[:, col] < hi)
            if sel.any():
                print(
                    f"  {label} [{lo},{hi}): n={sel.sum()} genuine mean {rows[sel, 0].mean():.3f} p90 {np.percentile(rows[sel, 0], 90):.3f}"
                )
elif what == "gatesweep":
    for face_px in (40, 48, 60, 70, 80):
        for sharp in (0.0, 0.04, 0.05, 0.06, 0.07, 0.08):
            ref = faces.QualityGate(
                min_face_px=face_px,
                min_sharpness=sharp,
                min_brightness=50.0,
                max_brightness=220.0,
                min_contrast=15.0,
                max_yaw=0.45,
                max_outside=0.05,
            )
            s = summary(attempts(1, ref_gate=ref, probe_gate=faces.PROBE_GATE), rounds=20)
            print(face_px, sharp, s["no_score"], s["genuine"], s["fnmr_at_target"], s["threshold_at_target"])
elif what == "k":
    ref = json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}
    ref_gate = faces.QualityGate(**{**faces.REFERENCE_GATE.__dict__, **ref.get("ref", {})})
    probe_gate = faces.QualityGate(**{**faces.PROBE_GATE.__dict__, **ref.get("probe", {})})
    for K in (1, 2, 3):
        print(
            K,
            json.dumps(
                summary(
                    attempts(
                        K,
                        ref_gate=ref_gate,
                        probe_gate=probe_gate,
                        probe_mode=ref.get("mode", "plain"),
                        template=ref.get("template", "mean"),
                    ),
                    rounds=200,
                    fixed=0.54,
                )
            ),
        )

elif what == "variants":
    ref_gate, probe_gate = faces.REFERENCE_GATE, faces.PROBE_GATE
    if len(sys.argv) > 2:
        g = json.loads(sys.argv[2])
        ref_gate = faces.QualityGate(**{**faces.REFERENCE_GATE.__dict__, **g.get("ref", {})})
        probe_gate = faces.QualityGate(**{**faces.PROBE_GATE.__dict__, **g.get("probe", {})})
    qual = lambda r: min(1.0, r["quality"]["sharpness"] / 0.15) * min(1.0, r["quality"]["face_px"] / 100)  # noqa: E731
    variants = {
        "baseline (mean template, plain probe)": {},
        "mirrored probe": {"probe_mode": "mirror"},
        "nearest reference": {"template": "nearest"},
        "quality-weighted template": {"weight": qual},
        "cohort z-norm (all others)": {"cohort": 0},
        "cohort z-norm (50 nearest)": {"cohort": 50},
        "mirrored probe + cohort (all)": {"probe_mode": "mirror", "cohort": 0},
    }
    for K in (1, 2, 3):
        for label, kw in variants.items():
            if K == 1 and label in ("nearest reference", "quality-weighted template"):
                continue
            r = summary(attempts(K, ref_gate=ref_gate, probe_gate=probe_gate, **kw), rounds=50)
            print(
                f"K={K} {label}: FNMR@FMR0.1% {r['fnmr_at_target']:.4f} {r['fnmr_at_target_ci95']} (t {r['threshold_at_target']:.4f}); FNMR@0.01% {r['operating_points']['0.0001']['fnmr']:.4f}; gen {r['genuine']} imp {r['impostor']} noscore {r['no_score']}",
                flush=True,
            )
elif what == "sim":
    # thresholds per K as JSON, margin, max recent
    th = {int(k): v for k, v in json.loads(sys.argv[2]).items()}
    margin = float(sys.argv[3]) if len(sys.argv) > 3 else 0.10
    max_recent = int(sys.argv[4]) if len(sys.argv) > 4 else 2
    ref_gate, probe_gate = faces.REFERENCE_GATE, faces.PROBE_GATE
    tfor = lambda k: cal.threshold_for(th, k)  # noqa: E731
    probes_all = [
        (index_of[n], probe_vec(cache[f], "mirror"))
        for n in names
        for i, f in enumerate(people[n])
        if i >= 1 and passes(cache[f], probe_gate)[0]
    ]
    P = np.array([v for _, v in probes_all])
    P_id = np.array([i for i, _ in probes_all])
    out = {}
    for policy in ("enrolment only", "recent references"):
        gen_first, gen_later, imp_err, imp_n, added = [], [], 0, 0, 0
        imp_d = []
        for n in names:
            files = people[n]
            if len(files) < 3:
                continue
            r0 = cache[files[0]]
            if not passes(r0, ref_gate)[0] or REFMODE not in r0:
                continue
            recent = []
            for i in range(1, len(files)):
                refs = [r0[REFMODE]] + (recent if policy != "enrolment only" else [])
                T = np.mean(refs, 0)
                t = tfor(len(refs))
                # impostors against this state
                others = P_id != index_of[n]
                ds = np.linalg.norm(P[others] - T, axis=1)
                imp_err += int((ds <= t).sum())
                imp_n += int(others.sum())
                rec = cache[files[i]]
                ok = passes(rec, probe_gate)[0]
                d = float(np.linalg.norm(T - probe_vec(rec, "mirror"))) if ok else np.nan
                (gen_first if i == 1 else gen_later).append(ok and d <= t)
                if policy == "enrolment only" or not ok:
                    continue
                if d <= t - margin or d > t:  # verified well inside, or a miss an officer confirms
                    recent.append(probe_vec(rec, "mirror"))
                    recent = recent[-max_recent:]
                    added += 1
        g = gen_first + gen_later
        out[policy] = {
            "check-ins": len(g),
            "FNMR all": round(1 - np.mean(g), 4),
            "misses": int(len(g) - sum(g)),
            "FNMR 2nd+ check-ins": round(1 - np.mean(gen_later), 4),
            "later misses": int(len(gen_later) - sum(gen_later)),
            "later": len(gen_later),
            "FMR": round(imp_err / imp_n, 6),
            "false matches": imp_err,
            "impostor attempts": imp_n,
            "added": added,
        }
    print(json.dumps(out, indent=1))
elif what == "jitvsmirror":
    have = [n for n in names if "jitter" in cache[people[n][0]] and passes(cache[people[n][0]], faces.REFERENCE_GATE)[0]]
    print("identities with jitter", len(have))
    probes_all = [
        (n, cache[f]["plain"]) for n in names for i, f in enumerate(people[n]) if i >= 1 and passes(cache[f], faces.PROBE_GATE)[0]
    ]
    for mode in ("jitter", "mirrorref", "plain"):
        gen, imp = [], []
        for n in have:
            T = cache[people[n][0]][mode]
            for pn, v in probes_all:
                (gen if pn == n else imp).append(np.linalg.norm(T - v))
        gen, imp = np.array(gen), np.array(imp)
        t = cal.threshold_at(imp, None, 0.001)
        print(
            mode,
            f"genuine mean {gen.mean():.4f} sd {gen.std():.4f}; impostor mean {imp.mean():.4f} sd {imp.std():.4f} q0.001 {np.quantile(imp, 0.001):.4f} q0.01 {np.quantile(imp, 0.01):.4f}; d' {(imp.mean() - gen.mean()) / np.sqrt((gen.var() + imp.var()) / 2):.3f}; FNMR@0.1% {np.mean(gen > t):.4f} (n gen {gen.size}, imp {imp.size})",
        )
    # paired genuine difference
    diffs = []
    for n in have:
        for pn, v in probes_all:
            if pn == n:
                diffs.append(
                    np.linalg.norm(cache[people[n][0]]["jitter"] - v) - np.linalg.norm(cache[people[n][0]]["mirrorref"] - v)
                )
    print(f"paired genuine jitter - mirror: mean {np.mean(diffs):.4f} sd {np.std(diffs):.4f} n {len(diffs)}")
elif what == "final":
    OLD_PROBE = faces.QualityGate(
        min_face_px=48,
        min_sharpness=0.075,
        min_brightness=40.0,
        max_brightness=230.0,
        min_contrast=10.0,
        max_yaw=0.6,
        max_outside=0.25,
    )
    OLD_REF = faces.QualityGate(
        min_face_px=80,
        min_sharpness=0.08,
        min_brightness=50.0,
        max_brightness=220.0,
        min_contrast=15.0,
        max_yaw=0.45,
        max_outside=0.05,
    )
    result = {"photos": len(cache), "identities": len(names)}
    # 1. gates
    gates = {}
    for label, ref_gate, probe_gate in (("old", OLD_REF, OLD_PROBE), ("new", faces.REFERENCE_GATE, faces.PROBE_GATE)):
        firsts = [cache[people[n][0]] for n in names]
        later = [cache[f] for n in names for f in people[n][1:]]
        allp = list(cache.values())
        why_ref = defaultdict(int)
        why_probe = defaultdict(int)
        for r in allp:
            ok, why = passes(r, ref_gate)
            if not ok:
                why_ref[why] += 1
            ok, why = passes(r, probe_gate)
            if not ok:
                why_probe[why] += 1
        gates[label] = {
            "references_refused_all_photos": [sum(why_ref.values()), len(allp)],
            "reference_reasons": dict(why_ref),
            "probes_refused_all_photos": [sum(why_probe.values()), len(allp)],
            "probe_reasons": dict(why_probe),
            "first_photos_refused_as_reference": [sum(1 for r in firsts if not passes(r, ref_gate)[0]), len(firsts)],
            "later_photos_refused_as_probe": [sum(1 for r in later if not passes(r, probe_gate)[0]), len(later)],
        }
        for K in (1, 3):
            r = summary(attempts(K, ref_gate=ref_gate, probe_gate=probe_gate, probe_mode="mirror"), rounds=50)
            gates[label][f"K{K}"] = {"fnmr_at_fmr_0.1%": r["fnmr_at_target"], "no_score": r["no_score"], "genuine": r["genuine"]}
    result["gates"] = gates
    # 2. per-K calibration (production: mirrored refs and probes, new gates)
    per_k = {}
    for K in (1, 2, 3):
        at = attempts(K, ref_gate=faces.REFERENCE_GATE, probe_gate=faces.PROBE_GATE, probe_mode="mirror")
        per_k[str(K)] = cal.choose(at, target=0.001, rounds=400, fixed=0.54)
        print("K", K, per_k[str(K)]["threshold"], flush=True, file=sys.stderr)
    result["per_k"] = per_k
    # 3. variants
    qual = lambda r: min(1.0, r["quality"]["sharpness"] / 0.15) * min(1.0, r["quality"]["face_px"] / 100)  # noqa: E731
    variants = {
        "plain probe (before)": {},
        "mirrored probe (shipped)": {"probe_mode": "mirror"},
        "mirrored probe, nearest reference": {"probe_mode": "mirror", "template": "nearest"},
        "mirrored probe, quality-weighted template": {"probe_mode": "mirror", "weight": qual},
        "mirrored probe, cohort z-norm": {"probe_mode": "mirror", "cohort": 0},
    }
    table = {}
    for K in (1, 2, 3):
        for label, kw in variants.items():
            if K == 1 and ("nearest" in label or "weighted" in label):
                continue
            r = summary(attempts(K, ref_gate=faces.REFERENCE_GATE, probe_gate=faces.PROBE_GATE, **kw), rounds=100)
            table[f"K={K} {label}"] = {
                "fnmr_at_fmr_0.1%": r["fnmr_at_target"],
                "ci95": r["fnmr_at_target_ci95"],
                "fnmr_at_fmr_0.01%": r["operating_points"]["0.0001"]["fnmr"],
                "genuine": r["genuine"],
                "impostor": r["impostor"],
            }
    result["variants"] = table
    print(json.dumps(result))
