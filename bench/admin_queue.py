#!/usr/bin/env python3
"""The officers' triage queue and task page with 100,000 tasks, on PostgreSQL.

    .venv/bin/python bench/admin_queue.py [--tasks 100000] [--clients 25000] [--runs 30] [--keep]
        [--server-url postgres://127.0.0.1:5432] [--database reportin_bench_admin_queue]

Creates its own database (dropped at the end unless --keep), migrates it, and loads the
clients and tasks by bulk insert across the seven regions (30% in the Greater Toronto Area),
every reason, priorities 1-4, ages up to 90 days, 60% resolved (history) and some assigned.
One face non-match task is made the real way (a reference photo, a check-in scored by the
face engine) so that its task page shows everything a real one does.

Then, through Django's test client (the whole request: middleware, session, admin, template;
no network), for a GTA officer and a supervisor: the queue as it opens, with filters and a
search, the task page, and the landing page ("My work": the officer's open tasks by due time,
the sign-offs waiting for the supervisor, the overdue counts; a few escalations are proposed
through the service so that the supervisor has some). Each page is fetched --runs times after one warm-up; the figures
are the median and the 95th percentile in milliseconds, and the number of queries of each
page, counted again with a second, different task page to show that it does not grow (and the
landing page of an officer with no task at all to show that its count does not either).

The case view (one person's open tasks together, resolvable with one decision) is timed for
two people with three open tasks each, one with a long history.

Prints ONE JSON line with the figures, the goals (queue 300 ms, task page 200 ms, landing and
case view 300 ms) and each
figure's ratio to its goal (below 1 is better than the goal); exits 1 when a goal is missed or
a page's number of queries grows.
"""

import argparse
import io
import json
import os
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

GOALS = {"queue_ms": 300.0, "task_page_ms": 200.0, "landing_ms": 300.0, "case_view_ms": 300.0}
REGION_SHARES = {
    "gta": 0.30, "southern-ontario": 0.12, "northern-ontario": 0.05, "quebec": 0.20, "atlantic": 0.06, "prairie": 0.12, "pacific": 0.15,
}
TASKS = "/admin/enforcement/investigationtask/"


def log(message: str) -> None:
    print(f"[admin queue bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def django_setup(database_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.test_settings")
    import django

    django.setup()


def load(*, tasks: int, clients: int, seed: int = 6) -> dict:
    from django.utils import timezone

    from enforcement import roles
    from enforcement.models import Client, InvestigationTask, Region, TaskReason, TaskResolution, TaskStatus
    from enforcement.progress import Progress
    from tests import factories

    rng = random.Random(seed)
    now = timezone.now()
    regions = {r.code: r for r in Region.objects.all()}
    codes, weights = list(REGION_SHARES), list(REGION_SHARES.values())
    officers = {
        code: [factories.staff(f"bench-{code}-{i}", region_code=code) for i in range(5)] for code in codes
    }
    supervisor = factories.staff("bench-supervisor", role=roles.SUPERVISOR)
    log(f"loading {clients} clients")
    rows = []
    for i in range(clients):
        code = rng.choices(codes, weights)[0]
        rows.append(Client(
            uci=str(40_000_000 + i), given_name=rng.choice(["Alex", "Marie", "Jean", "Fatima", "Wei", "Ana", "Omar"]),
            family_name=f"Family{i:05d}", date_of_birth=datetime(1970 + i % 40, 1 + i % 12, 1 + i % 28).date(),
            country_of_citizenship="HT", region=regions[code],
        ))
    created = Client.objects.bulk_create(rows, batch_size=5000)
    client_region = [(c.pk, c.region.code) for c in created]
    reasons = [r for r in TaskReason.values if r != TaskReason.CONSENT_WITHDRAWN]
    resolutions = [r for r in TaskResolution.values if r != TaskResolution.ESCALATED]
    log(f"loading {tasks} tasks")
    # At most one unresolved task per client and reason (a database constraint: later events
    # join the open task as notes), as the services keep it.
    batch, checkin_id, open_pairs = [], 10_000_000, set()
    with Progress(tasks, label="tasks") as bar:
        for _ in range(tasks):
            resolved = rng.random() < 0.6
            while True:
                client_id, code = rng.choice(client_region)
                reason = rng.choice(reasons)
                if resolved or (client_id, reason) not in open_pairs:
                    break
            if not resolved:
                open_pairs.add((client_id, reason))
            created_at = now - timedelta(minutes=rng.randrange(1, 90 * 24 * 60))
            assigned = resolved or rng.random() < 0.3
            officer = rng.choice(officers[code]) if assigned else None
            checkin_id += 1
            batch.append(InvestigationTask(
                client_id=client_id, region=regions[code], reason=reason, checkin_id=checkin_id, priority=rng.choice([1, 2, 2, 2, 3, 3, 4]),
                status=TaskStatus.RESOLVED if resolved else (TaskStatus.IN_PROGRESS if assigned else TaskStatus.OPEN),
                assignee=officer, assigned_at=created_at if assigned else None, due_by=created_at + timedelta(hours=48),
                resolution=rng.choice(resolutions) if resolved else "", resolution_note="Checked." if resolved else "",
                resolved_by=officer if resolved else None, resolved_at=created_at + timedelta(hours=5) if resolved else None,
                created_at=created_at,
            ))
            if len(batch) == 5000:
                InvestigationTask.objects.bulk_create(batch)
                bar.update(advance=len(batch))
                batch = []
        if batch:
            InvestigationTask.objects.bulk_create(batch)
            bar.update(advance=len(batch))
    return {"officer": officers["gta"][0], "supervisor": supervisor}


def add_history(client, *, windows: int, changes: int) -> None:
    from django.utils import timezone

    from enforcement.models import CircumstanceChange, ReportingWindow

    condition = client.conditions.get(active=True)
    start = timezone.now() - timedelta(days=windows + 2)
    ReportingWindow.objects.bulk_create([
        ReportingWindow(
            condition=condition, client=client, opens_at=start + timedelta(days=i), closes_at=start + timedelta(days=i, hours=2),
            deadline_at=start + timedelta(days=i, hours=3), status="satisfied", satisfied_at=start + timedelta(days=i, hours=1),
        )
        for i in range(windows)
    ])
    CircumstanceChange.objects.bulk_create([
        CircumstanceChange(client=client, field="address", old_value=f"{i} Main St", new_value=f"{i + 1} Main St", channel="app", recorded_at=timezone.now())
        for i in range(changes)
    ])


def timed(http, url: str, runs: int, params: dict | None = None) -> dict:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:  # the warm-up run counts the queries
        response = http.get(url, params or {})
    query_count = len(queries)  # now: the log is cleared by the next request
    assert response.status_code == 200, (url, response.status_code, response.get("Location"))
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        response = http.get(url, params or {})
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200
    times.sort()
    return {
        "median_ms": round(statistics.median(times), 1),
        "p95_ms": round(times[min(len(times) - 1, int(len(times) * 0.95))], 1),
        "queries": query_count,
    }


def measure(args) -> dict:
    django_setup(args.database_url)
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client as HttpClient
    from django.test.utils import setup_test_environment
    from django.utils import timezone

    from enforcement import roles, services
    from enforcement.models import Client, InvestigationTask, TaskStatus
    from tests import factories
    from tests.officer import face_task

    setup_test_environment()  # the test client's host, as in the test suite
    log(f"migrating {args.database}")
    call_command("migrate", verbosity=0)
    call_command("compile_translations", verbosity=0, stdout=io.StringIO())  # stdout is for the JSON line
    started = time.perf_counter()
    staff = load(tasks=args.tasks, clients=args.clients)
    case = face_task(region_code="gta", family_name="Benchmark")  # a real face task (the face engine runs)
    # ... and another for a client with a long history: the task page reads as many queries.
    busy = face_task(region_code="gta", family_name="Busy", now=timezone.now() - timedelta(minutes=5))
    add_history(busy["client"], windows=200, changes=50)
    # Both people have three open tasks: their case views (one person's open tasks together).
    for person in (case["client"], busy["client"]):
        for reason in ("location_outside_area", "low_quality"):
            services.task_open(client=person, reason=reason, checkin_id=case["checkin"].pk if person == case["client"] else busy["checkin"].pk)
    # Escalations waiting for the supervisor's sign-off (proposed by the officer, as on the page).
    for task in InvestigationTask.objects.filter(region__code="gta", assignee=staff["officer"]).exclude(status=TaskStatus.RESOLVED)[:25]:
        services.escalation_propose(task=task, kind="case_review", reason="Benchmark.", by=staff["officer"])
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    load_s = time.perf_counter() - started
    total = InvestigationTask.objects.count()
    open_gta = InvestigationTask.objects.filter(client__region__code="gta").exclude(status=TaskStatus.RESOLVED).count()
    log(f"{total} tasks ({open_gta} unresolved in the GTA) loaded in {load_s:.0f} s; timing")

    # Signed in as staff are, second factor included (the check stays on).
    officer = HttpClient()
    factories.staff_login(officer, staff["officer"])
    supervisor = HttpClient()
    factories.staff_login(supervisor, staff["supervisor"])
    newcomer = HttpClient()  # an officer with no task yet: the landing reads as many queries
    factories.staff_login(newcomer, factories.staff("bench-gta-newcomer", region_code="gta"))
    other_supervisor = HttpClient()  # ... and a supervisor with nothing to sign off
    factories.staff_login(other_supervisor, factories.staff("bench-supervisor-2", role=roles.SUPERVISOR))
    runs = args.runs
    deep_page = max(1, min(50, open_gta // 50))  # a page deep in the queue (numbered from 1)
    other = InvestigationTask.objects.filter(client__region__code="gta").exclude(status=TaskStatus.RESOLVED).order_by("-priority", "created_at").first()
    figures = {
        "queue_officer": timed(officer, TASKS, runs),
        "queue_officer_reason_filter": timed(officer, TASKS, runs, {"reason__exact": "face_non_match"}),
        "queue_officer_assigned_to_me": timed(officer, TASKS, runs, {"assigned": "me"}),
        "queue_officer_past_due": timed(officer, TASKS, runs, {"due": "past"}),
        "queue_officer_search_uci": timed(officer, TASKS, runs, {"q": case["client"].uci}),
        "queue_officer_search_name": timed(officer, TASKS, runs, {"q": "Family0123"}),
        f"queue_officer_page_{deep_page}": timed(officer, TASKS, runs, {"p": str(deep_page)}),
        "queue_supervisor_all_regions": timed(supervisor, TASKS, runs),
        "task_page_face": timed(officer, f"{TASKS}{case['task'].pk}/change/", runs),
        "task_page_face_long_history": timed(officer, f"{TASKS}{busy['task'].pk}/change/", runs),
        "task_page_top_of_queue": timed(officer, f"{TASKS}{other.pk}/change/", runs),
        "case_view": timed(officer, f"{TASKS}{case['task'].pk}/case/", runs),
        "case_view_long_history": timed(officer, f"{TASKS}{busy['task'].pk}/case/", runs),
        "landing_officer": timed(officer, "/admin/", runs),
        "landing_officer_without_tasks": timed(newcomer, "/admin/", runs),
        "landing_supervisor": timed(supervisor, "/admin/", runs),
        "landing_supervisor_without_sign_offs": timed(other_supervisor, "/admin/", runs),
    }
    queue_keys = [k for k in figures if k.startswith("queue_")]
    task_keys = [k for k in figures if k.startswith("task_page")]
    worst_queue = max(figures[k]["median_ms"] for k in queue_keys)
    worst_task = max(figures[k]["median_ms"] for k in task_keys)
    worst_landing = max(figures[k]["median_ms"] for k in figures if k.startswith("landing_"))
    worst_case = max(figures[k]["median_ms"] for k in figures if k.startswith("case_view"))
    officer_queue_queries = {figures[k]["queries"] for k in queue_keys if k.startswith("queue_officer") and "search" not in k}
    return {
        "benchmark": "admin_queue",
        "tasks": total,
        "clients": Client.objects.count(),
        "unresolved_in_officer_region": open_gta,
        "runs": runs,
        "load_s": round(load_s, 1),
        **{k: v for k, v in figures.items()},
        "queue_worst_median_ms": worst_queue,
        "task_page_worst_median_ms": worst_task,
        "landing_worst_median_ms": worst_landing,
        "case_view_worst_median_ms": worst_case,
        "case_view_queries_constant": figures["case_view"]["queries"] == figures["case_view_long_history"]["queries"],
        "queue_queries_constant": len(officer_queue_queries) == 1,
        "task_page_queries_constant": figures["task_page_face"]["queries"] == figures["task_page_face_long_history"]["queries"],
        "landing_queries_constant": (
            figures["landing_officer"]["queries"] == figures["landing_officer_without_tasks"]["queries"]
            and figures["landing_supervisor"]["queries"] == figures["landing_supervisor_without_sign_offs"]["queries"]
        ),
        "goals": GOALS,
        "ratio_queue_to_goal": round(worst_queue / GOALS["queue_ms"], 3),
        "ratio_task_page_to_goal": round(worst_task / GOALS["task_page_ms"], 3),
        "ratio_landing_to_goal": round(worst_landing / GOALS["landing_ms"], 3),
        "ratio_case_view_to_goal": round(worst_case / GOALS["case_view_ms"], 3),
        "database": "postgresql",
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=25_000)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--server-url", default="postgres://127.0.0.1:5432")
    parser.add_argument("--database", default="reportin_bench_admin_queue")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()

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
    # A goal missed, or a page whose number of queries grows with the data, is a failure (CI).
    met = (
        result["ratio_queue_to_goal"] <= 1
        and result["ratio_task_page_to_goal"] <= 1
        and result["queue_queries_constant"]
        and result["task_page_queries_constant"]
        and result["ratio_landing_to_goal"] <= 1
        and result["landing_queries_constant"]
        and result["ratio_case_view_to_goal"] <= 1
        and result["case_view_queries_constant"]
    )
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
