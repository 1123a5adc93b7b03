#!/usr/bin/env python3
"""Load: how much one node holds. The production processes (gunicorn, Celery worker(s), one
beat) on a private PostgreSQL and Redis, production settings; N check-ins with 12-megapixel
JPEG selfies (the astronaut from scikit-image, upscaled into a phone-sized photo: a real face,
so scoring does real work) sent from C concurrent keep-alive connections; then it waits until
every check-in has its verdict. Prints ONE JSON line:

- API latency p50/p95/p99 over all requests and over those sent while the workers were
  saturated (scoring queue not empty), accepted/s, errors;
- scoring throughput: verdicts per second per worker process (one per core) over the scoring
  period, and verdicts per CPU-second of the worker processes (what a dedicated core would do);
- time from the first request to the last verdict; peak RSS of web and worker processes;
- each goal (no errors, p95 < 250 ms while saturated, >= 5 verdicts/s per worker core,
  worker RSS < 400 MB per process) with its ratio and whether it is met.

    .venv/bin/python bench/load.py [--checkins 1000] [--connections 32] [--worker-concurrency 2]
                                   [--worker-nice 10] [--web-processes 2] [--web-threads 4]

Exits 1 when a check-in is lost or judged twice (the goals are reported, not enforced: they
depend on the machine).
"""

import argparse
import asyncio
import json
import os
import sys
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import procs  # noqa: E402
from bench.faults.stack import Stack, multipart, percentile  # noqa: E402

GOALS = {"p95_ms": 250, "verdicts_per_s_per_core": 5.0, "worker_rss_mb": 400}


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return status, (await reader.readexactly(length) if length else b"")


async def send_all(*, port: int, tokens: list[str], bodies: list[bytes], boundary: str, total: int, connections: int) -> list[dict]:
    """`connections` keep-alive connections share `total` check-ins, one request at a time each."""
    results: list[dict] = []
    counter = iter(range(total))

    async def connection(number: int) -> None:
        reader = writer = None
        for index in counter:
            body = bodies[index % len(bodies)]
            head = (
                f"POST /api/v1/check-ins HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                f"Authorization: Token {tokens[index % len(tokens)]}\r\nIdempotency-Key: {uuid.uuid4()}\r\n"
                f"Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {len(body)}\r\n\r\n"
            ).encode()
            began = time.perf_counter()
            status, payload = 0, b""
            for attempt in range(2):
                fresh = writer is None
                try:
                    if fresh:
                        reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=2**20)
                    writer.write(head)
                    writer.write(body)
                    await writer.drain()
                    status, payload = await read_response(reader)
                    break
                except (OSError, asyncio.IncompleteReadError, ValueError):
                    if writer is not None:
                        writer.close()
                    reader = writer = None
                    if fresh or attempt:  # a kept-alive connection closed by gunicorn: once more
                        break
            results.append({"t": began, "s": time.perf_counter() - began, "status": status, "body": payload})
        if writer is not None:
            writer.close()

    await asyncio.gather(*(connection(n) for n in range(connections)))
    return results


class Sampler(threading.Thread):
    """Every 0.5 s: RSS of web and worker processes, scoring queue length, verdicts."""

    def __init__(self, web: procs.Proc, workers: list[procs.Proc], queue_length, judged):
        super().__init__(daemon=True)
        self.web, self.workers, self.queue_length, self.judged = web, workers, queue_length, judged
        self.stop_event = threading.Event()
        self.peak = {"web_total": 0.0, "web_process": 0.0, "worker_total": 0.0, "worker_process": 0.0}
        self.busy: list[tuple[float, float]] = []  # (from, to) perf_counter spans with a non-empty queue
        self.first_verdict_at: float | None = None
        self._busy_since = None

    def run(self) -> None:
        while not self.stop_event.is_set():
            web_pids = procs.tree(self.web.pid)
            worker_pids = [pid for w in self.workers for pid in procs.tree(w.pid)]
            web_rss = [procs.rss_mb(p) for p in web_pids]
            worker_rss = [procs.rss_mb(p) for p in worker_pids]
            self.peak["web_total"] = max(self.peak["web_total"], sum(web_rss))
            self.peak["web_process"] = max(self.peak["web_process"], max(web_rss, default=0))
            self.peak["worker_total"] = max(self.peak["worker_total"], sum(worker_rss))
            self.peak["worker_process"] = max(self.peak["worker_process"], max(worker_rss, default=0))
            now = time.perf_counter()
            queued = self.queue_length()
            if queued > 0 and self._busy_since is None:
                self._busy_since = now
            elif queued == 0 and self._busy_since is not None:
                self.busy.append((self._busy_since, now))
                self._busy_since = None
            if self.first_verdict_at is None and self.judged() > 0:
                self.first_verdict_at = now
            time.sleep(0.5)
        if self._busy_since is not None:
            self.busy.append((self._busy_since, time.perf_counter()))

    def saturated(self, t: float) -> bool:
        return any(start <= t <= end for start, end in self.busy) or (self._busy_since is not None and t >= self._busy_since)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkins", type=int, default=1000)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--clients", type=int, default=50, help="enrolled clients the check-ins are spread over")
    parser.add_argument("--selfies", type=int, default=12, help="distinct 12 MP selfies, sent in turn")
    parser.add_argument("--worker-concurrency", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--worker-nice", type=int, default=10, help="nice level of the worker (scoring yields the CPU to requests)")
    parser.add_argument("--web-processes", type=int, default=2)
    parser.add_argument("--web-threads", type=int, default=4)
    parser.add_argument("--timeout", type=float, default=3600, help="seconds to wait for the last verdict")
    args = parser.parse_args()

    stack = Stack("load").up()
    try:
        from bench.scoring import make_selfies

        setup_started = time.perf_counter()
        people = stack.enrol(args.clients)
        selfies = make_selfies(args.selfies, seed=7)
        boundary = "load-" + uuid.uuid4().hex
        captured_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        bodies = [multipart(selfie, captured_at, boundary) for selfie in selfies]
        web = stack.web(processes=args.web_processes, threads=args.web_threads)
        worker_argv = ["nice", "-n", str(args.worker_nice)] if args.worker_nice else []
        worker = procs.Proc(
            "worker",
            [*worker_argv, *procs.worker(stack.env, stack.log_path("worker"), concurrency=args.worker_concurrency).argv],
            env=stack.env,
            log_path=stack.log_path("worker"),
        ).start()
        stack.procs.append(worker)
        procs.wait_worker_ready(worker)
        stack.beat()
        setup_s = time.perf_counter() - setup_started

        import redis

        broker = redis.Redis.from_url(stack.env["CELERY_BROKER_URL"])
        from reportin.models import CheckIn

        ids: list[int] = []

        def judged_count() -> int:
            from django.db import connection

            with connection.cursor() as cursor:
                cursor.execute("SELECT count(*) FROM reportin_checkin WHERE status IN ('verified', 'needs_review', 'rejected')")
                return cursor.fetchone()[0]

        sampler = Sampler(web, [worker], lambda: broker.llen("scoring"), judged_count)
        cpu_before = procs.cpu_seconds(procs.tree(worker.pid))
        web_cpu_before = procs.cpu_seconds(procs.tree(web.pid))
        own_cpu_before = time.process_time()
        load_before = os.getloadavg()[0]
        sampler.start()
        started = time.perf_counter()
        results = asyncio.run(
            send_all(port=stack.port, tokens=[p.token for p in people], bodies=bodies, boundary=boundary, total=args.checkins, connections=args.connections)
        )
        sent_s = time.perf_counter() - started
        web_cpu_s = procs.cpu_seconds(procs.tree(web.pid)) - web_cpu_before
        load_generator_cpu_s = time.process_time() - own_cpu_before
        accepted = [r for r in results if r["status"] == 202]
        ids = [json.loads(r["body"])["id"] for r in accepted]
        deadline = time.perf_counter() + args.timeout
        while time.perf_counter() < deadline and stack.judged(ids) < len(ids):
            time.sleep(0.5)
        last_verdict_s = time.perf_counter() - started
        worker_cpu_s = procs.cpu_seconds(procs.tree(worker.pid)) - cpu_before
        sampler.stop_event.set()
        sampler.join(5)

        judged = stack.judged(ids)
        matches = stack.face_matches(ids)
        decisions: dict[str, int] = {}
        for decision in CheckIn.objects.filter(pk__in=ids).values_list("face_match__decision", flat=True):
            decisions[decision or "none"] = decisions.get(decision or "none", 0) + 1
        latencies = [r["s"] for r in results]
        saturated = [r["s"] for r in results if sampler.saturated(r["t"])]
        first_verdict = (sampler.first_verdict_at or started) - started
        scoring_s = max(0.001, last_verdict_s - first_verdict)
        per_core = judged / scoring_s / args.worker_concurrency
        per_cpu_s = judged / worker_cpu_s if worker_cpu_s else None

        def ms(values, p):
            value = percentile(values, p)
            return None if value is None else round(value * 1000, 1)

        errors = len(results) - len(accepted)
        p95_saturated = ms(saturated, 95)
        goals = {
            "no_errors": {"errors": errors, "met": errors == 0},
            "p95_under_250ms_while_saturated": {
                "p95_ms": p95_saturated, "ratio": round(p95_saturated / GOALS["p95_ms"], 2) if p95_saturated else None,
                "met": p95_saturated is not None and p95_saturated < GOALS["p95_ms"],
            },
            "verdicts_per_s_per_worker_core_at_least_5": {
                "wall": round(per_core, 2), "per_cpu_second": round(per_cpu_s, 2) if per_cpu_s else None,
                "ratio": round(per_core / GOALS["verdicts_per_s_per_core"], 2), "met": per_core >= GOALS["verdicts_per_s_per_core"],
            },
            "worker_rss_under_400mb": {
                "peak_process_mb": round(sampler.peak["worker_process"], 1),
                "ratio": round(sampler.peak["worker_process"] / GOALS["worker_rss_mb"], 2),
                "met": sampler.peak["worker_process"] < GOALS["worker_rss_mb"],
            },
        }
        result = {
            "bench": "load",
            "checkins": args.checkins,
            "connections": args.connections,
            "selfie_mb": round(sum(map(len, selfies)) / len(selfies) / 1e6, 2),
            "selfie": "3024x4032 JPEG q92",
            "cpus": os.cpu_count(),
            # Other work on the machine takes CPU from the workers (the wall-clock rate); the
            # rate per worker CPU-second is what a dedicated core does.
            "load_average_1min": {"before": round(load_before, 2), "after": round(os.getloadavg()[0], 2)},
            "web": f"gunicorn {args.web_processes} processes x {args.web_threads} threads",
            "worker": f"celery prefork concurrency {args.worker_concurrency}, nice {args.worker_nice}, prefetch 1, acks_late",
            "api_ms": {"p50": ms(latencies, 50), "p95": ms(latencies, 95), "p99": ms(latencies, 99), "max": ms(latencies, 100)},
            "api_ms_while_workers_saturated": {"requests": len(saturated), "p50": ms(saturated, 50), "p95": p95_saturated, "p99": ms(saturated, 99)},
            "accepted": len(accepted),
            "accepted_per_s": round(len(accepted) / sent_s, 1),
            "errors": errors,
            "statuses": {str(s): sum(r["status"] == s for r in results) for s in sorted({r["status"] for r in results})},
            "send_s": round(sent_s, 1),
            # CPU per request of the gunicorn processes (web workers recycled by max_requests
            # during the run are not counted), and of this load generator.
            "web_cpu_ms_per_request": round(web_cpu_s * 1000 / max(1, len(results)), 1),
            "load_generator_cpu_s": round(load_generator_cpu_s, 1),
            "judged": judged,
            "face_matches_per_checkin": sorted(set(matches.values())),
            "decisions": decisions,
            "first_verdict_s": round(first_verdict, 1),
            "last_verdict_s": round(last_verdict_s, 1),
            "verdicts_per_s": round(judged / scoring_s, 2),
            "verdicts_per_s_per_worker_core": round(per_core, 2),
            "worker_cpu_s": round(worker_cpu_s, 1),
            "verdicts_per_worker_cpu_s": round(per_cpu_s, 2) if per_cpu_s else None,
            "peak_rss_mb": {k: round(v, 1) for k, v in sampler.peak.items()},
            "goals": goals,
            "setup_s": round(setup_s, 1),
            "ok": judged == len(ids) and all(matches.get(pk) == 1 for pk in ids),
        }
        print(json.dumps(result))
        return 0 if result["ok"] else 1
    finally:
        stack.down()


if __name__ == "__main__":
    sys.exit(main())
