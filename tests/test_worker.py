"""A real Celery worker process consumes a real task from the configured broker (Redis in CI)
and writes its result to the configured database (PostgreSQL in CI)."""

import pytest
from django.db import connection

from reportin.models import FaceMatch
from reportin.services import checkin_submit
from tests import factories, images
from tests.conftest import wait_for


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_real_worker_scores_a_submitted_checkin(celery_worker, settings):
    client = factories.client()
    factories.reference_photo(client)
    factories.consent_both(client)
    _, device = factories.device(client)
    # A new picture of the same face (a re-sent copy of the reference would be a replay).
    selfie = images.jpeg(images.astronaut_elsewhere(), quality=85)
    from django.utils import timezone

    checkin, created = checkin_submit(
        device=device, selfie=selfie, latitude=43.65, longitude=-79.38, accuracy_m=12,
        captured_at=timezone.now(), idempotency_key="worker-test-1",
    )
    assert created
    match = wait_for(lambda: FaceMatch.objects.filter(checkin=checkin).first(), timeout=90, message=f"a FaceMatch (worker log:\n{celery_worker.log()})")
    assert match.decision == "match", match.detail
    checkin.refresh_from_db()
    assert checkin.status == "verified"
    assert "Task reportin.tasks.checkin_score[" in celery_worker.log()
    print(f"scored by a real worker on {connection.vendor} with broker {settings.CELERY_BROKER_URL.split(':')[0]}")


def _enrolled():
    client = factories.client()
    factories.reference_photo(client)
    factories.consent_both(client)
    _, device = factories.device(client)
    return device


def _submit(device, picture, *, key: str, now=None):
    from django.utils import timezone

    now = now or timezone.now()
    checkin, created = checkin_submit(
        device=device, selfie=images.jpeg(picture), latitude=43.65, longitude=-79.38, accuracy_m=12,
        captured_at=now, idempotency_key=key, now=now,
    )
    assert created
    return checkin


def _log_from(worker, start: int) -> str:
    return worker.log()[start:]


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_duplicate_delivery_creates_one_face_match_and_one_task(celery_worker):
    from enforcement.models import InvestigationTask
    from reportin.tasks import checkin_score

    start = len(celery_worker.log())
    device = _enrolled()
    checkin = _submit(device, images.lfw_face(2), key="twice")  # queued once on commit...
    checkin_score.delay(checkin.pk)  # ...and delivered once more
    wait_for(
        lambda: f"check-in {checkin.pk}: non_match" in _log_from(celery_worker, start)
        and f"check-in {checkin.pk}: nothing to do" in _log_from(celery_worker, start),
        timeout=90, message=f"both deliveries (worker log:\n{_log_from(celery_worker, start)})",
    )
    assert FaceMatch.objects.filter(checkin=checkin).count() == 1
    assert list(InvestigationTask.objects.filter(checkin_id=checkin.pk).values_list("reason", flat=True)) == ["face_non_match"]
    checkin.refresh_from_db()
    assert checkin.status == "needs_review" and checkin.scoring_attempts == 1


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_worker_retries_a_transient_storage_error(celery_worker):
    import os

    from django.db import transaction

    start = len(celery_worker.log())
    device = _enrolled()
    with transaction.atomic():
        checkin = _submit(device, images.astronaut_elsewhere(), key="storage-hiccup")
        path = checkin.selfie.path
        os.rename(path, path + ".away")  # the storage is unavailable when the worker first looks
    wait_for(
        lambda: "retry: Retry in" in _log_from(celery_worker, start),
        timeout=90, message=f"a retry (worker log:\n{_log_from(celery_worker, start)})",
    )
    os.rename(path + ".away", path)
    match = wait_for(lambda: FaceMatch.objects.filter(checkin=checkin).first(), timeout=120, message="the retried scoring")
    assert match.decision == "match" and match.attempts >= 2
    assert "FileNotFoundError" in _log_from(celery_worker, start)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_reconciler_requeues_a_checkin_whose_message_was_lost(celery_worker):
    from datetime import timedelta

    from django.db import transaction
    from django.utils import timezone

    from reportin import scoring, tasks

    start = len(celery_worker.log())
    device = _enrolled()
    now = timezone.now()
    with transaction.atomic():
        checkin = _submit(device, images.astronaut_elsewhere(), key="lost", now=now - timedelta(minutes=10))
        # An attempt holds it when its message arrives, so that message waits for the lease...
        assert scoring._checkin_claim(checkin_id=checkin.pk, now=now)
    wait_for(
        lambda: f"check-in {checkin.pk}: held by another attempt" in _log_from(celery_worker, start),
        timeout=90, message=f"the first delivery (worker log:\n{_log_from(celery_worker, start)})",
    )
    # ...and that attempt then lets go without a result (a transient error whose retry is lost).
    scoring._checkin_release(checkin_id=checkin.pk, claimed_at=now)
    assert not FaceMatch.objects.filter(checkin=checkin).exists()
    assert tasks.checkins_reconcile() == 1  # the beat job, run once here
    match = wait_for(lambda: FaceMatch.objects.filter(checkin=checkin).first(), timeout=90, message="the re-queued scoring")
    assert match.decision == "match" and match.attempts == 2
