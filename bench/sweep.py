#!/usr/bin/env python3
"""The compliance engine at national scale, on PostgreSQL.

    .venv/bin/python bench/sweep.py [--clients 500000] [--overdue 0.01] [--daily] [--keep]

Creates its own database (`reportin_bench_sweep` on the server of --server-url, default
postgres://127.0.0.1:5432), migrates it and loads N clients with active conditions by COPY
(a realistic mix of daily, weekly, every-3/14-days and monthly schedules across the seven
regions' time zones; --daily gives everyone a daily window, the worst case). Their windows
are created by the real materialiser two days before "now" with a 14-day horizon; the past
two days become history (most satisfied, the rest missed by a real sweep). Then, each in a
fresh process so that its peak memory is its own:

1. the minute sweep when --overdue of the clients (1%) have a window past its deadline,
   right after VACUUM,
2. the same sweep again (it must open nothing: the no-op sweep of most minutes),
3. the materialisation of the next day's windows for everyone, and the same run again (the
   pass over everyone that finds nothing to create, as later runs of the day do),
4. 1 and 2 again after a simulated day of traffic with autovacuum off on the windows and
   tasks tables (93% of each quarter-hour's windows satisfied, a real sweep every quarter
   hour), so that the index holds the dead entries of a day, as it does between two
   autovacuum runs on a live database.

Prints ONE JSON line with the figures, the goals and each figure's ratio to its goal (below
1 is better than the goal). The query plans of the sweep and the materialisation (PostgreSQL
auto_explain, from untimed runs on comparable data) go to --plans. The database is dropped
at the end unless --keep.
"""

import argparse
import json
import os
import random
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

GOALS = {
    "sweep_s": 1.0, "rerun_s": 0.01, "day_sweep_s": 1.0, "day_rerun_s": 0.01, "materialise_next_day_s": 60.0,
    "sweep_peak_rss_mb": 300.0,
}
TRAFFIC_STEP = timedelta(minutes=15)
NOW = datetime(2026, 5, 12, 15, 0, tzinfo=UTC)  # the benchmark's "now": a Tuesday afternoon
HISTORY = timedelta(days=2)

# region code: (share of clients, time zone override given to 1 client in 10 there, if any)
REGIONS = {
    "gta": (0.30, ""), "southern-ontario": (0.12, ""), "northern-ontario": (0.05, ""), "quebec": (0.20, ""),
    "atlantic": (0.06, "America/St_Johns"), "prairie": (0.12, "America/Regina"), "pacific": (0.15, ""),
}


def log(message: str) -> None:
    print(f"[sweep bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM: unlike ru_maxrss, not inherited from the
    parent that started it)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def django_setup(database_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.test_settings")
    import django

    django.setup()


# --- Loading ----------------------------------------------------------------------------------


def condition_row(rng: random.Random, client_id: int, daily: bool) -> tuple:
    pick = 0.0 if daily else rng.random()
    weekdays, interval, day_of_month = 0, None, None
    if pick < 0.35:
        schedule, interval = "every_n_days", 1
    elif pick < 0.75:
        schedule = "weekly"
        for day in rng.sample(range(7), rng.choice((1, 1, 2))):
            weekdays |= 1 << day
    elif pick < 0.85:
        schedule, interval = "every_n_days", 3
    elif pick < 0.90:
        schedule, interval = "every_n_days", 14
    else:
        schedule, day_of_month = "monthly", rng.randint(1, 31)
    start = clock_time(rng.randint(6, 19), rng.randint(0, 59))
    starts_on = NOW.date() - HISTORY - timedelta(days=rng.randint(0, 365))
    return (
        client_id, "remote", schedule, weekdays, interval, day_of_month, start, rng.choice((120, 240, 480, 720, 1440)),
        rng.choice((0, 30, 60, 120)), starts_on, True, False, NOW, NOW,
    )


def load(count: int, daily: bool) -> None:
    from django.db import connection

    from enforcement.models import Region

    rng = random.Random(20260512)
    regions = {r.code: r.pk for r in Region.objects.all()}
    codes, weights = zip(*((code, share) for code, (share, _) in REGIONS.items()), strict=True)
    client_columns = (
        "uci, given_name, family_name, date_of_birth, country_of_citizenship, preferred_language, region_id, time_zone, "
        "case_status, email, phone, address, employment, family_status, supervisor_attention, created_at, updated_at"
    )
    with connection.cursor() as cursor:
        with cursor.cursor.copy(f"COPY enforcement_client ({client_columns}) FROM STDIN") as copy:
            for i in range(count):
                code = rng.choices(codes, weights)[0]
                override = REGIONS[code][1] if rng.random() < 0.1 else ""
                copy.write_row((
                    str(30_000_000 + i), "Bench", f"Client{i}", date(1960, 1, 1) + timedelta(days=rng.randint(0, 15000)),
                    "HT", rng.choice(("en", "fr")), regions[code], override, "monitored",
                    f"client{i}@example.org", "", "", "", "", False, NOW, NOW,
                ))
        cursor.execute("SELECT id FROM enforcement_client ORDER BY id")
        ids = [row[0] for row in cursor.fetchall()]
        condition_columns = (
            "client_id, method, schedule, weekdays, interval_days, day_of_month, window_start, window_minutes, "
            "grace_minutes, starts_on, active, single_selfie_allowed, created_at, updated_at"
        )
        with cursor.cursor.copy(f"COPY enforcement_reportingcondition ({condition_columns}) FROM STDIN") as copy:
            for client_id in ids:
                copy.write_row(condition_row(rng, client_id, daily))
        cursor.execute("ANALYZE")


def make_history(now: datetime) -> None:
    """Windows whose deadline is before `now`: 92% satisfied, 1% excused, and the rest left
    for a real sweep to mark missed (with their tasks), as the minute sweep would have."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE enforcement_reportingwindow SET
                status = CASE WHEN r < 0.92 THEN 'satisfied' ELSE 'excused' END,
                satisfied_at = CASE WHEN r < 0.92 THEN opens_at + interval '1 minute' END,
                satisfied_by_checkin_id = CASE WHEN r < 0.92 THEN id END,
                excused_at = CASE WHEN r >= 0.92 THEN closes_at END,
                excused_reason = CASE WHEN r >= 0.92 THEN 'bench' ELSE '' END
            FROM (SELECT id AS wid, random() AS r FROM enforcement_reportingwindow WHERE deadline_at < %s) pick
            WHERE id = pick.wid AND pick.r < 0.93
            """,
            [now],
        )


def day_of_traffic(start: datetime) -> datetime:
    """A day of check-ins and sweeps from `start`, without vacuum: every quarter hour, 93% of
    the windows whose deadline falls in it are satisfied (as verified check-ins do), then the
    real sweep runs. Returns the instant of the last sweep."""
    from django.db import connection

    from enforcement import services

    with connection.cursor() as cursor:
        for table in ("enforcement_reportingwindow", "enforcement_investigationtask", "enforcement_tasknote"):
            cursor.execute(f"ALTER TABLE {table} SET (autovacuum_enabled = false)")
    at = start
    while at < start + timedelta(days=1):
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE enforcement_reportingwindow SET status = 'satisfied', satisfied_at = opens_at + interval '1 minute', "
                "satisfied_by_checkin_id = id WHERE status = 'open' AND deadline_at >= %s AND deadline_at < %s AND random() < 0.93",
                [at, at + TRAFFIC_STEP],
            )
        at += TRAFFIC_STEP
        services.windows_sweep(now=at)
    return at


def dead_tuples(table: str) -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_force_next_flush()")
        cursor.execute("SELECT n_dead_tup FROM pg_stat_user_tables WHERE relname = %s", [table])
        return cursor.fetchone()[0]


def sweep_time_for(overdue: int, after: datetime) -> datetime:
    """The instant just after the deadline of the `overdue`-th open window (counted from
    `after`): a sweep then finds that many windows past their deadline (a few more when
    deadlines tie)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT deadline_at FROM enforcement_reportingwindow WHERE status = 'open' AND deadline_at >= %s "
            "ORDER BY deadline_at OFFSET %s LIMIT 1",
            [after, overdue - 1],
        )
        return cursor.fetchone()[0] + timedelta(microseconds=1)


# --- The measured runs, each in its own process -------------------------------------------------


def child(args) -> dict:
    django_setup(args.database_url)
    from django.db import connection

    from enforcement import compliance, services

    connection.ensure_connection()
    now = datetime.fromisoformat(args.now)
    if args.child == "sweep":
        started = time.perf_counter()
        tasks = services.windows_sweep(now=now)
        sweep_s = time.perf_counter() - started
        started = time.perf_counter()
        again = services.windows_sweep(now=now)
        rerun_s = time.perf_counter() - started
        return {"sweep_s": sweep_s, "sweep_tasks": tasks, "rerun_s": rerun_s, "rerun_tasks": again, "peak_rss_mb": peak_rss_mb()}
    until = datetime.fromisoformat(args.until)
    started = time.perf_counter()
    created = compliance.materialise(now=now, until=until, closing_reminder=timedelta(hours=2))
    materialise_s = time.perf_counter() - started
    started = time.perf_counter()  # a later run the same day: the pass over everyone, nothing to create
    again = compliance.materialise(now=now, until=until, closing_reminder=timedelta(hours=2))
    return {
        "materialise_s": materialise_s, "windows": created, "rerun_s": time.perf_counter() - started, "rerun_windows": again,
        "peak_rss_mb": peak_rss_mb(),
    }


def run_child(args, kind: str, now: datetime, until: datetime | None = None) -> dict:
    command = [sys.executable, __file__, "--child", kind, "--database-url", args.database_url, "--now", now.isoformat()]
    if until is not None:
        command += ["--until", until.isoformat()]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SystemExit(f"{kind} run failed:\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def explained(run) -> list[str]:
    """Run `run()` with auto_explain on and collect the plans of its statements (ANALYZE,
    BUFFERS). The figures in them are from this untimed run, with explain's own overhead."""
    from django.db import connection

    plans: list[str] = []
    connection.ensure_connection()
    raw = connection.connection
    raw.add_notice_handler(lambda diag: plans.append(diag.message_primary or ""))
    with connection.cursor() as cursor:
        cursor.execute("LOAD 'auto_explain'")
        for setting in ("log_min_duration = 0", "log_analyze = on", "log_buffers = on"):
            cursor.execute(f"SET auto_explain.{setting}")
        cursor.execute("SET client_min_messages = log")
    try:
        run()
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SET client_min_messages = notice")
            cursor.execute("SET auto_explain.log_min_duration = -1")
    # One plan per statement: materialisation repeats the same statements chunk after chunk.
    unique = {}
    for plan in plans:
        head, _, rest = plan.partition("Query Text:")
        text, _, tree = rest.strip().partition("\n")
        # Leave out transaction control and the foreign-key checks' own tiny lookups.
        if not rest or text.startswith(("BEGIN", "COMMIT", "SET", "CREATE", "DROP", "COPY", "SELECT 1 FROM ONLY")):
            continue
        if text.startswith("WITH") or text.startswith("\n"):  # multi-line statements: keep them whole
            unique.setdefault(rest[:80], plan)
        else:
            unique.setdefault(text[:80], f"{head}Query Text: {text[:400]}{' ...' if len(text) > 400 else ''}\n{tree}")
    return list(unique.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=500_000)
    parser.add_argument("--overdue", type=float, default=0.01, help="share of clients with a window past its deadline")
    parser.add_argument("--daily", action="store_true", help="everyone reports daily (the largest materialisation)")
    parser.add_argument("--server-url", default=os.environ.get("BENCH_POSTGRES_URL", "postgres://127.0.0.1:5432"))
    parser.add_argument("--database", default="reportin_bench_sweep")
    parser.add_argument("--plans", default=str(ROOT / "bench" / "out" / "sweep-plans.txt"))
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--child", choices=["sweep", "materialise"], help=argparse.SUPPRESS)
    parser.add_argument("--database-url", help=argparse.SUPPRESS)
    parser.add_argument("--now", help=argparse.SUPPRESS)
    parser.add_argument("--until", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args)))
        return

    import psycopg

    args.database_url = f"{args.server_url.rstrip('/')}/{args.database}"
    admin_url = f"{args.server_url.rstrip('/')}/postgres"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{args.database}"')
    try:
        result = measure(args)
    finally:
        from django.db import connections

        connections.close_all()
        if not args.keep:
            with psycopg.connect(admin_url, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)')
    print(json.dumps(result))


def measure(args) -> dict:
    django_setup(args.database_url)
    from django.core.management import call_command
    from django.db import connection

    from enforcement import compliance, services
    from enforcement.models import InvestigationTask, Notification, ReportingWindow

    log(f"migrating {args.database}")
    call_command("migrate", verbosity=0)
    started = time.perf_counter()
    load(args.clients, args.daily)
    load_s = time.perf_counter() - started
    log(f"loaded {args.clients} clients and conditions by COPY in {load_s:.1f} s")

    start = NOW - HISTORY
    started = time.perf_counter()
    services.windows_materialise(now=start)
    initial_s = time.perf_counter() - started
    horizon = compliance.horizon_end(start, 14)
    log(f"materialised {ReportingWindow.objects.count()} windows up to {horizon:%Y-%m-%d} in {initial_s:.1f} s")

    make_history(NOW)
    started = time.perf_counter()
    history_tasks = services.windows_sweep(now=NOW)
    log(f"history: {history_tasks} windows missed in the past {HISTORY.days} days, swept in {time.perf_counter() - started:.1f} s")
    with connection.cursor() as cursor:
        # What autovacuum and the checkpointer do on a live database between two sweeps.
        cursor.execute("VACUUM ANALYZE")
        cursor.execute("CHECKPOINT")

    overdue = round(args.clients * args.overdue)
    sweep_at = sweep_time_for(overdue, NOW)
    log(f"sweeping at {sweep_at:%Y-%m-%d %H:%M:%S}Z: {overdue} windows past their deadline")
    sweep = run_child(args, "sweep", sweep_at)
    log(f"sweep {sweep['sweep_s'] * 1000:.0f} ms ({sweep['sweep_tasks']} tasks), re-run {sweep['rerun_s'] * 1000:.1f} ms")

    next_day = horizon + timedelta(days=1)
    materialise = run_child(args, "materialise", sweep_at, next_day)
    log(f"next day: {materialise['windows']} windows in {materialise['materialise_s']:.1f} s; "
        f"again: {materialise['rerun_windows']} in {materialise['rerun_s']:.1f} s")

    log("a day of traffic without vacuum")
    day_end = day_of_traffic(sweep_at)
    dead = dead_tuples("enforcement_reportingwindow")
    day_at = sweep_time_for(overdue, day_end)
    log(f"{dead} dead window tuples; sweeping at {day_at:%Y-%m-%d %H:%M:%S}Z")
    day = run_child(args, "sweep", day_at)
    log(f"after a day: sweep {day['sweep_s'] * 1000:.0f} ms ({day['sweep_tasks']} tasks), re-run {day['rerun_s'] * 1000:.1f} ms")

    # Plans, from untimed runs on the next batch of the same size and the day after.
    second_at = sweep_time_for(overdue, day_at)
    sweep_plans = explained(lambda: services.windows_sweep(now=second_at))
    materialise_plans = explained(
        lambda: compliance.materialise(now=second_at, until=next_day + timedelta(days=1), closing_reminder=timedelta(hours=2))
    )
    plans_path = Path(args.plans)
    plans_path.parent.mkdir(parents=True, exist_ok=True)
    plans_path.write_text(
        "== The sweep (the check for anything due, then the sweep's statement and, when a miss joins an open task, the notes' statement)\n\n" + "\n\n".join(sweep_plans)
        + "\n\n== Materialisation (the first chunk's statements; every chunk repeats them)\n\n"
        + "\n\n".join(materialise_plans) + "\n"
    )

    figures = {
        "sweep_s": round(sweep["sweep_s"], 4),
        "rerun_s": round(sweep["rerun_s"], 4),
        "day_sweep_s": round(day["sweep_s"], 4),
        "day_rerun_s": round(day["rerun_s"], 4),
        "materialise_next_day_s": round(materialise["materialise_s"], 2),
        "sweep_peak_rss_mb": round(sweep["peak_rss_mb"], 1),
    }
    return {
        "bench": "sweep",
        "clients": args.clients,
        "schedules": "daily" if args.daily else "mixed",
        "windows_in_table": ReportingWindow.objects.count(),
        "notifications_in_table": Notification.objects.count(),
        "tasks_in_table": InvestigationTask.objects.count(),
        "overdue_windows": overdue,
        "sweep_tasks_opened": sweep["sweep_tasks"],
        "rerun_tasks_opened": sweep["rerun_tasks"],
        "day_sweep_tasks_opened": day["sweep_tasks"],
        "day_rerun_tasks_opened": day["rerun_tasks"],
        "day_dead_window_tuples": dead,
        "next_day_windows_created": materialise["windows"],
        "materialise_rerun_s": round(materialise["rerun_s"], 2),
        "materialise_rerun_windows_created": materialise["rerun_windows"],
        **figures,
        "materialise_peak_rss_mb": round(materialise["peak_rss_mb"], 1),
        "load_s": round(load_s, 1),
        "initial_materialise_s": round(initial_s, 1),
        "goals": GOALS,
        "ratio_to_goal": {name: round(figures[name] / goal, 3) for name, goal in GOALS.items()},
        "plans": str(plans_path),
    }


if __name__ == "__main__":
    main()
