"""One task per open problem: at most one open task per client and reason (a partial unique
constraint, after a migration that merged existing duplicates). A later event of the same
kind joins the open task as a note the officer sees, and the task's decision settles it."""

from datetime import timedelta

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from enforcement import services
from enforcement.models import InvestigationTask, TaskNote, TaskPriority
from enforcement.selectors import consent_current_versions
from reportin import scoring
from reportin import services as reportin_services
from reportin.models import CheckIn, CheckInStatus
from tests import factories, images
from tests.officer import face_task

pytestmark = pytest.mark.django_db

local = factories.toronto


def test_withdrawing_and_regranting_consent_ten_times_opens_one_task_the_officer_sees_whole(client):
    person = factories.client()
    factories.consent_both(person)
    version = consent_current_versions()["app_use"]
    for _ in range(10):
        services.consent_record(client=person, kind="app_use", decision="withdrawn", text_version=version, language="en", channel="app")
        services.consent_record(client=person, kind="app_use", decision="granted", text_version=version, language="en", channel="app")
    task = InvestigationTask.objects.get(client=person, reason="consent_withdrawn")
    assert task.priority == TaskPriority.HIGH
    events = TaskNote.objects.filter(task=task, kind=TaskNote.Kind.EVENT)
    assert events.count() == 9 and all(note.consent_record_id for note in events)
    officer = factories.staff("consent-officer")
    factories.staff_login(client, officer)
    page = client.get(f"/admin/enforcement/investigationtask/{task.pk}/change/").content.decode()
    assert page.count("Further event") == 9 and "The client said no again (withdrawn)." in page


def test_two_consecutive_misses_make_one_task_with_a_note_and_a_higher_priority():
    person = factories.client()
    factories.office_hours(person)
    services.windows_sweep(now=local(2026, 3, 2, 18, 1))
    services.windows_sweep(now=local(2026, 3, 3, 18, 1))
    services.windows_sweep(now=local(2026, 3, 3, 18, 2))  # again: nothing new
    task = InvestigationTask.objects.get(client=person, reason="missed_report")
    assert task.window.opens_at == local(2026, 3, 2, 9, 0)
    (note,) = TaskNote.objects.filter(task=task, kind=TaskNote.Kind.EVENT)
    assert note.window.opens_at == local(2026, 3, 3, 9, 0) and note.window.status == "missed"
    assert task.priority == TaskPriority.HIGH
    services.windows_sweep(now=local(2026, 3, 4, 18, 1))
    task.refresh_from_db()
    person.refresh_from_db()
    assert (task.priority, person.supervisor_attention) == (TaskPriority.URGENT, True)
    # Once the officer has decided, the next miss is a new problem: a new task.
    reportin_services.task_decide(task=task, resolution="contact_made", note="Spoke to her.", officer=factories.staff("misses"))
    services.windows_sweep(now=local(2026, 3, 5, 18, 1))
    assert InvestigationTask.objects.filter(client=person, reason="missed_report").count() == 2


def test_the_database_holds_one_open_task_per_client_and_reason():
    person = factories.client()
    factories.office_hours(person)
    services.windows_sweep(now=local(2026, 3, 3, 18, 1))
    first, second = person.windows.filter(status="missed").order_by("opens_at")[:2]
    task = InvestigationTask.objects.get(client=person)
    with pytest.raises(IntegrityError), transaction.atomic():
        InvestigationTask.objects.create(
            client=person, region=person.region, reason="missed_report", window=second, due_by=timezone.now(), created_at=timezone.now()
        )
    assert task.window == first


def test_the_decision_on_a_task_settles_every_checkin_it_gathered(client):
    case = face_task()
    now = timezone.now()
    checkin, _ = reportin_services.checkin_submit(
        device=case["device"], selfie=images.jpeg(images.lfw_face(2)), latitude=43.65, longitude=-79.38, accuracy_m=20,
        captured_at=now, idempotency_key="second", now=now,
    )
    scoring.checkin_score(checkin_id=checkin.pk, now=now)
    assert list(case["client"].tasks.values_list("pk", flat=True)) == [case["task"].pk]
    assert TaskNote.objects.get(task=case["task"], kind="event").checkin_id == checkin.pk
    officer = factories.staff("gathered")
    factories.staff_login(client, officer)
    page = client.get(f"/admin/enforcement/investigationtask/{case['task'].pk}/change/").content.decode()
    assert f"/admin/reportin/checkin/{checkin.pk}/selfie/" in page  # the officer sees the second selfie too
    reportin_services.task_decide(task=case["task"], resolution="identity_not_confirmed", note="Not her, twice.", officer=officer)
    assert set(CheckIn.objects.filter(client=case["client"]).values_list("status", flat=True)) == {CheckInStatus.REJECTED}


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_migration_merges_existing_duplicates_into_the_oldest_open_task():
    """Migrated back to before the constraint, duplicates made as the old code made them (one
    task per missed window), migrated forward: the oldest open task stays with the others'
    sources as notes and their highest priority; the others are resolved as merged."""
    from django.db.migrations.executor import MigrationExecutor

    before, latest = [("enforcement", "0006_condition_schedule_not_null")], MigrationExecutor(connection).loader.graph.leaf_nodes()
    person = factories.client()
    factories.office_hours(person)
    windows = list(person.windows.order_by("opens_at")[:3])
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    old = executor.loader.project_state(before).apps
    Task = old.get_model("enforcement", "InvestigationTask")
    now = timezone.now()
    tasks = [
        Task.objects.create(
            client_id=person.pk, reason="missed_report", window_id=window.pk, priority=priority, status="open",
            due_by=now, created_at=now + timedelta(minutes=i),
        )
        for i, (window, priority) in enumerate(zip(windows, (2, 4, 3), strict=True))
    ]
    other = Task.objects.create(client_id=person.pk, reason="no_face", checkin_id=7, due_by=now, created_at=now)
    executor = MigrationExecutor(connection)
    executor.migrate(latest)
    kept = InvestigationTask.objects.get(pk=tasks[0].pk)
    assert (kept.status, kept.priority) == ("open", TaskPriority.URGENT)
    assert sorted(note.window_id for note in kept.notes.filter(kind="event")) == [w.pk for w in windows[1:]]
    for duplicate in InvestigationTask.objects.filter(pk__in=[t.pk for t in tasks[1:]]):
        assert (duplicate.status, duplicate.resolution) == ("resolved", "merged")
        assert f"task {kept.pk}" in duplicate.resolution_note
    assert InvestigationTask.objects.get(pk=other.pk).status == "open"
    with pytest.raises(IntegrityError), transaction.atomic():
        InvestigationTask.objects.create(client=person, reason="missed_report", window=windows[2], due_by=now, created_at=now)
