#!/usr/bin/env python3
"""Reminder fan-out at national scale: N due reminders sent by SMS through the notify queue.

    .venv/bin/python bench/notify_fanout.py [--count 500000] [--workers 2] [--latency 0.05] [--no-kill]

On PostgreSQL (--database-url, default postgres://127.0.0.1:5432/reportin_channel_bench,
created and migrated if missing, emptied of clients first) and Redis (--redis-url, default
redis://127.0.0.1:6379/8: the broker and the rate counters), it loads N clients who chose SMS,
each with an open reporting window and its due "window opened" reminder, by COPY. Then:

- a local GC Notify stand-in (tests/gcnotify.py, its own process) answers each send after
  --latency seconds (50 ms, a provider's realistic time), checks every JWT, and counts each
  reference it receives;
- --workers production notify workers (`celery worker -Q notify`) deliver, each with
  REPORTIN_NOTIFY_CONCURRENCY sends in flight;
- the dispatcher (enforcement.tasks.notifications_dispatch, what beat runs every minute) is
  run in this process, again and again, as beat would;
- unless --no-kill, when half are sent one worker is SIGKILLed (its whole process group) and
  a new one started: its claimed chunks come back through the lease (REPORTIN_NOTIFY_LEASE_S,
  set to --lease) and are sent after asking the stand-in whether it already has them.

Prints ONE JSON line: count, seconds until all were sent, the rate, the projected time for
500,000 at that rate, duplicates and distinct references counted at the sink, messages not
sent, and the ratio of the (projected) time to the 10-minute goal (below 1 is better).
"""

import argparse
import json
import os
import sys
import time
import urllib.request
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import procs  # noqa: E402

GOAL_S = 600.0
FULL = 500_000


def log(message: str) -> None:
    print(f"[notify bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def environment(args) -> dict:
    from tests.gcnotify import API_KEY, TEMPLATES

    env = dict(os.environ)
    env.update({
        "DJANGO_SETTINGS_MODULE": "config.test_settings",
        "DATABASE_URL": args.database_url,
        "CELERY_BROKER_URL": args.redis_url,
        "CACHE_URL": args.redis_url,
        "GC_NOTIFY_API_URL": f"http://127.0.0.1:{args.port}",
        "GC_NOTIFY_API_KEY": API_KEY,
        "GC_NOTIFY_SMS_TEMPLATE_EN": TEMPLATES["en"],
        "GC_NOTIFY_SMS_TEMPLATE_FR": TEMPLATES["fr"],
        "REPORTIN_NOTIFY_LEASE_S": str(args.lease),
        "REPORTIN_NOTIFY_CONCURRENCY": str(args.concurrency),
        "REPORTIN_RATE_SMS_PER_S": str(args.rate),
    })
    return env


def prepare_database(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as admin:
        if not admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            admin.execute(f'CREATE DATABASE "{name}"')


def load(count: int, now: datetime) -> None:
    from django.core.management import call_command
    from django.db import connection

    from enforcement.models import Region

    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE enforcement_notification, enforcement_contactchannel, enforcement_reportingwindow, "
            "enforcement_reportingcondition, enforcement_client CASCADE"
        )
    region = Region.objects.get(code="gta").pk
    client_columns = (
        "uci, given_name, family_name, date_of_birth, country_of_citizenship, preferred_language, region_id, time_zone, "
        "case_status, email, phone, address, employment, family_status, supervisor_attention, created_at, updated_at"
    )
    with connection.cursor() as cursor:
        with cursor.cursor.copy(f"COPY enforcement_client ({client_columns}) FROM STDIN") as copy:
            for i in range(count):
                copy.write_row((str(40_000_000 + i), "Bench", f"Client{i}", date(1980, 1, 1), "HT", ("en", "fr")[i % 2], region, "",
                                "monitored", "", "", "", "", "", False, now, now))
        cursor.execute("SELECT id FROM enforcement_client ORDER BY id")
        ids = [row[0] for row in cursor.fetchall()]
        with cursor.cursor.copy(
            "COPY enforcement_contactchannel (client_id, channel, address, push_endpoint, push_p256dh, push_auth, consent_text, "
            "consent_language, recorded_via, chosen_at) FROM STDIN"
        ) as copy:
            for i, client_id in enumerate(ids):
                copy.write_row((client_id, "sms", f"+1613{i:07d}", "", "", "", "I agree (bench).", "en", "app", now))
        with cursor.cursor.copy(
            "COPY enforcement_reportingcondition (client_id, method, schedule, weekdays, interval_days, window_start, window_minutes, grace_minutes, "
            "starts_on, active, single_selfie_allowed, created_at, updated_at) FROM STDIN"
        ) as copy:
            for client_id in ids:
                copy.write_row((client_id, "remote", "every_n_days", 0, 1, "09:00", 480, 60, date(2026, 1, 1), True, False, now, now))
        cursor.execute("SELECT id, client_id FROM enforcement_reportingcondition ORDER BY id")
        conditions = cursor.fetchall()
        opens, closes = now - timedelta(minutes=1), now + timedelta(hours=8)
        with cursor.cursor.copy(
            "COPY enforcement_reportingwindow (condition_id, client_id, opens_at, closes_at, deadline_at, status, excused_reason, "
            "created_at) FROM STDIN"
        ) as copy:
            for condition_id, client_id in conditions:
                copy.write_row((condition_id, client_id, opens, closes, closes + timedelta(hours=1), "open", "", now))
        cursor.execute(
            "INSERT INTO enforcement_notification (client_id, window_id, kind, channel, status, send_after, attempts, "
            "provider_reference, last_error, created_at) "
            "SELECT client_id, id, 'window_opened', 'sms', 'pending', opens_at, 0, '', '', %s FROM enforcement_reportingwindow",
            [now],
        )
        cursor.execute("ANALYZE")


def machine_busy_s() -> float:
    """CPU seconds the whole machine spent busy (all cores, every process) since boot."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def postgres_cpu_s() -> float:
    """CPU seconds of PostgreSQL on this machine: its server process with the backends it has
    reaped, plus those still running (0 where the server is not local)."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        name, rest = text.split("(", 1)[1].rsplit(")", 1)
        fields = rest.split()
        if name not in ("postgres", "postmaster") and not name.startswith("postgres"):
            continue
        own = int(fields[11]) + int(fields[12])
        reaped = int(fields[13]) + int(fields[14]) if _is_postmaster(fields) else 0
        total += own + reaped
    return total / os.sysconf("SC_CLK_TCK")


def _is_postmaster(fields: list[str]) -> bool:
    # The server's parent is not a postgres process: its children's CPU, once they end, lands
    # in its cutime/cstime.
    try:
        parent = Path(f"/proc/{fields[1]}/stat").read_text().split("(", 1)[1].rsplit(")", 1)[0]
    except OSError:
        return True
    return not parent.startswith("postgres")


def stats(port: int) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/_standin/stats", timeout=30) as response:
        return json.loads(response.read())


def counts() -> dict:
    from django.db.models import Count

    from enforcement.models import Notification

    return dict(Notification.objects.values_list("status").annotate(n=Count("id")))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=FULL)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=48, help="sends in flight per worker process")
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--rate", type=int, default=0, help="GC Notify sends per second (0: no limit)")
    parser.add_argument("--lease", type=int, default=30)
    parser.add_argument("--port", type=int, default=18500)
    parser.add_argument("--no-kill", action="store_true")
    parser.add_argument("--database-url", default="postgres://127.0.0.1:5432/reportin_channel_bench")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/8")
    parser.add_argument("--timeout", type=float, default=3600)
    args = parser.parse_args()

    env = environment(args)
    os.environ.update(env)
    prepare_database(args.database_url)
    import django

    django.setup()
    from config.celery import app
    from enforcement import tasks

    now = datetime.now(UTC)
    log(f"loading {args.count} clients with a due SMS reminder")
    load(args.count, now)
    from django.db import connection

    connection.close()
    app.control.purge()

    tmp = Path(os.environ.get("TMPDIR", "/tmp")) / f"notify-bench-{os.getpid()}"
    tmp.mkdir(parents=True, exist_ok=True)
    sink = procs.Proc("gcnotify", [sys.executable, "-m", "tests.gcnotify", "--port", str(args.port), "--latency", str(args.latency)],
                      env=env, log_path=tmp / "gcnotify.log").start()
    procs.wait_until(lambda: procs.port_open(args.port), timeout=30, what="the GC Notify stand-in")
    workers = []
    for number in range(args.workers):
        worker = procs.worker(env, tmp / f"notify-{number}.log", queues="notify", concurrency=1, name=f"notify{number}")
        workers.append(worker.start())
    for worker in workers:
        procs.wait_worker_ready(worker)

    cpu: dict[int, float] = {}
    role: dict[int, str] = {}

    def sample_cpu() -> None:
        # Per process, the last reading: a killed worker's CPU stays counted.
        for proc in [sink, *workers]:
            if proc.running():
                for pid in procs.tree(proc.pid):
                    cpu[pid] = max(cpu.get(pid, 0.0), procs.cpu_seconds([pid]))
                    role[pid] = "standin" if proc is sink else "workers"

    log("sending")
    machine_before, postgres_before = machine_busy_s(), postgres_cpu_s()
    self_cpu_before = sum(os.times()[:2])
    started = time.monotonic()
    killed_at = None
    deadline = started + args.timeout
    while time.monotonic() < deadline:
        tasks.notifications_dispatch(budget_s=5.0)
        sample_cpu()
        done = counts()
        sent = done.get("sent", 0)
        if not args.no_kill and killed_at is None and sent >= args.count // 2:
            sample_cpu()
            victim = workers[0]
            log(f"{sent} sent: killing {victim.name} (SIGKILL, whole group) and starting a new worker")
            victim.kill()
            killed_at = time.monotonic() - started
            replacement = procs.worker(env, tmp / "notify-new.log", queues="notify", concurrency=1, name="notifynew").start()
            procs.wait_worker_ready(replacement)
            workers[0] = replacement
        if sent + done.get("cancelled", 0) + done.get("failed", 0) >= args.count:
            break
        log(f"{done}")
    elapsed = time.monotonic() - started
    sample_cpu()
    dispatcher_cpu = sum(os.times()[:2]) - self_cpu_before
    machine_cpu, postgres_cpu = machine_busy_s() - machine_before, postgres_cpu_s() - postgres_before
    done = counts()
    at_sink = stats(args.port)
    for worker in workers:
        worker.stop()
    sink.stop()
    connection.close()

    sent = done.get("sent", 0)
    rate = sent / elapsed if elapsed else 0.0
    projected = FULL / rate if rate else None
    result = {
        "benchmark": "notify_fanout",
        "count": args.count,
        "workers": args.workers,
        "sends_in_flight_per_worker": args.concurrency,
        "provider_latency_s": args.latency,
        "all_sent_s": round(elapsed, 1),
        "sent_per_s": round(rate, 1),
        "projected_500k_s": round(projected, 1) if projected else None,
        "sent": sent,
        "not_sent": args.count - sent,
        "status_counts": done,
        "sink_accepted": at_sink["accepted"],
        "sink_distinct": at_sink["distinct"],
        "sink_duplicates": at_sink["duplicates"],
        "provider_lookups_after_crash": at_sink["lookups"],
        # CPU of the notify workers, the stand-in and the dispatcher per message sent (PostgreSQL's
        # and Redis's own CPU not counted): on a loaded, shared machine the wall-clock rate says
        # little; this says what the work costs.
        "cpu_ms_per_message": round(1000 * (sum(cpu.values()) + dispatcher_cpu) / sent, 3) if sent else None,
        # Where it goes, per message: our processes one by one, PostgreSQL (its server and every
        # backend, ended ones included), and the whole machine (everything that ran meanwhile).
        "cpu_ms_per_message_by_part": {
            part: round(1000 * seconds / sent, 3) if sent else None
            for part, seconds in {
                "workers": sum(v for pid, v in cpu.items() if role.get(pid) == "workers"),
                "standin": sum(v for pid, v in cpu.items() if role.get(pid) == "standin"),
                "dispatcher": dispatcher_cpu,
                "postgres": postgres_cpu,
                "machine": machine_cpu,
            }.items()
        },
        "load_average_1m": os.getloadavg()[0],
        "worker_killed_at_s": round(killed_at, 1) if killed_at is not None else None,
        "goal_s": GOAL_S,
        "ratio_to_goal": round((projected if args.count < FULL else elapsed) / GOAL_S, 3) if rate else None,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
