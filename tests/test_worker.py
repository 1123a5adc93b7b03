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
