#!/usr/bin/env python3
"""The auditors' pages and the accountability report on a month of national-scale data.

    DATABASE_URL=postgres://127.0.0.1:5432/<throwaway> .venv/bin/python bench/accountability.py \
        [--clients 500000] [--checkins 15000000]

Migrates the (throwaway, PostgreSQL) database it is given and loads by COPY: N clients across
the regions and 40 countries of citizenship (15M check-ins: a month at national volume), a device and a condition each, M check-ins over
the 30 days before "now" with their FaceMatch (2% not yet scored; 88% match, 6% non-match, 3%
low quality, 2% no face, 1% several faces), a face_non_match task for every non-match (70%
resolved, four in five as identity confirmed), a quality_sample task for 2% of the matches
(half resolved), and one reporting window per check-in with its deadline in the period (90%
satisfied, 2% reported, 6% missed, 2% excused). Then counts the 30 days into the figures'
rollup table (`manage.py figures_rollup`, as the nightly job does; the slowest day is
reported) and times, warm, the median of 3:

- the accountability figures for those 30 days (what the dashboard computes, from the rollup),
- the dashboard page and the match log's first page through Django's test client (an auditor),
  unfiltered and filtered by region and outcome,
- writing a CSV export of the match log (rows per second, the worker's path, and how much the
  process's memory grew while writing it),
- `manage.py accountability_report` for the 30 days (figures, three charts, HTML).

Prints ONE JSON line with the figures, the goals and the ratio of each figure to its goal
(below 1 is better than the goal, for rows per second above 1). It leaves the data in place.
"""

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

NOW = datetime(2026, 5, 31, 23, 0, tzinfo=UTC)
DAYS = 30
GOALS = {
    "figures_s": 0.5,
    "dashboard_s": 0.5,
    "match_log_s": 1.0,
    "match_log_filtered_s": 1.0,
    "report_s": 60.0,
    "export_rows_per_s": 5000,
    "export_memory_growth_mb": 50,
    # One day's rollup is one task of the nightly job: well within the task time limit.
    "rollup_slowest_day_s": 60.0,
}
COUNTRIES = [f"{chr(65 + i // 26)}{chr(65 + i % 26)}" for i in range(40)]  # AA..BN, stand-ins for ISO codes
DECISIONS = (["match", "non_match", "low_quality", "no_face", "multiple_faces", None], [88, 6, 3, 2, 1, 2])
WINDOWS = (["satisfied", "reported", "missed", "excused"], [90, 2, 6, 2])


def log(message: str) -> None:
    print(f"[accountability bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def load(clients: int, checkins: int) -> None:
    from django.db import connection

    from enforcement.models import Region

    rng = random.Random(20260531)
    regions = [r.pk for r in Region.objects.all()]
    country_weights = [1 / (i + 1) for i in range(len(COUNTRIES))]  # a few large groups, many small
    start = NOW - timedelta(days=DAYS)
    with connection.cursor() as cursor:
        raw = cursor.cursor
        with raw.copy(
            "COPY enforcement_client (uci, given_name, family_name, date_of_birth, country_of_citizenship, preferred_language, "
            "region_id, time_zone, case_status, email, phone, address, employment, family_status, supervisor_attention, created_at, updated_at) FROM STDIN"
        ) as copy:
            for i in range(clients):
                country = rng.choices(COUNTRIES, country_weights)[0]
                copy.write_row(
                    (
                        str(40_000_000 + i),
                        "Bench",
                        f"Client{i}",
                        "1980-01-01",
                        country,
                        "en",
                        rng.choice(regions),
                        "",
                        "monitored",
                        "",
                        "",
                        "",
                        "",
                        "",
                        False,
                        NOW,
                        NOW,
                    )
                )
        cursor.execute("SELECT id, region_id FROM enforcement_client WHERE uci >= '40000000' ORDER BY id")
        client_region = dict(cursor.fetchall())
        client_ids = list(client_region)
        with raw.copy(
            "COPY reportin_device (name, platform, token_hash, token_prefix, activated_at, client_id, removed_by_person) FROM STDIN"
        ) as copy:
            for client_id in client_ids:
                copy.write_row(("bench", "android", f"bench-{client_id}", "bench", start, client_id, False))
        cursor.execute("SELECT client_id, id FROM reportin_device WHERE name = 'bench'")
        devices = dict(cursor.fetchall())
        with raw.copy(
            "COPY enforcement_reportingcondition (client_id, method, schedule, weekdays, interval_days, day_of_month, window_start, "
            "window_minutes, grace_minutes, starts_on, active, single_selfie_allowed, created_at, updated_at) FROM STDIN"
        ) as copy:
            for client_id in client_ids:
                copy.write_row((client_id, "remote", "every_n_days", 0, 7, None, "09:00", 480, 60, "2026-01-01", True, True, NOW, NOW))
        cursor.execute("SELECT client_id, id FROM enforcement_reportingcondition WHERE client_id = ANY(%s)", [client_ids])
        conditions = dict(cursor.fetchall())
        log(f"{clients} clients, devices and conditions")

        plan = []
        with raw.copy(
            "COPY reportin_checkin (selfie, selfie_sha256, selfie_phash, selfie_format, latitude, longitude, accuracy_m, captured_at, "
            "received_at, idempotency_key, request_fingerprint, reported_address, reported_employment, reported_family_status, status, "
            "location_result, scoring_attempts, scoring_task_id, capture_mode, updated_at, client_id, device_id) FROM STDIN"
        ) as copy:
            # Check-ins arrive in time order (ids grow with received_at, as in production).
            arrivals = sorted(rng.randrange(DAYS * 86400) for _ in range(checkins))
            for i in range(checkins):
                client_id = client_ids[i % len(client_ids)]
                received = start + timedelta(seconds=arrivals[i])
                decision = rng.choices(*DECISIONS)[0]
                plan.append((decision, received, client_id))
                status = "received" if decision is None else ("verified" if decision == "match" else "needs_review")
                copy.write_row(
                    (
                        "",
                        "",
                        "",
                        "jpeg",
                        45.5,
                        -73.6,
                        10.0,
                        received,
                        received,
                        f"b{i}",
                        "x",
                        "",
                        "",
                        "",
                        status,
                        "not_checked",
                        1,
                        "",
                        "single_selfie",
                        received,
                        client_id,
                        devices[client_id],
                    )
                )
        cursor.execute("SELECT id FROM reportin_checkin WHERE idempotency_key LIKE 'b%%' ORDER BY id")
        checkin_ids = [row[0] for row in cursor.fetchall()]
        log(f"{checkins} check-ins")
        quality = json.dumps({"face_px": 180, "sharpness": 0.31, "brightness": 0.52})
        with raw.copy(
            "COPY reportin_facematch (decision, best_distance, similarity, threshold, distances, faces_found, quality, replay, detail, "
            "model_version, pipeline_version, duration_ms, attempts, scored_at, liveness, checkin_id) FROM STDIN"
        ) as copy:
            for checkin_id, (decision, received, _) in zip(checkin_ids, plan, strict=True):
                if decision is not None:
                    distance = rng.uniform(0.25, 0.54) if decision == "match" else rng.uniform(0.55, 0.9)
                    copy.write_row(
                        (
                            decision,
                            distance,
                            0.5,
                            0.54,
                            '{"1": 0.4}',
                            1,
                            quality,
                            "{}",
                            "{}",
                            "dlib-resnet-v1",
                            "3",
                            250.0,
                            1,
                            received + timedelta(seconds=3),
                            "{}",
                            checkin_id,
                        )
                    )
        log("face matches")
        with raw.copy(
            "COPY enforcement_investigationtask (reason, checkin_id, priority, status, due_by, resolution, resolution_note, resolved_at, "
            "evidence, created_at, updated_at, client_id, region_id) FROM STDIN"
        ) as copy:
            open_tasks = set()
            for checkin_id, (decision, received, client_id) in zip(checkin_ids, plan, strict=True):
                reason = (
                    "face_non_match"
                    if decision == "non_match"
                    else "quality_sample"
                    if decision == "match" and rng.random() < 0.02
                    else None
                )
                if reason is None:
                    continue
                resolved = rng.random() < (0.7 if reason == "face_non_match" else 0.5)
                # At most one unresolved task per client and reason (the database's constraint):
                # a client's later ones of the same reason are resolved.
                if not resolved:
                    resolved = (client_id, reason) in open_tasks
                    open_tasks.add((client_id, reason))
                resolution = ""
                if resolved:
                    confirmed = rng.random() < (0.8 if reason == "face_non_match" else 0.97)
                    resolution = "identity_confirmed" if confirmed else "identity_not_confirmed"
                copy.write_row(
                    (
                        reason,
                        checkin_id,
                        2,
                        "resolved" if resolved else "open",
                        received + timedelta(days=2),
                        resolution,
                        "bench" if resolved else "",
                        received + timedelta(hours=5) if resolved else None,
                        "{}",
                        received,
                        received,
                        client_id,
                        client_region[client_id],
                    )
                )
        log("tasks")
        with raw.copy(
            "COPY enforcement_reportingwindow (opens_at, closes_at, deadline_at, status, satisfied_at, excused_reason, excused_at, "
            "created_at, client_id, condition_id) FROM STDIN"
        ) as copy:
            for i, (_, _, client_id) in enumerate(plan):
                # The client's j-th window: six hours after their previous one, all inside the period.
                j = i // len(client_ids)
                opens = start + timedelta(minutes=(j * 360 + client_id % 300) % ((DAYS * 24 - 10) * 60))
                status = rng.choices(*WINDOWS)[0]
                copy.write_row(
                    (
                        opens,
                        opens + timedelta(hours=8),
                        opens + timedelta(hours=9),
                        status,
                        opens + timedelta(hours=1) if status == "satisfied" else None,
                        "bench" if status == "excused" else "",
                        opens if status == "excused" else None,
                        NOW,
                        client_id,
                        conditions[client_id],
                    )
                )
        log("windows")
        cursor.execute("ANALYZE")


def rss_mb() -> float:
    """This process's resident memory now, in MB."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def timed(fn, runs: int = 3) -> float:
    fn()  # warm
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return round(statistics.median(times), 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=500_000)
    parser.add_argument("--checkins", type=int, default=15_000_000)
    parser.add_argument("--reuse", action="store_true", help="time what is already loaded")
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        sys.exit("set DATABASE_URL to a throwaway PostgreSQL database")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.test_settings")
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client as Browser

    from backoffice import exports
    from backoffice.export_lists import LISTS
    from enforcement.models import Region
    from reportin import accountability
    from reportin.models import CheckIn
    from tests import factories

    settings.ALLOWED_HOSTS = ["testserver"]
    call_command("migrate", verbosity=0)
    if not args.reuse:
        if CheckIn.objects.exists():
            sys.exit("the database already has check-ins: give a throwaway database, or --reuse to time them")
        started = time.perf_counter()
        load(args.clients, args.checkins)
        log(f"loaded in {time.perf_counter() - started:.0f} s")
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM reportin_checkin")
        rows = cursor.fetchone()[0]

    start, end = (NOW - timedelta(days=DAYS - 1)).date(), NOW.date()
    # The nightly job's work: each day of the period counted into the rollup table.
    day_times = []
    for k in range(DAYS):
        started = time.perf_counter()
        accountability.rollup_day(day=start + timedelta(days=k))
        day_times.append(time.perf_counter() - started)
    log(f"rolled up {DAYS} days in {sum(day_times):.0f} s")
    figures = timed(lambda: accountability.figures(start=start, end=end))
    report = accountability.figures(start=start, end=end)
    from django.contrib.auth import get_user_model

    auditor = get_user_model().objects.filter(username="bench-auditor").first() or factories.staff(
        "bench-auditor", role="Auditor", region_code=None
    )
    browser = Browser()
    browser.force_login(auditor)

    def get(url, params=None):
        response = browser.get(url, params or {})
        assert response.status_code == 200, (url, response.status_code)

    dashboard = timed(lambda: get("/admin/accountability/", {"start": start.isoformat(), "end": end.isoformat()}))
    match_log = timed(lambda: get("/admin/reportin/facematch/"))
    region = Region.objects.get(code="gta")
    match_log_filtered = timed(
        lambda: get(
            "/admin/reportin/facematch/", {"checkin__client__region__id__exact": region.pk, "decision__exact": "non_match"}
        )
    )
    exportable = LISTS["reportin.facematch"]
    queryset = exportable.queryset(query=f"scored_at__date__gte={end.isoformat()}", user=auditor)
    started = time.perf_counter()
    rss_start = rss_peak = rss_mb()
    exported = -1  # the header line
    for _ in exports.csv_lines(exports.rows(exportable.columns, queryset)):
        exported += 1
        if exported % 10_000 == 0:
            rss_peak = max(rss_peak, rss_mb())
    export_rate = round(exported / (time.perf_counter() - started))
    export_growth = round(max(rss_peak, rss_mb()) - rss_start, 1)
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        call_command(
            "accountability_report",
            "--from",
            start.isoformat(),
            "--to",
            end.isoformat(),
            "--out",
            out,
            stdout=open(os.devnull, "w"),
        )
        report_s = round(time.perf_counter() - started, 3)
    figures_out = {
        "checkins_in_db": rows,
        "checkins_in_period": report.total.checkins,
        "regions": len(report.groups["region"]),
        "countries": len(report.groups["country"]),
        "figures_s": figures,
        "dashboard_s": dashboard,
        "match_log_s": match_log,
        "match_log_filtered_s": match_log_filtered,
        "export_rows": exported,
        "export_rows_per_s": export_rate,
        "export_memory_growth_mb": export_growth,
        "report_s": report_s,
        "rollup_days": DAYS,
        "rollup_total_s": round(sum(day_times), 1),
        "rollup_slowest_day_s": round(max(day_times), 2),
    }
    ratios = {f"{key}_ratio": round(figures_out[key] / goal, 3) for key, goal in GOALS.items()}
    print(json.dumps({"benchmark": "accountability", **figures_out, "goals": GOALS, **ratios}))


if __name__ == "__main__":
    main()
