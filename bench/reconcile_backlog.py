#!/usr/bin/env python3
"""Recovery at national size (issue 16.6): how long the reconciler takes to queue again a
backlog that the broker lost, on PostgreSQL and Redis.

    .venv/bin/python bench/reconcile_backlog.py [--checkins 90000] [--server-url postgres://127.0.0.1:5432]
        [--broker redis://127.0.0.1:6379/3] [--keep]

The simulation of `bench/faults/redis_outage.py --down 1800 --rate 50` without its 30 minutes
of waiting: a 30-minute outage at 50 check-ins a second leaves 90,000 check-ins accepted and
stored but never queued (Redis came back without them). They are loaded by COPY into a
database of their own (`reportin_bench_reconcile`), the scoring queue is emptied, and the
real beat job `reportin.tasks.checkins_reconcile` runs as beat would start it, once a minute
(the minute between two runs is counted, not waited), until every check-in is queued. Then
the scoring queue must hold each of them exactly once.

Goal: everything queued within 5 minutes of Redis returning (the first run comes up to a
minute after, the broker reconnect is within 30 s). The old reconciler queued at most 1,000 a
minute: 90 minutes for this backlog. Prints ONE JSON line.
"""

import argparse
import json
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

GOAL_S = 300.0
OLD_CAP_PER_MINUTE = 1000
DATABASE = "reportin_bench_reconcile"


def log(message: str) -> None:
    print(f"[reconcile bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _distinct_checkins(broker: str) -> int:
    """The check-ins named by the messages in the scoring queue (each must be there once)."""
    import base64

    import redis

    client = redis.Redis.from_url(broker)
    ids = set()
    for raw in client.lrange("scoring", 0, -1):
        message = json.loads(raw)
        args, _, _ = json.loads(base64.b64decode(message["body"]))
        ids.add(args[0])
    return len(ids)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkins", type=int, default=90_000)
    parser.add_argument("--server-url", default="postgres://127.0.0.1:5432")
    parser.add_argument("--broker", default="redis://127.0.0.1:6379/3")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()

    import psycopg

    with psycopg.connect(f"{args.server_url}/postgres", autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {DATABASE}")
        admin.execute(f"CREATE DATABASE {DATABASE}")
    os.environ["DATABASE_URL"] = f"{args.server_url}/{DATABASE}"
    os.environ["CELERY_BROKER_URL"] = args.broker
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.test_settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    try:
        log("migrating")
        call_command("migrate", verbosity=0)
        from tests import factories

        client = factories.client()
        _, device = factories.device(client)
        log(f"loading {args.checkins} check-ins accepted during the outage")
        now = datetime.now(UTC)
        started = now - timedelta(minutes=31)
        with connection.cursor() as cursor:
            with cursor.cursor.copy(
                "COPY reportin_checkin (client_id, device_id, selfie, selfie_sha256, selfie_phash, selfie_format, latitude, "
                "longitude, accuracy_m, captured_at, received_at, idempotency_key, request_fingerprint, reported_address, "
                "reported_employment, reported_family_status, status, location_result, scoring_attempts, scoring_task_id, "
                "capture_mode, updated_at) FROM STDIN"
            ) as copy:
                for i in range(args.checkins):
                    at = started + timedelta(seconds=1800 * i / args.checkins)
                    copy.write_row((
                        client.pk, device.pk, f"selfies/{i}.img", "", "", "jpeg", 43.65, -79.38, 10.0, at, at,
                        f"outage-{i}", "0" * 64, "", "", "", "received", "not_checked", 0, "", "single_selfie", at,
                    ))
            cursor.execute("ANALYZE reportin_checkin")

        from config.celery import app
        from reportin import tasks

        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=3)
            channel = conn.default_channel
            channel.queue_declare(queue="scoring", durable=True)
            channel.queue_purge("scoring")  # Redis came back without the messages

            def queued() -> int:
                return channel.queue_declare(queue="scoring", passive=True).message_count

            runs, busy, per_run = 0, 0.0, []
            while True:
                began = time.monotonic()
                count = tasks.checkins_reconcile()
                took = time.monotonic() - began
                runs += 1
                busy += took
                per_run.append({"queued": count, "seconds": round(took, 2)})
                log(f"run {runs}: queued {count} in {took:.1f} s")
                if count == 0 or runs > 30:
                    break
            in_queue = queued()
            distinct = _distinct_checkins(args.broker)
            channel.queue_purge("scoring")
        # Beat starts a run every minute; the last run found nothing left (it is not counted).
        # The first run comes at most a minute after Redis is back.
        working_runs = runs - 1
        requeued_s = 60.0 + 60.0 * max(0, working_runs - 1) + (per_run[working_runs - 1]["seconds"] if working_runs else 0.0)
        ok = in_queue == distinct == args.checkins and requeued_s <= GOAL_S
        print(json.dumps({
            "bench": "reconcile_backlog",
            "checkins": args.checkins,
            "runs_needed": working_runs,
            "per_run": per_run,
            "publishing_s": round(busy, 2),
            "publish_rate_per_s": round(args.checkins / busy, 1) if busy else None,
            "in_scoring_queue": in_queue,
            "distinct_checkins_in_queue": distinct,
            "requeued_within_s_of_redis_returning": round(requeued_s, 1),
            "goal_s": GOAL_S,
            "ratio_to_goal": round(requeued_s / GOAL_S, 3),
            "old_reconciler_s": args.checkins / OLD_CAP_PER_MINUTE * 60,
            "ratio_to_old": round(requeued_s / (args.checkins / OLD_CAP_PER_MINUTE * 60), 4),
            "ok": ok,
        }))
        return 0 if ok else 1
    finally:
        connection.close()
        if not args.keep:
            with psycopg.connect(f"{args.server_url}/postgres", autocommit=True) as admin:
                admin.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")


if __name__ == "__main__":
    sys.exit(main())
