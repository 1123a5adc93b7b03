"""Experiment (not shipped): each photo of a labelled folder encoded in 12 ways (5-point and
68-point alignment, chip padding 0.15/0.25/0.35, each with its mirror), to compare alignment
and test-time augmentation variants at FMR 0.1% (docs/face-calibration.md, "Alignment and crop
variants"). Resumable; the cache holds face encodings: keep it outside the repository.

    .venv/bin/python docs/face-calibration-tools/encode_variants.py ../shared/faces-calibration ../cache-faces/variants.pkl
    .venv/bin/python docs/face-calibration-tools/analyse_variants.py ../cache-faces/variants.pkl"""
import pickle
import sys
import time
from pathlib import Path

import dlib
import face_recognition_models
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from biometrics import faces, images

src, out = Path(sys.argv[1]), Path(sys.argv[2])
cache = pickle.loads(out.read_bytes()) if out.exists() else {}
m = faces.models()
sp68 = dlib.shape_predictor(face_recognition_models.pose_predictor_model_location())
people = sorted(p for p in src.iterdir() if p.is_dir())
t0 = time.time()
n = 0
for folder in people:
    for path in sorted(folder.iterdir()):
        key = f"{folder.name}/{path.name}"
        if key in cache:
            continue
        raw = path.read_bytes()
        try:
            data = images.stored_copy(raw, images.inspect(raw, max_pixels=40_000_000))
            array, info, scale = images.decode(data, max_pixels=40_000_000, long_side=faces.DECODE_LONG_SIDE)
        except images.ImageRejected:
            cache[key] = None
            continue
        found, _ = faces._detect(array, long_side=faces.DETECT_LONG_SIDE)
        if not found:
            cache[key] = None
            continue
        clear = [f for f in found if f.score >= faces.CLEAR_FACE_SCORE] or found
        main = max(clear, key=lambda f: f.prominence)
        top, right, bottom, left = main.box
        rect = dlib.rectangle(round(left), round(top), round(right), round(bottom))
        s5 = m.landmarks(array, rect)
        s68 = sp68(array, rect)
        chips = {}
        for name, shape in (("p5", s5), ("p68", s68)):
            for pad in (0.15, 0.25, 0.35):
                c = dlib.get_face_chip(array, shape, size=150, padding=pad)
                chips[f"{name}_{pad}"] = c
                chips[f"{name}_{pad}_m"] = np.ascontiguousarray(c[:, ::-1])
        names = list(chips)
        vecs = np.asarray(m.encoder.compute_face_descriptor([chips[k] for k in names]), dtype=np.float64)
        cache[key] = dict(zip(names, vecs))
        n += 1
        if n % 50 == 0:
            out.write_bytes(pickle.dumps(cache))
            print(n, round(time.time() - t0), flush=True)
out.write_bytes(pickle.dumps(cache))
print("done", n, round(time.time() - t0))
