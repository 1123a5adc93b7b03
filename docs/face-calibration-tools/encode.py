"""Run every photo of a labelled folder ONCE through the production steps (stored copy, decode,
detection, landmarks, chip, quality figures) and cache its plain and mirrored encodings, for
the analyses in analyse.py (docs/face-calibration.md, "Data and method").

    .venv/bin/python docs/face-calibration-tools/encode.py ../shared/faces-calibration ../cache-faces/calib.pkl

Resumable: photos already in OUT are skipped."""

import pickle
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from biometrics import faces, images

MAXPIX = 40_000_000
src, out = Path(sys.argv[1]), Path(sys.argv[2])
cache = pickle.loads(out.read_bytes()) if out.exists() else {}
people = sorted(p for p in src.iterdir() if p.is_dir() and p.name not in ("multi", "negatives", "edge_cases"))
m = faces.models()
t0 = time.time()
n = 0
for folder in people:
    for path in sorted(folder.iterdir(), key=lambda p: p.name):
        key = f"{folder.name}/{path.name}"
        if key in cache:
            continue
        raw = path.read_bytes()
        try:
            data = images.stored_copy(raw, images.inspect(raw, max_pixels=MAXPIX))
        except images.ImageRejected as exc:
            cache[key] = {"outcome": "unreadable", "message": exc.message}
            continue
        array, info, scale = images.decode(data, max_pixels=MAXPIX, long_side=faces.DECODE_LONG_SIDE)
        found, passes = faces._detect(array, long_side=faces.DETECT_LONG_SIDE)
        rec = {"outcome": "ok", "size": info.upright_size, "faces": [(f.box, f.score, f.prominence) for f in found]}
        if not found:
            rec["outcome"] = "no_face"
            cache[key] = rec
            continue
        clear = [f for f in found if f.score >= faces.CLEAR_FACE_SCORE] or found
        main = max(clear, key=lambda f: f.prominence)
        rivals = [
            f
            for f in clear
            if f is not main
            and f.score >= faces.CLEAR_FACE_SCORE
            and f.prominence >= faces.COMPARABLE_PROMINENCE * main.prominence
        ]
        rec["rivals"] = len(rivals)
        top, right, bottom, left = main.box
        shape = m.landmarks(array, m.dlib.rectangle(round(left), round(top), round(right), round(bottom)))
        points = np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)
        chip = m.dlib.get_face_chip(array, shape, size=faces.CHIP_SIZE, padding=faces.CHIP_PADDING)
        rec["quality"] = faces._quality(chip, points, main, array.shape, scale)
        rec["plain"] = np.asarray(m.encoder.compute_face_descriptor(chip), dtype=np.float64)
        rec["mirror"] = np.asarray(m.encoder.compute_face_descriptor(np.ascontiguousarray(chip[:, ::-1])), dtype=np.float64)
        cache[key] = rec
        n += 1
        if n % 25 == 0:
            out.write_bytes(pickle.dumps(cache))
            print(n, len(cache), round(time.time() - t0), flush=True)
out.write_bytes(pickle.dumps(cache))
print("done", len(cache), round(time.time() - t0), flush=True)
