"""The rules the database itself enforces, tried directly."""

from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from enforcement import models as em
from enforcement.services import task_open
from reportin import models as rm
from tests import factories

pytestmark = pytest.mark.django_db

def test_regions_and_roles_are_created_by_migrations():
    regions = dict(em.Region.objects.values_list("code", "time_zone"))
    assert len(regions) == 7
    assert regions["pacific"] == "America/Vancouver"
    assert regions["atlantic"] == "America/Halifax"
    from django.contrib.auth.models import Group

    officer = set(Group.objects.get(name="Officer").permissions.values_list("codename", flat=True))
    auditor = set(Group.objects.get(name="Auditor").permissions.values_list("codename", flat=True))
    supervisor = set(Group.objects.get(name="Supervisor").permissions.values_list("codename", flat=True))
    assert {"change_investigationtask", "view_biometrics", "view_checkin", "change_device"} <= officer
    assert "reassign_task" not in officer and "reassign_task" in supervisor
    assert "approve_escalation" in supervisor
    assert auditor and all(code.startswith("view_") for code in auditor)
    assert "view_biometrics" not in auditor


@pytest.fixture
def checkin():
    client = factories.client()
    factories.consent_both(client)
    _, device = factories.device(client)
    now = timezone.now()
    return rm.CheckIn.objects.create(
        client=client, device=device, latitude=45.0, longitude=-75.0, accuracy_m=10, captured_at=now,
        received_at=now, idempotency_key="k1", request_fingerprint="f",
    )


def test_idempotency_key_is_unique_per_device(checkin):
    with pytest.raises(IntegrityError):
        rm.CheckIn.objects.create(
            client=checkin.client, device=checkin.device, latitude=1, longitude=1, accuracy_m=5,
            captured_at=checkin.captured_at, received_at=checkin.received_at, idempotency_key="k1", request_fingerprint="g",
        )


def test_the_same_idempotency_key_on_another_device_is_fine(checkin):
    _, other = factories.device(checkin.client, name="Second phone")
    rm.CheckIn.objects.create(
        client=checkin.client, device=other, latitude=1, longitude=1, accuracy_m=5,
        captured_at=checkin.captured_at, received_at=checkin.received_at, idempotency_key="k1", request_fingerprint="g",
    )


@pytest.mark.parametrize(("field", "value"), [("latitude", 91), ("longitude", -181), ("accuracy_m", 0)])
def test_checkin_coordinates_are_range_checked_by_the_database(checkin, field, value):
    with pytest.raises(IntegrityError):
        rm.CheckIn.objects.filter(pk=checkin.pk).update(**{field: value})


def test_one_face_match_per_checkin(checkin):
    fields = {"decision": "match", "threshold": 0.5, "model_version": "m", "pipeline_version": "p", "duration_ms": 1, "scored_at": timezone.now()}
    rm.FaceMatch.objects.create(checkin=checkin, **fields)
    with pytest.raises(IntegrityError):
        rm.FaceMatch.objects.create(checkin=checkin, **fields)


def test_one_task_per_reason_and_source(checkin):
    first, created = task_open(client=checkin.client, reason="face_non_match", checkin_id=checkin.pk)
    again, created_again = task_open(client=checkin.client, reason="face_non_match", checkin_id=checkin.pk)
    assert created and not created_again and again.pk == first.pk
    other, created_other = task_open(client=checkin.client, reason="location_outside_area", checkin_id=checkin.pk)
    assert created_other and other.pk != first.pk
    with pytest.raises(IntegrityError), transaction.atomic():
        em.InvestigationTask.objects.create(
            client=checkin.client, region=checkin.client.region, reason="face_non_match", checkin_id=checkin.pk,
            due_by=timezone.now(), created_at=timezone.now(),
        )


def test_a_task_cannot_be_resolved_without_a_resolution(checkin):
    task, _ = task_open(client=checkin.client, reason="no_face", checkin_id=checkin.pk)
    with pytest.raises(IntegrityError):
        em.InvestigationTask.objects.filter(pk=task.pk).update(status="resolved", resolved_at=timezone.now())


def test_one_active_condition_per_client():
    client = factories.client()
    factories.condition(client)
    factories.condition(client)  # the service replaces the active one
    assert client.conditions.filter(active=True).count() == 1
    with pytest.raises(IntegrityError):
        client.conditions.update(active=True)


def test_escalation_needs_two_different_people(checkin):
    officer = factories.staff("o1")
    task, _ = task_open(client=checkin.client, reason="no_face", checkin_id=checkin.pk)
    escalation = em.Escalation.objects.create(
        task=task, client=checkin.client, kind="case_review", reason="r", proposed_by=officer, proposed_at=timezone.now()
    )
    with pytest.raises(IntegrityError):
        em.Escalation.objects.filter(pk=escalation.pk).update(decided_by=officer, status="approved")


def test_window_times_are_ordered():
    client = factories.client()
    condition = factories.condition(client)
    now = timezone.now()
    with pytest.raises(IntegrityError):
        em.ReportingWindow.objects.create(
            condition=condition, client=client, opens_at=now, closes_at=now - timedelta(minutes=1), deadline_at=now
        )


@pytest.mark.parametrize("schedule", ["weekly", "every_n_days", "monthly"])
def test_a_schedule_without_the_field_it_needs_is_refused_by_the_database(schedule):
    # NULL compares as unknown in SQL, and a CHECK passes on unknown: the constraint says IS NOT NULL.
    client = factories.client()
    with pytest.raises(IntegrityError), transaction.atomic():
        em.ReportingCondition.objects.create(
            client=client, schedule=schedule, weekdays=None, interval_days=None, day_of_month=None,
            window_start="09:00", window_minutes=60, grace_minutes=0, starts_on="2026-03-01",
        )


def test_the_models_and_their_migrations_agree():
    from django.core.management import call_command

    # Exits (SystemExit) when a model change has no migration.
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)
    call_command("check", fail_level="WARNING")
