"""Benchmark: memory of a real Celery worker scoring a stream of 12-megapixel selfies.

    .venv/bin/python bench/worker_memory.py [--selfies 40]

Sets up the embedded configuration in a temporary folder (SQLite, file-system broker, private
media), enrols one client with a reference photo, starts `celery -A config worker -Q scoring
--concurrency 1` as production does, submits the selfies of bench/scoring.py through
`checkin_submit` and samples the resident memory (RSS) of the worker's processes every 20 ms
until every check-in is scored. Prints ONE JSON line: peak RSS of the pool process that
scores and of the worker's main process, their sum, and the decisions.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.procs import children, rss_mb  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--selfies", type=int, default=40)
    parser.add_argument("--seed", type=int, default=2)
    args = parser.parse_args()

    data_dir = Path(tempfile.mkdtemp(prefix="reportin-bench-"))
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="config.settings", DJANGO_DEBUG="1", REPORTIN_DATA_DIR=str(data_dir), LOG_LEVEL="WARNING")
    env.pop("DATABASE_URL", None)
    env.pop("CELERY_BROKER_URL", None)
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from bench.scoring import make_selfies
    from enforcement import services
    from reportin.models import CheckIn
    from reportin.services import checkin_submit
    from tests import factories, images

    client = factories.client()
    factories.consent_both(client)
    services.reference_photo_add(client=client, data=images.jpeg(images.astronaut()), uploaded_by=None)
    _, device = factories.device(client)

    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", "scoring", "--concurrency", "1", "-l", "WARNING",
         "--without-gossip", "--without-mingle"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        from django.utils import timezone

        selfies = make_selfies(args.selfies, args.seed)
        ids = []
        for index, data in enumerate(selfies):
            checkin, _ = checkin_submit(
                device=device, selfie=data, latitude=43.65, longitude=-79.38, accuracy_m=10,
                captured_at=timezone.now(), idempotency_key=f"bench-{index}",
            )
            ids.append(checkin.pk)
        peak_pool = peak_main = peak_total = 0.0
        started = time.monotonic()
        while time.monotonic() - started < 600:
            pool = children(worker.pid)
            main_rss = rss_mb(worker.pid)
            pool_rss = max((rss_mb(pid) for pid in pool), default=0.0)
            peak_main, peak_pool = max(peak_main, main_rss), max(peak_pool, pool_rss)
            peak_total = max(peak_total, main_rss + sum(rss_mb(pid) for pid in pool))
            if not CheckIn.objects.filter(pk__in=ids, status__in=["received", "scoring"]).exists():
                break
            time.sleep(0.02)
        elapsed = time.monotonic() - started
        decisions = {}
        for decision in CheckIn.objects.filter(pk__in=ids).values_list("face_match__decision", flat=True):
            decisions[decision or "unscored"] = decisions.get(decision or "unscored", 0) + 1
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        shutil.rmtree(data_dir, ignore_errors=True)
    print(json.dumps({
        "benchmark": "worker_memory",
        "selfies": len(ids),
        "selfie": "3024x4032 JPEG q92",
        "pool_process_peak_rss_mb": round(peak_pool, 1),
        "main_process_peak_rss_mb": round(peak_main, 1),
        "worker_total_peak_rss_mb": round(peak_total, 1),
        "limit_mb": 400,
        "seconds": round(elapsed, 1),
        "decisions": decisions,
    }))


if __name__ == "__main__":
    main()
