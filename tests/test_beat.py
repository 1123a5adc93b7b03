"""The beat schedule, the one place that lists every periodic job: each job runs as often as the
promise it keeps needs, and its tasks do their work when run."""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from celery.schedules import crontab, schedule

from config.celery import app
from enforcement.models import InvestigationTask, ReportingWindow, WindowStatus
from tests import factories


def test_every_periodic_job_names_a_registered_task():
    app.loader.import_default_modules()
    for name, entry in app.conf.beat_schedule.items():
        assert entry["task"] in app.tasks, name


def run_times(entry: dict, *, start: datetime, hours: int) -> list[datetime]:
    """When Celery beat would send this entry over `hours`, asked once a second as beat does
    (celery.beat.Scheduler.tick), found with the entry's own schedule object."""
    original = entry["schedule"]
    if isinstance(original, crontab):
        # The same rule, with the clock injected (crontab reads `nowfun` for "now").
        clock = {"now": start}
        sched = crontab(minute=original._orig_minute, hour=original._orig_hour, day_of_week=original._orig_day_of_week,
                        day_of_month=original._orig_day_of_month, month_of_year=original._orig_month_of_year,
                        nowfun=lambda: clock["now"], app=app)
    else:
        clock = {"now": start}
        sched = schedule(original if isinstance(original, (int, float)) else original.run_every, nowfun=lambda: clock["now"], app=app)
    runs, last, now, end = [], start, start, start + timedelta(hours=hours)
    while now < end:
        clock["now"] = now
        due, next_check = sched.is_due(last)
        if due:
            runs.append(now)
            last = now
        # Jump to the next check beat would make, a second at least (beat's own minimum).
        now += timedelta(seconds=max(1.0, min(next_check, 60.0)))
    return runs


def the_entry(task: str) -> dict:
    [entry] = [e for e in app.conf.beat_schedule.values() if e["task"] == task]
    return entry


START = datetime(2026, 12, 6, 23, 58, 30, tzinfo=UTC)  # a day boundary inside the simulation

# The promise each job keeps, as the longest gap between two runs it allows (README).
LONGEST_GAP = {
    # A missed window becomes a task within a minute of its deadline (README: Compliance).
    "enforcement.tasks.windows_sweep": timedelta(minutes=1),
    # A reminder goes out within a minute of being due (the dispatcher hands due messages to
    # the notify workers).
    "enforcement.tasks.notifications_dispatch": timedelta(minutes=1),
    # The audit chain's head is published at least every minute (README: the audit trail).
    "enforcement.tasks.audit_head_publish": timedelta(minutes=1),
    # The audit trail is verified against the published heads daily.
    "enforcement.tasks.audit_verify": timedelta(hours=24),
    # The window horizon moves at least once a day, so windows always exist days ahead.
    "enforcement.tasks.windows_materialise": timedelta(hours=24),
    # An unjudged check-in is queued again within two minutes (README: Reliability).
    "reportin.tasks.checkins_reconcile": timedelta(minutes=2),
    # Images past their retention period are deleted within a day.
    "reportin.tasks.data_purge_expired": timedelta(hours=24),
    # Yesterday's accountability figures are counted within a day (the dashboard reads them).
    "reportin.tasks.figures_rollup_recent": timedelta(hours=24),
}


@pytest.mark.parametrize("task", sorted(LONGEST_GAP))
def test_each_job_runs_as_often_as_its_promise_needs(task):
    runs = run_times(the_entry(task), start=START, hours=50)
    assert len(runs) >= 2, runs
    gaps = [later - earlier for earlier, later in zip(runs, runs[1:])]
    assert max(gaps) <= LONGEST_GAP[task] + timedelta(seconds=1), (task, max(gaps))


def test_every_job_in_the_schedule_has_a_promise():
    assert {entry["task"] for entry in app.conf.beat_schedule.values()} <= set(LONGEST_GAP)


@pytest.mark.parametrize("name", sorted(name for name, e in app.conf.beat_schedule.items() if "expires" in e.get("options", {})))
def test_a_message_not_taken_expires_before_the_next_run_sends_another(name):
    # Otherwise a worker that was away comes back to a pile of identical jobs.
    entry = app.conf.beat_schedule[name]
    runs = run_times(entry, start=START, hours=50)
    shortest = min(later - earlier for earlier, later in zip(runs, runs[1:]))
    assert timedelta(seconds=entry["options"]["expires"]) < shortest


@pytest.mark.django_db
def test_the_compliance_tasks_do_their_work_when_beat_runs_them(mailoutbox):
    from django.utils import timezone

    from enforcement import tasks

    # A daily all-day condition set a day ago: yesterday's window is past its deadline, today's
    # is open, and the horizon has moved on since.
    now = timezone.now()
    today = now.astimezone(ZoneInfo("America/Toronto")).date()
    client = factories.client(email="person@example.org")
    factories.condition(
        client, starts_on=today - timedelta(days=1), window_start=time(0, 0), window_minutes=1440, grace_minutes=0,
        now=now - timedelta(days=1),
    )
    horizon_before = ReportingWindow.objects.filter(client=client).latest("opens_at").opens_at

    assert tasks.windows_materialise() >= 1
    assert ReportingWindow.objects.filter(client=client).latest("opens_at").opens_at > horizon_before

    assert tasks.windows_sweep() == 1
    missed = ReportingWindow.objects.get(client=client, status=WindowStatus.MISSED)
    assert missed.deadline_at <= now
    assert InvestigationTask.objects.filter(client=client, reason="missed_report", status="open").count() == 1
    assert tasks.windows_sweep() == 0  # nothing twice

    assert tasks.notifications_send() >= 1
    assert [m.to for m in mailoutbox][:1] == [["person@example.org"]]
    assert tasks.notifications_send() == 0


def test_simulation_finds_a_gap_when_there_is_one():
    # The simulation itself can fail: an every-15-minutes rule shows 15-minute gaps.
    runs = run_times({"schedule": crontab(minute="*/15")}, start=START, hours=2)
    assert {later - earlier for earlier, later in zip(runs, runs[1:])} == {timedelta(minutes=15)}
    assert date(2026, 12, 7) in {run.date() for run in runs}
