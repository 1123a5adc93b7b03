#!/usr/bin/env python3
"""Fault: PostgreSQL is restarted (stopped, down a while, started) while phones check in.
While it is down every request must fail cleanly: 503 `service_unavailable` in the API's
error shape with Retry-After, never a 500 or a dropped connection. Every check-in that got a
202 must exist afterwards and be judged, and web, worker and beat must recover by themselves
(same processes, no restart) within the documented bound after the database returns:

    bound = 60 s (unqueued check-ins count as lost after a minute) + 60 s (reconciler period)
            + 60 s (the scoring task's retry backoff) + the time to score what is left

Private PostgreSQL and Redis, gunicorn, worker, beat, production settings. Prints ONE JSON
line; exits 1 when the promise breaks.

    .venv/bin/python bench/faults/pg_restart.py [--down 10] [--mode fast|immediate]
"""

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent.parent))

from bench.faults.stack import LoadLoop, Stack, emit, percentile, wait_judged  # noqa: E402


def clean_503(result) -> bool:
    error = (result.body or {}).get("error") or {}
    return result.status == 503 and error.get("code") == "service_unavailable" and set(error) == {"code", "message", "fields"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", type=float, default=5.0)
    parser.add_argument("--down", type=float, default=10.0, help="seconds PostgreSQL stays stopped")
    parser.add_argument("--after", type=float, default=10.0)
    parser.add_argument("--mode", choices=["fast", "immediate"], default="fast", help="pg_ctl stop mode (immediate: a crash)")
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--pause", type=float, default=0.25)
    args = parser.parse_args()

    stack = Stack("pg-restart").up()
    try:
        from django.db import connections

        from tests import images

        people = stack.enrol(4)
        web = stack.web()
        worker = stack.worker()
        beat = stack.beat()
        pids = {proc.name: proc.pid for proc in (web, worker, beat)}
        selfies = [images.jpeg(images.astronaut_elsewhere(scale=0.8 + 0.05 * n, position=(200 + 10 * n, 30 + 5 * n)), quality=85) for n in range(4)]
        connections.close_all()
        load = LoadLoop(stack.port, people, selfies, threads=args.threads, pause=args.pause).start()
        time.sleep(args.before)
        stopped_at = time.perf_counter()
        stack.pg.stop_server(args.mode)
        time.sleep(args.down)
        stack.pg.start()
        back_at = time.perf_counter()
        time.sleep(args.after)
        results = load.stop()

        during = [r for r in results if stopped_at <= r.started < back_at]
        accepted = [r for r in results if r.status == 202]
        refused = [r for r in results if clean_503(r)]
        unclean = [r for r in results if r.status != 202 and not clean_503(r)]
        ids = [r.body["id"] for r in accepted]
        keys = [r.key for r in accepted]
        bound = 60 + 60 + 60 + len(ids)
        waited = time.perf_counter() - back_at
        more = wait_judged(stack, ids, timeout=bound + 60 - waited)
        all_judged_s = None if more is None else waited + more
        from reportin.models import CheckIn

        stored = CheckIn.objects.filter(pk__in=ids, idempotency_key__in=keys).count()
        matches = stack.face_matches(ids)
        alive = {proc.name: proc.running() and proc.pid == pids[proc.name] for proc in (web, worker, beat)}
        after_back = [r for r in results if r.started >= back_at + 2]
        ok = (
            not unclean
            and len(refused) > 0
            and stored == len(ids)
            and all_judged_s is not None
            and all_judged_s <= bound
            and all(matches.get(pk) == 1 for pk in ids)
            and all(alive.values())
            and after_back
            and all(r.status == 202 for r in after_back)
        )
        return emit({
            "fault": f"postgresql_restarted_under_load ({args.mode})",
            "pg_down_s": args.down,
            "requests": len(results),
            "requests_while_down": len(during),
            "accepted": len(accepted),
            "clean_503": len(refused),
            "unclean_errors": len(unclean),
            "unclean_samples": sorted({f"{r.status} {r.error or (r.body or {}).get('error', {}).get('code')}" for r in unclean})[:5],
            "p95_ms_while_down": round(percentile([r.seconds for r in during], 95) * 1000, 1) if during else None,
            "accepted_2s_after_back": f"{sum(r.status == 202 for r in after_back)}/{len(after_back)}",
            "stored_of_accepted": f"{stored}/{len(ids)}",
            "judged": stack.judged(ids),
            "face_matches_per_checkin": sorted(set(matches.values())),
            "all_judged_after_pg_back_s": None if all_judged_s is None else round(all_judged_s, 1),
            "bound_s": bound,
            "ratio_to_bound": None if all_judged_s is None else round(all_judged_s / bound, 2),
            "same_processes_running": alive,
            "ok": bool(ok),
        })
    finally:
        stack.down()


if __name__ == "__main__":
    sys.exit(main())
