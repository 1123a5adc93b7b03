"""FNMR at FMR 0.1% and 0.01% per variant of encode_variants.py's cache, K = 1 and 2 references
(the first K photos of each person by file name); see docs/face-calibration.md."""
import pickle
import sys

import numpy as np

cache = pickle.load(open(sys.argv[1], "rb"))
people = {}
for key, rec in cache.items():
    person, _ = key.split("/", 1)
    people.setdefault(person, []).append((key, rec))
people = {p: sorted(v) for p, v in people.items() if len(v) >= 2}
VARIANTS = {
    "A p5 .25 +mirror (prod)": ["p5_0.25", "p5_0.25_m"],
    "B p68 .25 +mirror": ["p68_0.25", "p68_0.25_m"],
    "C p5 3 pads +mirror": [f"p5_{p}{m}" for p in (0.15, 0.25, 0.35) for m in ("", "_m")],
    "D p5+p68 .25 +mirror": ["p5_0.25", "p5_0.25_m", "p68_0.25", "p68_0.25_m"],
    "E all 12": [f"p{points}_{p}{m}" for points in (5, 68) for p in (0.15, 0.25, 0.35) for m in ("", "_m")],
    "F p5 .25 .35 +mirror": [f"p5_{p}{m}" for p in (0.25, 0.35) for m in ("", "_m")],
    "G p5 .15 .25 +mirror": [f"p5_{p}{m}" for p in (0.15, 0.25) for m in ("", "_m")],
}
def vec(rec, keys):
    return None if rec is None else np.mean([rec[k] for k in keys], axis=0)
for name, keys in VARIANTS.items():
    for K in (1, 2):
        refs, probes = {}, {}
        for p, items in people.items():
            if len(items) < K + 1:
                continue
            r = [vec(rec, keys) for _, rec in items[:K]]
            r = [x for x in r if x is not None]
            refs[p] = np.mean(r, axis=0) if r else None
            probes[p] = [vec(rec, keys) for _, rec in items[K:]]
        names = [p for p in refs if refs[p] is not None]
        R = np.array([refs[p] for p in names])
        gen, imp, fails = [], [], 0
        for i, p in enumerate(names):
            for v in probes[p]:
                if v is None:
                    fails += 1
                    continue
                d = np.linalg.norm(R - v, axis=1)
                gen.append(d[i])
                imp.extend(np.delete(d, i))
        fails += sum(len(probes[p]) for p in refs if refs[p] is None)
        gen, imp = np.array(gen), np.sort(np.array(imp))
        total = len(gen) + fails
        for fmr in (0.001, 0.0001):
            th = imp[int(len(imp) * fmr)]
            fnmr = (np.sum(gen >= th) + fails) / total
            print(f"{name:28s} K={K} FMR {fmr:.2%}: th {th:.3f} FNMR {fnmr:.2%} ({np.sum(gen>=th)}+{fails}/{total}) impostors {len(imp)}")
