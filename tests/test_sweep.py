"""The minute sweep: missed windows, one task each, escalation, late check-ins, concurrency."""

import threading
import time as clock
from datetime import datetime, timedelta

import pytest
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext

from enforcement import compliance, services
from enforcement.models import Client, InvestigationTask, Notice, Notification, ReportingWindow, SweepMark, TaskNote
from reportin.services import checkin_submit
from tests import factories, images
from tests.conftest import in_threads

local = factories.toronto
office_hours = factories.office_hours


def window_on(client, day: int) -> ReportingWindow:
    return ReportingWindow.objects.get(client=client, opens_at=local(2026, 3, day, 9, 0))


def missed_tasks(client=None):
    tasks = InvestigationTask.objects.filter(reason="missed_report")
    return tasks.filter(client=client) if client else tasks


@pytest.mark.django_db
def test_the_deadline_is_closes_at_plus_grace_to_the_second():
    client = factories.client()
    office_hours(client)
    window = window_on(client, 2)
    assert window.deadline_at == local(2026, 3, 2, 18, 0)
    assert services.windows_sweep(now=window.deadline_at - timedelta(seconds=1)) == 0
    assert services.windows_sweep(now=window.deadline_at) == 0  # a report received at the deadline still counts
    window.refresh_from_db()
    assert window.status == "open"
    assert services.windows_sweep(now=window.deadline_at + timedelta(seconds=1)) == 1
    window.refresh_from_db()
    assert (window.status, window.missed_at) == ("missed", window.deadline_at + timedelta(seconds=1))


@pytest.mark.django_db
def test_a_missed_window_opens_one_task_and_a_rerun_opens_none(settings):
    settings.REPORTIN_TASK_DUE_HOURS = 48
    clients = [factories.client() for _ in range(3)]
    for client in clients:
        office_hours(client)
    services.window_satisfy(window=window_on(clients[0], 2), checkin_id=7, now=local(2026, 3, 2, 10, 0))
    now = local(2026, 3, 2, 18, 1)
    assert services.windows_sweep(now=now) == 2
    assert services.windows_sweep(now=now) == 0
    assert services.windows_sweep(now=now + timedelta(minutes=1)) == 0
    assert not missed_tasks(clients[0]).exists()
    for client in clients[1:]:
        task = missed_tasks(client).get()
        assert (task.window, task.status, task.priority) == (window_on(client, 2), "open", 2)
        assert (task.created_at, task.due_by) == (now, now + timedelta(hours=48))
        assert task.evidence == {"consecutive_misses": 1, "supervisor_attention": False}


@pytest.mark.django_db
def test_a_window_that_already_has_its_task_gets_no_second_one():
    client = factories.client()
    office_hours(client)
    window = window_on(client, 2)
    services.task_open(client=client, reason="missed_report", window=window, now=local(2026, 3, 2, 17, 0))
    assert services.windows_sweep(now=local(2026, 3, 2, 18, 1)) == 0
    window.refresh_from_db()
    assert window.status == "missed"
    assert missed_tasks(client).count() == 1


@pytest.mark.django_db
def test_consecutive_misses_raise_the_priority_and_flag_the_client_for_a_supervisor(settings):
    settings.REPORTIN_MISSES_FOR_SUPERVISOR = 3
    client = factories.client()
    office_hours(client)
    priorities = []
    for day in (2, 3, 4, 5):
        services.windows_sweep(now=local(2026, 3, day, 18, 1))
        # One open task per problem: the later misses join the first one's task as notes.
        task = missed_tasks(client).get()
        priorities.append((task.priority, task.notes.filter(kind="event").count()))
        client.refresh_from_db()
        assert client.supervisor_attention == (day >= 4)
    assert task.window == window_on(client, 2)
    assert priorities == [(2, 0), (3, 1), (4, 2), (4, 3)]


@pytest.mark.django_db
def test_a_kept_window_ends_the_run_of_misses(settings):
    settings.REPORTIN_MISSES_FOR_SUPERVISOR = 2
    client = factories.client()
    office_hours(client)
    services.windows_sweep(now=local(2026, 3, 2, 18, 1))
    services.window_satisfy(window=window_on(client, 3), checkin_id=1, now=local(2026, 3, 3, 10, 0))
    services.windows_sweep(now=local(2026, 3, 4, 18, 1))
    # Day 4's miss joins the open task of day 2 as a note; a run of one, so no higher priority.
    task = missed_tasks(client).get()
    assert task.window == window_on(client, 2) and task.notes.get(kind="event").window == window_on(client, 4)
    assert task.priority == 2
    client.refresh_from_db()
    assert not client.supervisor_attention


@pytest.mark.django_db
def test_misses_found_by_one_sweep_after_an_outage_count_in_order(settings):
    settings.REPORTIN_MISSES_FOR_SUPERVISOR = 3
    client = factories.client()
    office_hours(client)
    other = factories.client()
    office_hours(other)
    assert services.windows_sweep(now=local(2026, 3, 4, 18, 1)) == 2  # one task per person
    task = missed_tasks(client).get()
    assert task.window == window_on(client, 2)  # the first miss opens it, the others join it
    assert sorted(n.window.opens_at.day for n in task.notes.filter(kind="event")) == [local(2026, 3, d, 9, 0).day for d in (3, 4)]
    assert task.priority == 4
    assert set(Client.objects.filter(pk__in=[client.pk, other.pk]).values_list("supervisor_attention", flat=True)) == {True}



def swept_to():
    return SweepMark.objects.values_list("swept_to", flat=True).first()


@pytest.mark.django_db
def test_the_sweep_looks_only_at_deadlines_since_its_last_run_less_the_margin():
    early, late = factories.client(), factories.client()
    office_hours(early)
    assert services.windows_sweep(now=local(2026, 3, 10, 18, 1)) == 1
    assert swept_to() == local(2026, 3, 10, 18, 1)
    # Windows created after the sweep with deadlines long before it (only a materialisation
    # run with a stale clock could do this): outside the range the next sweep reads.
    office_hours(late)
    now = local(2026, 3, 10, 18, 2)
    assert services.windows_sweep(now=now) == 1
    statuses = dict(ReportingWindow.objects.filter(client=late).values_list("opens_at", "status"))
    assert statuses[local(2026, 3, 10, 9, 0)] == "missed"  # deadline 18:00, within the margin
    assert {statuses[local(2026, 3, day, 9, 0)] for day in range(2, 10)} == {"open"}
    assert compliance.sweep_since(swept_to(), now) == now - compliance.SWEEP_MARGIN
    # A check-in's own sweep of one client reads all that client's windows.
    services.windows_sweep(now=now, client=late)
    assert not ReportingWindow.objects.filter(client=late, status="open", deadline_at__lt=now).exists()


@pytest.mark.django_db
def test_a_sweep_after_an_outage_catches_every_deadline_since_the_last_completed_run():
    client = factories.client()
    office_hours(client)
    assert services.windows_sweep(now=local(2026, 3, 2, 18, 1)) == 1
    # The beat was down for three days: the next sweep starts from the recorded mark, not
    # from "a minute ago".
    assert services.windows_sweep(now=local(2026, 3, 5, 18, 1)) == 0  # the misses join the open task
    assert {window_on(client, day).status for day in (2, 3, 4, 5)} == {"missed"}
    assert missed_tasks(client).get().notes.filter(kind="event").count() == 3
    assert swept_to() == local(2026, 3, 5, 18, 1)


@pytest.mark.django_db
def test_the_mark_moves_forward_only_and_only_with_a_full_sweep():
    client = factories.client()
    office_hours(client)
    assert swept_to() is None
    services.windows_sweep(now=local(2026, 3, 2, 18, 1), client=client)  # a check-in's sweep of one client
    assert swept_to() is None
    services.windows_sweep(now=local(2026, 3, 3, 18, 1))
    services.windows_sweep(now=local(2026, 3, 2, 12, 0))  # a late message for an earlier minute
    assert swept_to() == local(2026, 3, 3, 18, 1)
    assert SweepMark.objects.count() == 1


@pytest.mark.django_db
def test_a_sweep_with_nothing_due_is_one_query_and_moves_the_mark_only():
    client = factories.client()
    office_hours(client)
    services.windows_sweep(now=local(2026, 3, 2, 18, 1))
    counts = (InvestigationTask.objects.count(), Notice.objects.count(), Notification.objects.count(), TaskNote.objects.count())
    # 18:30: the next deadline is tomorrow's 18:00. One statement on PostgreSQL (the check and
    # the mark's move together, outside any transaction); SQLite, in process, takes three.
    with CaptureQueriesContext(connection) as queries:
        assert services.windows_sweep(now=local(2026, 3, 2, 18, 30)) == 0
    assert len(queries) == (1 if connection.vendor == "postgresql" else 3)
    assert swept_to() == local(2026, 3, 2, 18, 30)
    # The same minute again: the check only, and the mark is not written.
    with CaptureQueriesContext(connection) as queries:
        assert services.windows_sweep(now=local(2026, 3, 2, 18, 30)) == 0
    assert len(queries) == (1 if connection.vendor == "postgresql" else 2)
    assert (InvestigationTask.objects.count(), Notice.objects.count(), Notification.objects.count(), TaskNote.objects.count()) == counts
    assert window_on(client, 3).status == "open"


@pytest.mark.django_db
def test_a_sweep_with_nothing_due_and_no_mark_yet_records_one():
    assert services.windows_sweep(now=local(2026, 3, 2, 18, 1)) == 0
    assert swept_to() == local(2026, 3, 2, 18, 1)
    # A window created afterwards with its deadline within the margin is still found.
    client = factories.client()
    office_hours(client)
    assert services.windows_sweep(now=local(2026, 3, 2, 18, 2)) == 1
    assert window_on(client, 2).status == "missed"


@pytest.mark.django_db
def test_every_missed_window_is_told_even_when_it_joins_the_open_task():
    client = factories.client(email="ana@example.org")
    office_hours(client)
    assert services.windows_sweep(now=local(2026, 3, 2, 18, 1)) == 1
    assert services.windows_sweep(now=local(2026, 3, 3, 18, 1)) == 0  # joins the open task as a note
    told = Notice.objects.filter(client=client, kind="missed_window")
    assert sorted(n.window.opens_at for n in told) == [local(2026, 3, 2, 9, 0), local(2026, 3, 3, 9, 0)]
    assert Notification.objects.filter(notice__in=told, channel="email", status="pending").count() == 2
    assert missed_tasks(client).get().notes.get(kind="event").window == window_on(client, 3)


@pytest.mark.django_db
def test_a_flag_is_a_flag_only_nothing_else_changes_for_the_client(settings):
    settings.REPORTIN_MISSES_FOR_SUPERVISOR = 1
    client = factories.client()
    office_hours(client)
    services.windows_sweep(now=local(2026, 3, 2, 18, 1))
    client.refresh_from_db()
    assert client.supervisor_attention
    assert client.case_status == "monitored"
    assert client.conditions.get(active=True).method == "remote"
    assert InvestigationTask.objects.filter(client=client).count() == 1


# --- Check-ins meet the sweep --------------------------------------------------------------


def submit(client, device, *, captured_at, received_at, key):
    return checkin_submit(
        device=device, selfie=images.jpeg(images.astronaut()), latitude=43.65, longitude=-79.38, accuracy_m=15,
        captured_at=captured_at, idempotency_key=key, now=received_at,
    )[0]


@pytest.fixture
def reporting_client():
    client = factories.client()
    office_hours(client)
    factories.consent_both(client)
    _, device = factories.device(client)
    return client, device


@pytest.mark.django_db
def test_a_checkin_in_time_keeps_its_window_from_being_missed_while_it_is_checked(reporting_client):
    client, device = reporting_client
    checkin = submit(client, device, captured_at=local(2026, 3, 2, 16, 50), received_at=local(2026, 3, 2, 17, 59), key="k1")
    window = window_on(client, 2)
    assert checkin.window == window
    window.refresh_from_db()
    assert window.status == "reported"
    assert services.windows_sweep(now=local(2026, 3, 2, 19, 0)) == 0  # the face check is still queued
    assert services.window_satisfy(window=window, checkin_id=checkin.pk, now=local(2026, 3, 2, 19, 5))
    window.refresh_from_db()
    assert (window.status, window.satisfied_by_checkin_id) == ("satisfied", checkin.pk)


@pytest.mark.django_db
def test_a_late_checkin_is_attached_to_the_open_missed_report_task(reporting_client):
    client, device = reporting_client
    services.windows_sweep(now=local(2026, 3, 2, 18, 1))
    task = missed_tasks(client).get()
    captured, received = local(2026, 3, 2, 20, 0), local(2026, 3, 2, 20, 1)
    checkin = submit(client, device, captured_at=captured, received_at=received, key="late")
    assert checkin.window is None
    note = TaskNote.objects.get(task=task)
    assert note.kind == "late_checkin"
    assert note.data == {"checkin_id": checkin.pk, "captured_at": captured.isoformat(), "received_at": received.isoformat()}
    assert note.created_at == received
    task.refresh_from_db()
    assert task.status == "open"  # information for the officer, not a decision


@pytest.mark.django_db
def test_a_checkin_just_after_the_deadline_finds_its_task_before_the_next_sweep(reporting_client):
    client, device = reporting_client
    # Captured in the window, received 30 s after the grace period: it does not count for
    # the window, and no sweep has run since the deadline.
    submit(client, device, captured_at=local(2026, 3, 2, 16, 0), received_at=local(2026, 3, 2, 18, 0, 30), key="offline")
    task = missed_tasks(client).get()
    assert task.window == window_on(client, 2)
    assert TaskNote.objects.get(task=task).kind == "late_checkin"
    assert services.windows_sweep(now=local(2026, 3, 2, 18, 1)) == 0


@pytest.mark.django_db
def test_an_unscheduled_checkin_without_a_missed_report_adds_nothing(reporting_client):
    client, device = reporting_client
    submit(client, device, captured_at=local(2026, 3, 2, 7, 30), received_at=local(2026, 3, 2, 7, 31), key="early")
    assert not TaskNote.objects.exists()
    assert not InvestigationTask.objects.filter(client=client).exists()


# --- Concurrency ------------------------------------------------------------------------------


def overdue_windows(count: int) -> datetime:
    for _ in range(count):
        office_hours(factories.client())
    return local(2026, 3, 2, 18, 1)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_sweeps_running_at_once_open_one_task_per_window():
    now = overdue_windows(40)
    results = in_threads(*[lambda: services.windows_sweep(now=now)] * 4)
    assert sum(results) == 40
    assert missed_tasks().count() == 40
    assert ReportingWindow.objects.filter(status="missed").count() == 40
    assert services.windows_sweep(now=now) == 0


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_sweep_waiting_on_another_sweeps_windows_finds_them_taken():
    """The race itself, made certain: sweep A has marked the windows missed and not yet
    committed; sweep B runs against the same windows and must wait for A's row locks, then
    find nothing left to do."""
    if connection.vendor != "postgresql":
        pytest.skip("needs two PostgreSQL sessions with row locks; on SQLite, writers queue on the database lock "
                    "(the threaded test above and the re-run tests cover that path)")
    now = overdue_windows(30)
    a_swept, a_may_commit = threading.Event(), threading.Event()
    results = {}

    def sweep_a():
        try:
            from django.db import transaction

            with transaction.atomic():
                results["a"] = services.windows_sweep(now=now)
                a_swept.set()
                a_may_commit.wait(60)
        finally:
            connections.close_all()

    def sweep_b():
        try:
            a_swept.wait(60)
            results["b"] = services.windows_sweep(now=now)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=sweep_a), threading.Thread(target=sweep_b)]
    for thread in threads:
        thread.start()
    with connection.cursor() as cursor:
        deadline = clock.monotonic() + 30
        waiting = 0
        while not waiting and clock.monotonic() < deadline:
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'")
            waiting = cursor.fetchone()[0]
            clock.sleep(0.05)
    a_may_commit.set()
    for thread in threads:
        thread.join(60)
    assert waiting == 1, "sweep B never waited for sweep A's locks"
    assert results == {"a": 30, "b": 0}
    assert missed_tasks().count() == 30


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_sweep_and_a_checkin_racing_for_the_same_window_never_both_win():
    client = factories.client()
    office_hours(client)
    window = window_on(client, 2)
    in_threads(
        lambda: services.window_checkin_received(
            client=client, window=window, checkin_id=99, captured_at=local(2026, 3, 2, 16, 0), received_at=window.deadline_at
        ),
        lambda: services.windows_sweep(now=window.deadline_at + timedelta(seconds=1)),
    )
    window.refresh_from_db()
    tasks = list(missed_tasks(client))
    if window.status == "reported":  # the check-in came first: nothing was missed
        assert tasks == []
    else:  # the sweep came first: one task, and the check-in is on it for the officer
        assert window.status == "missed" and len(tasks) == 1
        assert TaskNote.objects.get(task=tasks[0]).data["checkin_id"] == 99
