#!/usr/bin/env python3
"""Fault: the whole worker is killed (SIGKILL of every process: a crash, an OOM kill, a lost
host) while it holds check-ins, and started again. Every check-in accepted before the kill
must be judged, once, within the documented bound, counted from the kill:

    bound = max(120 s, visibility timeout + 10 s) + the time to score what is left

Two paths bring back what the dead worker held: the broker gives back its unacknowledged
messages after the visibility timeout (looked for every 10 s), and the reconciler re-queues a
check-in left `received` for a minute or whose claim (35 s) ran out, every minute: at most
2 minutes after the kill, whichever comes first. (The restore path was seen to miss a round
once in a few runs; the reconciler still held the bound.)

(README: Reliability). Private PostgreSQL and Redis, production settings, a real worker and
beat. Prints ONE JSON line; exits 1 when a check-in is lost, judged twice or late.

    .venv/bin/python bench/faults/worker_restart.py [--checkins 12] [--visibility-timeout 120]
"""

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent.parent))

from bench.faults.stack import Stack, emit  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkins", type=int, default=12)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--visibility-timeout", type=int, default=120, help="CELERY_VISIBILITY_TIMEOUT (production default 120)")
    parser.add_argument("--down", type=float, default=5.0, help="seconds between the kill and the restart")
    args = parser.parse_args()

    stack = Stack("worker-restart", visibility_timeout=args.visibility_timeout).up()
    try:
        from django.utils import timezone

        from bench.scoring import make_selfies
        from reportin import services

        people = stack.enrol(2)
        worker = stack.worker(concurrency=args.concurrency)
        stack.beat()
        selfies = make_selfies(min(args.checkins, 6), seed=3)  # 12 MP: each takes a while to score
        from reportin.models import Device

        ids = []
        for index in range(args.checkins):
            device = Device.objects.select_related("client").get(pk=people[index % len(people)].device_id)
            now = timezone.now()
            checkin, _ = services.checkin_submit(
                device=device, selfie=selfies[index % len(selfies)], latitude=43.65, longitude=-79.38, accuracy_m=10,
                captured_at=now, idempotency_key=f"restart-{index}", now=now,
            )
            ids.append(checkin.pk)
        from reportin.models import CheckIn

        # Kill once the worker is well into the queue: something judged, something being scored.
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if stack.judged(ids) >= 1 and CheckIn.objects.filter(pk__in=ids, status="scoring").exists():
                break
            time.sleep(0.01)
        worker.kill()
        killed_at = time.monotonic()
        states = dict.fromkeys(("received", "scoring", "verified", "needs_review"), 0)
        for status in CheckIn.objects.filter(pk__in=ids).values_list("status", flat=True):
            states[status] += 1
        time.sleep(args.down)
        restarted_at = time.monotonic()
        stack.worker(concurrency=args.concurrency, name="worker-restarted")
        bound = max(120, args.visibility_timeout + 10) + 3 * args.checkins
        while time.monotonic() - killed_at < bound + 60 and stack.judged(ids) < len(ids):
            time.sleep(0.5)
        all_judged_s = time.monotonic() - restarted_at
        since_kill_s = time.monotonic() - killed_at
        judged = stack.judged(ids)
        matches = stack.face_matches(ids)
        attempts = list(CheckIn.objects.filter(pk__in=ids).values_list("scoring_attempts", flat=True))
        ok = judged == len(ids) and all(matches.get(pk) == 1 for pk in ids) and since_kill_s <= bound
        return emit({
            "fault": "worker_killed_and_restarted",
            "checkins": len(ids),
            "at_kill": states,
            "down_s": args.down,
            "visibility_timeout_s": args.visibility_timeout,
            "judged": judged,
            "face_matches_per_checkin": sorted(set(matches.values())),
            "max_attempts": max(attempts),
            "all_judged_after_restart_s": round(all_judged_s, 1),
            "all_judged_since_kill_s": round(since_kill_s, 1),
            "bound_since_kill_s": bound,
            "ratio_to_bound": round(since_kill_s / bound, 2),
            "ok": ok,
        })
    finally:
        stack.down()


if __name__ == "__main__":
    sys.exit(main())
