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
    client.force_login(officer)
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
        InvestigationTask.objects.create(client=person, reason="missed_report", window=second, due_by=timezone.now(), created_at=timezone.now())
    assert task.window == first


def test_the_decision_on_a_task_settles_every_checkin_it_gathered():
    case = face_task()
    now = timezone.now()
    checkin, _ = reportin_services.checkin_submit(
        device=case["device"], selfie=images.jpeg(images.lfw_face(2)), latitude=43.65, longitude=-79.38, accuracy_m=20,
        captured_at=now, idempotency_key="second", now=now,
    )
    scoring.checkin_score(checkin_id=checkin.pk, now=now)
    assert list(case["client"].tasks.values_list("pk", flat=True)) == [case["task"].pk]
    assert TaskNote.objects.get(task=case["task"], kind="event").checkin_id == checkin.pk
    reportin_services.task_decide(task=case["task"], resolution="identity_not_confirmed", note="Not her, twice.", officer=factories.staff("gathered"))
    assert set(CheckIn.objects.filter(client=case["client"]).values_list("status", flat=True)) == {CheckInStatus.REJECTED}


def test_the_migration_merges_existing_duplicates_into_the_oldest_open_task():
    from importlib import import_module

    merge = import_module("enforcement.migrations.0007_promises_one_open_task").merge_duplicate_open_tasks
    person = factories.client()
    factories.office_hours(person)
    services.windows_sweep(now=local(2026, 3, 4, 18, 1))
    windows = list(person.windows.filter(status="missed").order_by("opens_at"))
    kept = InvestigationTask.objects.get(client=person)
    # The state before the constraint: one task per missed window.
    with connection.cursor() as cursor:
        cursor.execute("DROP INDEX task_one_open_per_client_reason")
    now = timezone.now()
    duplicates = [
        InvestigationTask.objects.create(
            client=person, reason="missed_report", window=window, priority=TaskPriority.URGENT, due_by=now, created_at=now + timedelta(seconds=i)
        )
        for i, window in enumerate(windows[1:])
    ]
    TaskNote.objects.filter(task=kept).delete()
    from django.apps import apps

    merge(apps, None)
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE UNIQUE INDEX task_one_open_per_client_reason ON enforcement_investigationtask (client_id, reason) "
            "WHERE status IN ('open', 'in_progress')"
        )
    kept.refresh_from_db()
    assert kept.status == "open" and kept.priority == TaskPriority.URGENT
    assert sorted(note.window_id for note in kept.notes.filter(kind="event")) == [w.pk for w in windows[1:]]
    for duplicate in duplicates:
        duplicate.refresh_from_db()
        assert (duplicate.status, duplicate.resolution) == ("resolved", "merged")
        assert f"task {kept.pk}" in duplicate.resolution_note
