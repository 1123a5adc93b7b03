"""Measure the face matcher on a folder of labelled photos (`manage.py evaluate_matcher`).

Every immediate subfolder of the folder is one identity. The first K files of each (sorted by
name) are enrolled as references through the enrolment path (faces.enrol); every other file is
a probe, scored through the production path (faces.analyse, faces.compare) against its own
identity's references (a genuine attempt) and against every other identity's (impostor
attempts). With `all_pairs`, every file is enrolled alone and compared with every other. Both paths start from the bytes the system would store (images.stored_copy), as
enrolment and the check-in intake do.

Counting rules (ISO/IEC 19795-1 terms):
- a probe that fails to acquire a face (no face, several faces, low quality, unreadable) is an
  FTA; its genuine attempt counts as a false non-match, and it makes no impostor attempts (it
  has no encoding, and counting it as a correct rejection would flatter the FMR);
- a genuine attempt against an identity none of whose references could be enrolled counts as
  a false non-match as well (the failed enrolments are listed);
- each attempt is decided with the threshold of its gallery's number of ready references
  (biometrics/calibration.py), unless one fixed threshold is given;
- confidence intervals are Wilson score intervals at 95%; `calibrate` bootstraps over
  identities instead, as attempts that share photos are not independent.
"""

import csv
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from biometrics import calibration, faces, images

Z95 = 1.959964


@dataclass
class Sample:
    identity: str
    path: str  # relative to the evaluated folder
    analysis: faces.Analysis


def wilson(errors: int, trials: int) -> tuple[float, float]:
    """95% Wilson score interval of a proportion; (0, 1) when there are no trials."""
    if trials == 0:
        return 0.0, 1.0
    p = errors / trials
    z2 = Z95 * Z95
    centre = (p + z2 / (2 * trials)) / (1 + z2 / trials)
    half = Z95 * ((p * (1 - p) / trials + z2 / (4 * trials * trials)) ** 0.5) / (1 + z2 / trials)
    return max(0.0, centre - half), min(1.0, centre + half)


def rate(errors: int, trials: int) -> dict:
    low, high = wilson(errors, trials)
    return {"errors": errors, "trials": trials, "rate": errors / trials if trials else None, "ci95": [low, high]}


def identities(root: Path, exclude: list[str]) -> dict[str, list[Path]]:
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".") and p.name not in exclude)
    return {
        folder.name: sorted((p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")), key=lambda p: p.name)
        for folder in folders
    }


def _stored_form(data: bytes, max_pixels: int) -> bytes:
    """What the system keeps of an upload (and scores later): upright and without metadata."""
    try:
        return images.stored_copy(data, images.inspect(data, max_pixels=max_pixels))
    except images.ImageRejected:
        return data  # analyse() rejects it again and reports it as unreadable


def evaluate(
    root: Path,
    *,
    references: int,
    exclude: list[str],
    threshold: float | None = None,
    thresholds: dict[int, float] | None = None,
    max_pixels: int,
    full_size: bool = False,
    all_pairs: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[dict, dict]:
    """Run the evaluation. Returns (report, scores): the report is JSON-ready; scores holds
    the raw distances for plotting.

    Each attempt is decided as production decides it: with `thresholds` (per number of ready
    references in the gallery), or with one fixed `threshold` when that is given.

    `all_pairs` enrols every photo on its own and probes it against every other photo (K is
    ignored): about seven times the impostor attempts of K=1 from the same folder, for
    calibration; the attempts share photos, so they are far from independent."""
    if threshold is None and not thresholds:
        raise ValueError("give a threshold or the calibrated thresholds")
    people = identities(root, exclude)
    total = sum(len(files) for files in people.values()) * (2 if all_pairs else 1)
    done = 0
    enrolled: list[Sample] = []
    probes: list[Sample] = []
    for identity, files in people.items():
        for index, path in enumerate(files):
            data = _stored_form(path.read_bytes(), max_pixels)
            name = str(path.relative_to(root))
            if all_pairs or index < references:
                enrolled.append(Sample(identity, name, faces.enrol(data, max_pixels=max_pixels, full_size=full_size)))
                done += 1
            if all_pairs or index >= references:
                probes.append(Sample(identity, name, faces.analyse(data, max_pixels=max_pixels, full_size=full_size)))
                done += 1
            if progress:
                progress(done, total)

    # A gallery is what a probe is compared with: an identity's K references, or (all pairs)
    # one photo. A gallery whose enrolment failed has no encodings.
    galleries: dict[str, tuple[str, list]] = {}
    for sample in enrolled:
        identity, encodings = galleries.setdefault(sample.path if all_pairs else sample.identity, (sample.identity, []))
        if sample.analysis.outcome == faces.Outcome.OK:
            encodings.append(sample.analysis.encoding)

    genuine: list[dict] = []  # one per probe and gallery of its identity (but not itself)
    impostor: list[dict] = []  # one per acquired probe and enrolled gallery of another identity
    for probe in probes:
        acquired = probe.analysis.outcome == faces.Outcome.OK
        for key, (identity, encodings) in galleries.items():
            if key == probe.path or (identity != probe.identity and not (acquired and encodings)):
                continue
            distance = None
            limit = threshold if threshold is not None else calibration.threshold_for(thresholds, len(encodings))
            if acquired and encodings:
                distance = faces.compare(probe.analysis.encoding, encodings, threshold=limit).distance
            attempt = {
                "probe": probe.path, "identity": probe.identity, "reference": key, "outcome": probe.analysis.outcome,
                "distance": distance, "threshold": limit,
            }
            (genuine if identity == probe.identity else impostor).append(attempt)

    report = {
        "dir": str(root),
        "identities": len(people),
        "excluded": sorted(exclude),
        "references_per_identity": None if all_pairs else references,
        "all_pairs": all_pairs,
        # the threshold of a gallery of K references (all-pairs: of one); each gallery's own
        # number of ready references decides its attempts ("thresholds")
        "threshold": threshold if threshold is not None else calibration.threshold_for(thresholds, 1 if all_pairs else references),
        "thresholds": None if threshold is not None else {str(k): v for k, v in thresholds.items()},
        "model_version": faces.MODEL_VERSION,
        "pipeline_version": faces.PIPELINE_VERSION,
        "full_size": full_size,
        **summary(genuine, impostor),
        "fta_count": sum(1 for p in probes if p.analysis.outcome != faces.Outcome.OK),
        "probes": len(probes),
        "enrolment": {
            "attempted": len(enrolled),
            "ready": sum(1 for s in enrolled if s.analysis.outcome == faces.Outcome.OK),
            "failed": [
                {"image": s.path, "outcome": s.analysis.outcome, "message": s.analysis.message}
                for s in enrolled if s.analysis.outcome != faces.Outcome.OK
            ],
            "identities_without_reference": sorted(set(people) - {identity for identity, encodings in galleries.values() if encodings}),
        },
        "fta_cases": [
            {"image": p.path, "outcome": p.analysis.outcome, "message": p.analysis.message}
            for p in probes if p.analysis.outcome != faces.Outcome.OK
        ],
        "ms_per_image_median": _median([p.analysis.duration_ms for p in probes]),
        "ms_per_image_p95": _percentile([p.analysis.duration_ms for p in probes], 95),
        "ms_per_reference_median": _median([s.analysis.duration_ms for s in enrolled]),
        "worst_genuine": sorted(
            (a for a in genuine if a["distance"] is not None), key=lambda a: a["distance"], reverse=True
        )[:5],
        "worst_impostor": sorted(impostor, key=lambda a: a["distance"])[:5],
        "sweep": [
            {"threshold": t, **{k: v for k, v in summary(genuine, impostor, t).items() if k in ("fnmr", "fmr", "false_non_matches", "false_matches")}}
            for t in (round(0.40 + 0.01 * i, 2) for i in range(26))
        ],
    }
    report["score_statistics"] = _statistics(genuine, impostor)
    report["operating_points"] = operating_points(genuine, impostor)
    report["fta"] = report["fta_count"] / len(probes) if probes else None
    report["fta_ci95"] = list(wilson(report["fta_count"], len(probes)))
    scores = {
        "genuine": [a["distance"] for a in genuine],  # None: no distance (FTA or no reference)
        "impostor": [a["distance"] for a in impostor],
        "genuine_attempts": genuine,
        "impostor_attempts": impostor,
    }
    return report, scores


def _statistics(genuine: list[dict], impostor: list[dict]) -> dict:
    """Means and spreads of the distances, and the threshold at which normal distributions
    fitted to them put the FMR at 0.1%: an extrapolation beyond what a few thousand impostor
    attempts can show directly (real impostor tails have proved lighter than normal, so it
    errs on the safe side)."""
    acquired = [a["distance"] for a in genuine if a["distance"] is not None]
    impostors = [a["distance"] for a in impostor]
    if len(acquired) < 2 or len(impostors) < 2:
        return {}
    g_mean, g_sd = statistics.fmean(acquired), statistics.stdev(acquired)
    i_mean, i_sd = statistics.fmean(impostors), statistics.stdev(impostors)
    t = statistics.NormalDist(i_mean, i_sd).inv_cdf(0.001)
    return {
        "genuine_mean": round(g_mean, 4), "genuine_sd": round(g_sd, 4), "genuine_max": round(max(acquired), 4),
        "impostor_mean": round(i_mean, 4), "impostor_sd": round(i_sd, 4), "impostor_min": round(min(impostors), 4),
        "d_prime": round((i_mean - g_mean) / ((g_sd**2 + i_sd**2) / 2) ** 0.5, 2),
        "normal_fit_threshold_fmr_0.1%": round(t, 4),
        "normal_fit_fnmr_at_that_threshold": round(1 - statistics.NormalDist(g_mean, g_sd).cdf(t), 4),
    }


def operating_points(genuine: list[dict], impostor: list[dict], fmrs: tuple[float, ...] = (0.001, 0.0001)) -> dict:
    """FNMR where the FMR is 0.1% and 0.01% on these attempts (the threshold read off the
    impostor distances): how good the scores are, apart from the threshold shipped. Below
    about 3/FMR impostor attempts the point is a guess and is flagged so."""
    distances = np.array([a["distance"] for a in impostor], dtype=np.float64)
    scores = np.array([np.nan if a["distance"] is None else a["distance"] for a in genuine], dtype=np.float64)
    points = {}
    for target in fmrs:
        if not distances.size or not scores.size:
            continue
        t = calibration.threshold_at(distances, None, target)
        points[f"{target:g}"] = {
            "threshold": round(t, 4),
            "fnmr": round(calibration.fnmr(scores, t), 5),
            "enough_impostors": bool(distances.size * target >= 3),
        }
    return points


def summary(genuine: list[dict], impostor: list[dict], threshold: float | None = None) -> dict:
    """Counts and rates, each attempt decided with `threshold` or else with its own."""
    misses = sum(1 for a in genuine if a["distance"] is None or a["distance"] > (a["threshold"] if threshold is None else threshold))
    false_matches = sum(1 for a in impostor if a["distance"] <= (a["threshold"] if threshold is None else threshold))
    fnmr, fmr = rate(misses, len(genuine)), rate(false_matches, len(impostor))
    return {
        "genuine": len(genuine),
        "impostor": len(impostor),
        "false_non_matches": misses,
        "false_matches": false_matches,
        "fnmr": fnmr["rate"],
        "fnmr_ci95": fnmr["ci95"],
        "fmr": fmr["rate"],
        "fmr_ci95": fmr["ci95"],
    }


def by_group(scores: dict, groups: dict[str, str], threshold: float | None = None) -> dict:
    """FNMR over each group's genuine attempts and FMR over the impostor attempts whose probe
    belongs to the group, with 95% intervals. Identities missing from the file are 'unassigned'."""
    result = {}
    names = sorted(set(groups.values()) | {groups.get(a["identity"], "unassigned") for a in scores["genuine_attempts"] + scores["impostor_attempts"]})
    for name in names:
        genuine = [a for a in scores["genuine_attempts"] if groups.get(a["identity"], "unassigned") == name]
        impostor = [a for a in scores["impostor_attempts"] if groups.get(a["identity"], "unassigned") == name]
        result[name] = {
            "identities": len({a["identity"] for a in genuine + impostor}),
            "fnmr": rate(sum(1 for a in genuine if a["distance"] is None or a["distance"] > (threshold or a["threshold"])), len(genuine)),
            "fmr": rate(sum(1 for a in impostor if a["distance"] <= (threshold or a["threshold"])), len(impostor)),
        }
    return result


def read_groups(path: Path) -> dict[str, str]:
    """identity,group rows; a header row naming `identity` is skipped."""
    groups = {}
    with path.open(newline="", encoding="utf-8") as handle:
        for row in csv.reader(handle):
            if len(row) < 2 or not row[0].strip() or row[0].strip().lower() == "identity":
                continue
            groups[row[0].strip()] = row[1].strip()
    return groups


def plot(scores: dict, threshold: float, path: Path) -> None:
    """A DET curve (FNMR against FMR on normal-deviate axes, the operating point marked) and
    the genuine and impostor distance histograms with the threshold."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    genuine = [d for d in scores["genuine"] if d is not None]
    impostor = scores["impostor"]
    n_genuine, n_impostor = len(scores["genuine"]), len(impostor)
    steps = sorted(set(genuine) | set(impostor) | {threshold})
    curve = [(_fraction(sum(1 for d in impostor if d <= t), n_impostor), _fraction(n_genuine - sum(1 for d in genuine if d <= t), n_genuine)) for t in steps]
    floor_x, floor_y = 0.5 / max(1, n_impostor), 0.5 / max(1, n_genuine)
    probit = statistics.NormalDist().inv_cdf

    def axis(value: float, floor: float) -> float:
        return probit(min(max(value, floor), 1 - floor))

    figure = Figure(figsize=(12, 5), layout="constrained")
    FigureCanvasAgg(figure)
    det, histogram = figure.subplots(1, 2)
    det.plot([axis(x, floor_x) for x, _ in curve], [axis(y, floor_y) for _, y in curve], drawstyle="steps-post", label="DET")
    op_x = _fraction(sum(1 for d in impostor if d <= threshold), n_impostor)
    op_y = _fraction(n_genuine - sum(1 for d in genuine if d <= threshold), n_genuine)
    det.plot([axis(op_x, floor_x)], [axis(op_y, floor_y)], "o", color="crimson", label=f"threshold {threshold:.3f}: FMR {op_x:.3%}, FNMR {op_y:.2%}")
    for set_ticks, set_limits, floor in ((det.set_xticks, det.set_xlim, floor_x), (det.set_yticks, det.set_ylim, floor_y)):
        ticks = [t for t in (0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5) if t >= floor]
        set_ticks([probit(t) for t in ticks], [f"{t:.2%}" for t in ticks])
        set_limits(probit(floor) - 0.1, probit(0.5))
    det.tick_params(axis="x", labelrotation=45)
    det.set_xlabel(f"false match rate ({n_impostor} impostor attempts; 0 drawn at {floor_x:.3%})")
    det.set_ylabel(f"false non-match rate ({n_genuine} genuine attempts)")
    det.set_title("DET curve")
    det.grid(True, alpha=0.3)
    det.legend(loc="upper right", fontsize="small")
    bins = [i / 50 for i in range(0, 61)]
    histogram.hist(impostor, bins=bins, density=True, alpha=0.6, label=f"impostor ({n_impostor})", color="tab:orange")
    histogram.hist(genuine, bins=bins, density=True, alpha=0.6, label=f"genuine ({len(genuine)} acquired)", color="tab:blue")
    histogram.axvline(threshold, color="crimson", linestyle="--", label=f"threshold {threshold:.3f}")
    histogram.set_xlabel("face distance (smaller is more alike)")
    histogram.set_ylabel("density")
    histogram.set_title("Distance distributions")
    histogram.legend(fontsize="small")
    figure.savefig(path, dpi=110)


def _fraction(count: int, total: int) -> float:
    return count / total if total else 0.0


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 1) if values else None


def _percentile(values: list[float], q: int) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))], 1)


def calibrate(
    root: Path,
    *,
    exclude: list[str],
    max_pixels: int,
    ks: tuple[int, ...] = (1, 2, 3),
    target_fmr: float = calibration.TARGET_FMR,
    rounds: int = calibration.BOOTSTRAP_ROUNDS,
    fixed: dict[int, float] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict:
    """Choose the threshold for `target_fmr` per number of references K on a labelled folder,
    with bootstrap intervals over identities (biometrics/calibration.py).

    Each photo is processed once: the first max(ks) of each identity are enrolled, every
    other photo is analysed as a probe. For each K, the galleries are the identities whose
    first K photos all enrolled (a template of exactly K ready references); genuine attempts
    are their later photos, impostor attempts every acquired probe of another identity.
    `fixed` gives the thresholds shipped so far, to report their rates too."""
    people = identities(root, exclude)
    names = sorted(people)
    index = {name: i for i, name in enumerate(names)}
    most = max(ks)
    total = sum(len(files) for files in people.values())
    done = 0
    refs: dict[str, list] = {}
    probes: list[tuple[str, int, faces.Analysis]] = []
    failed_refs = []
    for name, files in people.items():
        refs[name] = []
        for i, path in enumerate(files):
            data = _stored_form(path.read_bytes(), max_pixels)
            if i < most:
                analysis = faces.enrol(data, max_pixels=max_pixels)
                refs[name].append(analysis.encoding if analysis.outcome == faces.Outcome.OK else None)
                if analysis.outcome != faces.Outcome.OK:
                    failed_refs.append({"image": str(path.relative_to(root)), "outcome": analysis.outcome, "message": analysis.message})
            if i >= 1:
                probes.append((name, i, faces.analyse(data, max_pixels=max_pixels)))
            done += 1
            if progress:
                progress(done, total)
    per_k = {}
    for k in ks:
        gallery = [(name, refs[name][:k]) for name in names if len(refs[name]) >= k and all(e is not None for e in refs[name][:k])]
        if not gallery:
            continue
        gallery_names = np.array([index[name] for name, _ in gallery])
        gallery_encodings = [encodings for _, encodings in gallery]
        own = {name: j for j, (name, _) in enumerate(gallery)}
        genuine, genuine_id, impostor, impostor_probe, impostor_gallery = [], [], [], [], []
        for name, i, analysis in probes:
            acquired = analysis.outcome == faces.Outcome.OK
            if name in own and i >= k:
                genuine_id.append(index[name])
                genuine.append(
                    faces.compare(analysis.encoding, gallery_encodings[own[name]], threshold=1.0).distance if acquired else np.nan
                )
            if not acquired:
                continue
            distances = np.array([faces.compare(analysis.encoding, encodings, threshold=1.0).distance for encodings in gallery_encodings])
            others = gallery_names != index[name]
            impostor.extend(distances[others])
            impostor_probe.extend([index[name]] * int(others.sum()))
            impostor_gallery.extend(gallery_names[others])
        attempts = calibration.Attempts(
            np.array(genuine, dtype=np.float64), np.array(genuine_id, dtype=np.int64), np.array(impostor, dtype=np.float64),
            np.array(impostor_probe, dtype=np.int64), np.array(impostor_gallery, dtype=np.int64), len(names),
        )
        per_k[str(k)] = calibration.choose(
            attempts, target=target_fmr, rounds=rounds, fixed=None if fixed is None else calibration.threshold_for(fixed, k)
        )
    return {
        "dir": str(root),
        "identities": len(names),
        "photos": total,
        "excluded": sorted(exclude),
        "model_version": faces.MODEL_VERSION,
        "pipeline_version": faces.PIPELINE_VERSION,
        "target_fmr": target_fmr,
        "thresholds": {k: v["threshold"] for k, v in per_k.items()},
        "per_k": per_k,
        "fta": {"probes": len(probes), "failed": sum(1 for *_, a in probes if a.outcome != faces.Outcome.OK)},
        "failed_references": failed_refs,
    }
