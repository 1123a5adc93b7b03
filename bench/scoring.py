"""Benchmark: scoring 12-megapixel phone selfies, our pipeline against the naive path.

    .venv/bin/python bench/scoring.py [--selfies 24] [--naive 4] [--seed 1]

Makes phone-sized selfies at run time (3024x4032 JPEG, quality 92, mild sensor noise) from the
astronaut portrait that ships with scikit-image: her head and shoulders at a random size (face
18-28% of the long side, as at arm's length), position and background. Each path runs in its
own process pinned to one core (single-threaded BLAS/OpenMP), after a warm-up:

- ours:  biometrics.faces.analyse(bytes): the production pipeline (reduced-scale decode,
         detection on a small grey copy, 5-point landmarks, one encoding);
- naive: face_recognition.load_image_file + face_locations + face_encodings at full size
         (the library's defaults: one upsampling step, HOG).

Prints ONE JSON line: median and p95 ms per selfie for both, their ratio (naive / ours),
where our time goes (median ms per stage: decode, detect, align, encode), the peak RSS of
each process, and how many selfies each path found exactly one face in.
"""

import argparse
import io
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SIZE = (3024, 4032)  # portrait 12 MP, as phones store it
MAX_PIXELS = 40_000_000


def make_selfies(count: int, seed: int) -> list[bytes]:
    import numpy as np
    from PIL import Image
    from skimage import data

    rng = np.random.default_rng(seed)
    portrait = Image.fromarray(data.astronaut()[0:330, 60:420])  # head and shoulders, face ~25% of the width
    selfies = []
    for _ in range(count):
        # Background: a smooth random gradient, like an out-of-focus room.
        top, bottom = rng.integers(40, 220, 3), rng.integers(40, 220, 3)
        ramp = np.linspace(0, 1, SIZE[1])[:, None, None]
        canvas = ((top * (1 - ramp) + bottom * ramp) * np.ones((SIZE[1], SIZE[0], 3))).astype(np.float32)
        face_share = rng.uniform(0.18, 0.28)  # face width / long side
        width = round(face_share * SIZE[1] / 0.25)
        head = np.asarray(portrait.resize((width, round(width * portrait.height / portrait.width)), Image.Resampling.BICUBIC), dtype=np.float64)
        x = int(rng.integers(0, max(1, SIZE[0] - width // 2))) - width // 4
        y = int(rng.integers(SIZE[1] // 10, SIZE[1] // 3))
        x0, y0 = max(0, x), max(0, y)
        x1, y1 = min(SIZE[0], x + head.shape[1]), min(SIZE[1], y + head.shape[0])
        canvas[y0:y1, x0:x1] = head[y0 - y : y1 - y, x0 - x : x1 - x]
        canvas += rng.normal(0, 3, canvas.shape).astype(np.float32)  # sensor noise: phone JPEGs are never smooth
        buffer = io.BytesIO()
        Image.fromarray(np.clip(canvas, 0, 255).astype(np.uint8)).save(buffer, "JPEG", quality=92)
        selfies.append(buffer.getvalue())
    return selfies


def run_child(path: str, folder: Path, count: int) -> dict:
    """Time one path in this process (pinned to one core by the parent) on the first `count`
    selfies of the folder, so that making them does not count in this process's memory."""
    sys.path.insert(0, str(ROOT))
    selfies = [p.read_bytes() for p in sorted(folder.glob("*.jpg"))[:count]]
    stages: dict[str, list[float]] = {}
    if path == "ours":
        from biometrics import faces

        def score(data: bytes) -> int:
            analysis = faces.analyse(data, max_pixels=MAX_PIXELS)
            for stage, ms in analysis.detail["stage_ms"].items():
                stages.setdefault(stage, []).append(ms)
            return 1 if analysis.outcome == faces.Outcome.OK else 0
    else:
        import face_recognition

        def score(data: bytes) -> int:
            image = face_recognition.load_image_file(io.BytesIO(data))
            boxes = face_recognition.face_locations(image)
            encodings = face_recognition.face_encodings(image, boxes)
            return 1 if len(encodings) == 1 else 0

    score(selfies[0])  # warm-up: loads the models
    stages.clear()
    timings, found = [], 0
    for data in selfies:
        started = time.perf_counter()
        found += score(data)
        timings.append((time.perf_counter() - started) * 1000)
    return {
        "selfies": len(selfies),
        "one_face_found": found,
        "ms_median": round(statistics.median(timings), 1),
        "ms_p95": round(sorted(timings)[min(len(timings) - 1, round(0.95 * (len(timings) - 1)))], 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "stage_ms_median": {stage: round(statistics.median(values), 1) for stage, values in stages.items()},
    }


def spawn(path: str, folder: Path, count: int, cpu: int) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    command = [sys.executable, __file__, "--child", path, "--folder", str(folder), "--selfies", str(count)]
    result = subprocess.run(
        command, env=env, capture_output=True, text=True, check=True, preexec_fn=lambda: os.sched_setaffinity(0, {cpu})
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--selfies", type=int, default=24, help="selfies scored by our pipeline")
    parser.add_argument("--naive", type=int, default=4, help="selfies scored by the naive path (several seconds each)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--child", choices=["ours", "naive"], help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_child(args.child, args.folder, args.selfies)))
        return
    cpu = sorted(os.sched_getaffinity(0))[-1]
    with tempfile.TemporaryDirectory() as folder:
        for index, data in enumerate(make_selfies(max(args.selfies, args.naive), args.seed)):
            (Path(folder) / f"{index:03d}.jpg").write_bytes(data)
        ours = spawn("ours", Path(folder), args.selfies, cpu)
        naive = spawn("naive", Path(folder), args.naive, cpu)
    print(json.dumps({
        "benchmark": "scoring",
        "selfie": f"{SIZE[0]}x{SIZE[1]} JPEG q92",
        "cores": 1,
        "ours_ms_median": ours["ms_median"],
        "ours_ms_p95": ours["ms_p95"],
        "naive_ms_median": naive["ms_median"],
        "naive_ms_p95": naive["ms_p95"],
        "speedup_median": round(naive["ms_median"] / ours["ms_median"], 1),
        "ours_stage_ms_median": ours["stage_ms_median"],
        "ours_peak_rss_mb": ours["peak_rss_mb"],
        "naive_peak_rss_mb": naive["peak_rss_mb"],
        "ours_selfies": ours["selfies"],
        "ours_one_face_found": ours["one_face_found"],
        "naive_selfies": naive["selfies"],
        "naive_one_face_found": naive["one_face_found"],
    }))


if __name__ == "__main__":
    main()
