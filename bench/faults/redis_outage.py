#!/usr/bin/env python3
"""Fault: Redis (broker and request-rate counters) stops while phones keep checking in, and
comes back. The API must keep answering 202 and storing; once Redis is back, every check-in
is judged with no manual step (worker, beat and web reconnect by themselves; the reconciler
queues what was accepted while the broker was away) within the documented bound:

    bound after Redis returns = 60 s (a check-in counts as lost after a minute unqueued)
                                + 60 s (the reconciler runs every minute) + 30 s (reconnect)
                                + the time to score what is left

Private PostgreSQL and Redis (append-only file, as docker-compose.yml runs it), gunicorn,
worker, beat, production settings. Prints ONE JSON line; exits 1 when the promise breaks.

    .venv/bin/python bench/faults/redis_outage.py [--down 20] [--threads 4]
"""

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent.parent))

from bench.faults.stack import LoadLoop, Stack, emit, percentile  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", type=float, default=5.0, help="seconds of load before Redis stops")
    parser.add_argument("--down", type=float, default=20.0, help="seconds Redis stays stopped")
    parser.add_argument("--after", type=float, default=5.0, help="seconds of load after it returns")
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--pause", type=float, default=0.25, help="seconds each client waits between check-ins")
    args = parser.parse_args()

    stack = Stack("redis-outage").up()
    try:
        from tests import images

        people = stack.enrol(4)
        web = stack.web()
        worker = stack.worker()
        beat = stack.beat()
        pids = {proc.name: proc.pid for proc in (web, worker, beat)}
        selfies = [images.jpeg(images.astronaut_elsewhere(scale=0.8 + 0.05 * n, position=(200 + 10 * n, 30 + 5 * n)), quality=85) for n in range(4)]
        load = LoadLoop(stack.port, people, selfies, threads=args.threads, pause=args.pause).start()
        time.sleep(args.before)
        stopped_at = time.perf_counter()
        stack.redis.stop(remove=False)
        time.sleep(args.down)
        stack.redis.start()
        back_at = time.perf_counter()
        time.sleep(args.after)
        results = load.stop()

        during = [r for r in results if stopped_at <= r.started < back_at]
        accepted = [r for r in results if r.status == 202]
        errors = [r for r in results if r.status != 202]
        ids = [r.body["id"] for r in accepted]
        bound = 60 + 60 + 30 + len(ids)  # a second per check-in to score the backlog, generously
        waited = time.perf_counter() - back_at
        from bench.faults.stack import wait_judged

        more = wait_judged(stack, ids, timeout=bound + 60 - waited)
        all_judged_s = None if more is None else waited + more
        from reportin.models import CheckIn

        stored = CheckIn.objects.filter(pk__in=ids).count()
        matches = stack.face_matches(ids)
        alive = {proc.name: proc.running() and proc.pid == pids[proc.name] for proc in (web, worker, beat)}
        ok = (
            not errors
            and len(during) > 0
            and stored == len(ids)
            and all_judged_s is not None
            and all_judged_s <= bound
            and all(matches.get(pk) == 1 for pk in ids)
            and all(alive.values())
        )
        return emit({
            "fault": "redis_stopped_under_load",
            "redis_down_s": args.down,
            "requests": len(results),
            "requests_while_down": len(during),
            "accepted_while_down": sum(r.status == 202 for r in during),
            "accepted": len(accepted),
            "errors": len(errors),
            "error_samples": sorted({f"{r.status} {r.error or (r.body or {}).get('error', {}).get('code')}" for r in errors})[:5],
            "p95_ms_while_down": round(percentile([r.seconds for r in during], 95) * 1000, 1) if during else None,
            "stored": stored,
            "judged": stack.judged(ids),
            "face_matches_per_checkin": sorted(set(matches.values())),
            "all_judged_after_redis_back_s": None if all_judged_s is None else round(all_judged_s, 1),
            "bound_s": bound,
            "ratio_to_bound": None if all_judged_s is None else round(all_judged_s / bound, 2),
            "same_processes_running": alive,
            "ok": ok,
        })
    finally:
        stack.down()


if __name__ == "__main__":
    sys.exit(main())
