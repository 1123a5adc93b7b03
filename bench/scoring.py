"""Benchmark: scoring phone selfies: our pipeline against the naive path, the decisions both
reach on real identities, and the whole verdict a worker gives.

    .venv/bin/python bench/scoring.py [--selfies 24] [--naive 4] [--identities 10] [--verdicts 12]
                                      [--faces ../shared/faces] [--seed 1]

Selfies are made at run time at a phone's weight: a portrait 3024x4032 JPEG at quality 92 of
3-5 MB (the sizes are printed), with sensor grain and a smooth background, the head and
shoulders at arm's-length size (face 18-28% of the long side). The face in them is an upscaled
small photo (the astronaut that ships with scikit-image, or a news photo of
../shared/faces): its detail is that of the small photo, its weight and pixel count a phone's.
Each part runs in its own process pinned to one core (single-threaded BLAS/OpenMP), warm:

1. speed, on astronaut selfies:
   - ours:  biometrics.faces.analyse(bytes): the production pipeline (reduced-scale decode,
            detection on a small grey copy, 5-point landmarks, one mirrored encoding);
   - naive: face_recognition.load_image_file + face_locations + face_encodings at full size
            (the library's defaults: one upsampling step, HOG);
2. decisions on real identities (needs ../shared/faces; without it the part is skipped and
   the JSON says why): for up to --identities people with two photos or more, the first photo
   is the reference and the second, placed in a phone selfie, the genuine probe; the next
   person's second photo, placed the same way, is an impostor probe. Both paths encode the
   reference and the probes and decide at the shipped threshold for one reference; the JSON
   counts the decisions that agree, each path's correct decisions, and the largest distance
   difference;
3. the whole verdict: a throwaway SQLite database in a temporary folder (migrated), one
   client with an enrolled reference, --verdicts check-ins submitted through
   reportin.services.checkin_submit (the selfie encrypted at rest) and scored one after the
   other by reportin.scoring.checkin_score (claim, decrypt, analyse, replay search among the
   client's earlier check-ins, compare, record, conclude), against faces.analyse alone on
   the same bytes: what the worker adds around the face engine.

Prints ONE JSON line with the figures of each part.
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
GRAIN = 8.0  # standard deviation of the sensor grain, in 8-bit levels
DEFAULT_FACES = ROOT.parent / "shared" / "faces"


def phone_selfie(portrait, rng, *, face_fraction: float) -> bytes:
    """A 12 MP phone-weight JPEG with `portrait` (a PIL image whose face is `face_fraction` of
    its width) placed at arm's-length size on a smooth background with sensor grain."""
    import numpy as np
    from PIL import Image

    top, bottom = rng.integers(40, 220, 3), rng.integers(40, 220, 3)
    ramp = np.linspace(0, 1, SIZE[1])[:, None, None]
    canvas = ((top * (1 - ramp) + bottom * ramp) * np.ones((SIZE[1], SIZE[0], 3))).astype(np.float32)
    face_share = rng.uniform(0.18, 0.28)  # face width / long side
    width = round(face_share * SIZE[1] / face_fraction)
    head = np.asarray(portrait.resize((width, round(width * portrait.height / portrait.width)), Image.Resampling.BICUBIC), dtype=np.float64)
    x = int(rng.integers(0, max(1, SIZE[0] - width // 2))) - width // 4
    y = int(rng.integers(SIZE[1] // 10, SIZE[1] // 3))
    x0, y0 = max(0, x), max(0, y)
    x1, y1 = min(SIZE[0], x + head.shape[1]), min(SIZE[1], y + head.shape[0])
    canvas[y0:y1, x0:x1] = head[y0 - y : y1 - y, x0 - x : x1 - x]
    # Sensor grain as a phone's small pixels record it: what makes its JPEGs 3-5 MB.
    canvas += rng.normal(0, GRAIN, canvas.shape).astype(np.float32)
    buffer = io.BytesIO()
    Image.fromarray(np.clip(canvas, 0, 255).astype(np.uint8)).save(buffer, "JPEG", quality=92)
    return buffer.getvalue()


def make_selfies(count: int, seed: int) -> list[bytes]:
    import numpy as np
    from PIL import Image
    from skimage import data

    rng = np.random.default_rng(seed)
    portrait = Image.fromarray(data.astronaut()[0:330, 60:420])  # head and shoulders, face ~25% of the width
    return [phone_selfie(portrait, rng, face_fraction=0.25) for _ in range(count)]


def people(folder: Path, limit: int) -> list[list[Path]]:
    """Up to `limit` people of a faces folder (one sub-folder each) with two photos or more."""
    found = []
    for person in sorted(p for p in folder.iterdir() if p.is_dir()):
        photos = sorted(p for p in person.iterdir() if p.suffix.lower() in {".jpg", ".jpeg", ".png"})
        if len(photos) >= 2:
            found.append(photos)
    return found[:limit]


def identities_child(folder: Path, limit: int, seed: int) -> dict:
    """Part 2, in this process: both paths' decisions on real identities."""
    import face_recognition
    import numpy as np
    from PIL import Image

    sys.path.insert(0, str(ROOT))
    from biometrics import calibration, faces

    threshold = calibration.threshold_for(calibration.load(calibration.DEFAULT_PATH).thresholds, 1)
    rng = np.random.default_rng(seed)
    group = people(folder, limit + 1)
    trials = []
    for index, photos in enumerate(group[:limit]):
        other = group[(index + 1) % len(group)]
        reference = photos[0].read_bytes()
        for kind, probe_path in (("genuine", photos[1]), ("impostor", other[1])):
            with Image.open(probe_path) as photo:
                probe = phone_selfie(photo.convert("RGB"), rng, face_fraction=0.4)
            ours_ref = faces.enrol(reference, max_pixels=MAX_PIXELS)
            ours_probe = faces.analyse(probe, max_pixels=MAX_PIXELS)
            naive_ref = face_recognition.face_encodings(face_recognition.load_image_file(io.BytesIO(reference)))
            naive_probe = face_recognition.face_encodings(face_recognition.load_image_file(io.BytesIO(probe)))
            ours = (
                float(np.linalg.norm(ours_ref.encoding - ours_probe.encoding))
                if ours_ref.encoding is not None and ours_probe.encoding is not None
                else None
            )
            naive = float(np.linalg.norm(naive_ref[0] - naive_probe[0])) if naive_ref and naive_probe else None
            trials.append({"kind": kind, "person": photos[0].parent.name, "probe_mb": round(len(probe) / 1e6, 2), "ours": ours, "naive": naive})

    def decided(distance):
        return None if distance is None else distance <= threshold

    both = [t for t in trials if t["ours"] is not None and t["naive"] is not None]
    return {
        "threshold": threshold,
        "trials": len(trials),
        "genuine": sum(t["kind"] == "genuine" for t in trials),
        "impostor": sum(t["kind"] == "impostor" for t in trials),
        "both_scored": len(both),
        "same_decision": sum(decided(t["ours"]) == decided(t["naive"]) for t in both),
        "ours_correct": sum(decided(t["ours"]) == (t["kind"] == "genuine") for t in trials if t["ours"] is not None),
        "naive_correct": sum(decided(t["naive"]) == (t["kind"] == "genuine") for t in trials if t["naive"] is not None),
        "ours_no_score": sum(t["ours"] is None for t in trials),
        "naive_no_score": sum(t["naive"] is None for t in trials),
        "max_distance_difference": round(max((abs(t["ours"] - t["naive"]) for t in both), default=0.0), 3),
        "probe_mb": [min(t["probe_mb"] for t in trials), max(t["probe_mb"] for t in trials)] if trials else [],
    }


def verdict_child(folder: Path, count: int) -> dict:
    """Part 3, in this process: the worker's whole verdict on a throwaway SQLite database."""
    import django

    sys.path.insert(0, str(ROOT))
    django.setup()
    from django.core.management import call_command
    from django.utils import timezone

    from biometrics import faces
    from reportin import scoring
    from reportin import services as reportin_services
    from reportin.models import FaceMatch
    from tests import factories

    call_command("migrate", verbosity=0)
    selfies = [p.read_bytes() for p in sorted(folder.glob("*.jpg"))[: count + 1]]
    person = factories.client()
    factories.condition(person)
    factories.reference_photo(person)
    factories.consent_both(person)
    _, device = factories.device(person)
    checkins = []
    for index, data in enumerate(selfies):
        checkin, _ = reportin_services.checkin_submit(
            device=device, selfie=data, latitude=43.65, longitude=-79.38, accuracy_m=10,
            captured_at=timezone.now(), idempotency_key=f"bench-{index}",
        )
        checkins.append((checkin.pk, data))
    scoring.checkin_score(checkin_id=checkins[0][0])  # warm-up: loads the models
    verdicts, engine = [], []
    for checkin_id, data in checkins[1:]:
        started = time.perf_counter()
        scoring.checkin_score(checkin_id=checkin_id)
        verdicts.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        faces.analyse(data, max_pixels=MAX_PIXELS)
        engine.append((time.perf_counter() - started) * 1000)
    decisions = {}
    for decision in FaceMatch.objects.values_list("decision", flat=True):
        decisions[decision] = decisions.get(decision, 0) + 1
    verdict, alone = statistics.median(verdicts), statistics.median(engine)
    return {
        "verdicts": len(verdicts),
        "verdict_ms_median": round(verdict, 1),
        "verdict_ms_p95": round(sorted(verdicts)[min(len(verdicts) - 1, round(0.95 * (len(verdicts) - 1)))], 1),
        "face_engine_alone_ms_median": round(alone, 1),
        "around_the_engine_ms_median": round(verdict - alone, 1),
        "decisions": decisions,
    }


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


def spawn(part: str, folder: Path, count: int, cpu: int, *, extra_env: dict | None = None, seed: int = 1) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1", **(extra_env or {}))
    command = [sys.executable, __file__, "--child", part, "--folder", str(folder), "--selfies", str(count), "--seed", str(seed)]
    result = subprocess.run(
        command, env=env, capture_output=True, text=True, preexec_fn=lambda: os.sched_setaffinity(0, {cpu})
    )
    if result.returncode != 0:
        sys.exit(f"part {part} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--selfies", type=int, default=24, help="selfies scored by our pipeline")
    parser.add_argument("--naive", type=int, default=4, help="selfies scored by the naive path (several seconds each)")
    parser.add_argument("--identities", type=int, default=10, help="people of --faces compared by both paths (0: skip)")
    parser.add_argument("--verdicts", type=int, default=12, help="check-ins given a whole verdict (0: skip)")
    parser.add_argument("--faces", type=Path, default=DEFAULT_FACES, help="a folder of people's photos, one sub-folder each")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--child", choices=["ours", "naive", "identities", "verdict"], help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child in ("ours", "naive"):
        print(json.dumps(run_child(args.child, args.folder, args.selfies)))
        return
    if args.child == "identities":
        print(json.dumps(identities_child(args.folder, args.selfies, args.seed)))
        return
    if args.child == "verdict":
        print(json.dumps(verdict_child(args.folder, args.selfies)))
        return
    cpu = sorted(os.sched_getaffinity(0))[-1]
    with tempfile.TemporaryDirectory() as folder:
        selfies = make_selfies(max(args.selfies, args.naive, args.verdicts + 1), args.seed)
        for index, data in enumerate(selfies):
            (Path(folder) / f"{index:03d}.jpg").write_bytes(data)
        ours = spawn("ours", Path(folder), args.selfies, cpu)
        naive = spawn("naive", Path(folder), args.naive, cpu)
        if args.identities and args.faces.is_dir():
            identities = spawn("identities", args.faces, args.identities, cpu, seed=args.seed)
        else:
            identities = {"skipped": f"no faces folder at {args.faces}" if args.identities else "--identities 0"}
        if args.verdicts:
            verdict = spawn(
                "verdict", Path(folder), args.verdicts, cpu,
                extra_env={"DJANGO_SETTINGS_MODULE": "config.test_settings", "REPORTIN_DATA_DIR": str(Path(folder) / "data"),
                           "DATABASE_URL": "", "CELERY_BROKER_URL": ""},
            )
        else:
            verdict = {"skipped": "--verdicts 0"}
    sizes = [len(data) / 1e6 for data in selfies]
    print(json.dumps({
        "benchmark": "scoring",
        "selfie": f"{SIZE[0]}x{SIZE[1]} JPEG q92",
        "selfie_mb": [round(min(sizes), 2), round(statistics.median(sizes), 2), round(max(sizes), 2)],
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
        "real_identities": identities,
        "whole_verdict": verdict,
    }))


if __name__ == "__main__":
    main()
