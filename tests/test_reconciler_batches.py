"""The reconciler re-queues every check-in left unjudged, in batches, with no fixed cap
(issue 16.6: a cap of 1,000 a minute took 90 minutes to re-queue a 30-minute outage)."""

import logging
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from reportin import scoring
from reportin.services import checkin_submit
from tests import factories, images

pytestmark = pytest.mark.django_db


def _received(n: int) -> list[int]:
    client = factories.client()
    factories.consent_both(client)
    _, device = factories.device(client)
    selfie = images.jpeg(images.astronaut_elsewhere(), quality=80)
    ids = []
    for i in range(n):
        checkin, created = checkin_submit(
            device=device, selfie=selfie, latitude=43.65, longitude=-79.38, accuracy_m=12,
            captured_at=timezone.now(), idempotency_key=f"backlog-{i}",
        )
        assert created
        ids.append(checkin.pk)
    return ids


def test_every_checkin_left_unjudged_is_requeued_in_batches_with_no_cap(settings):
    ids = _received(7)
    later = timezone.now() + timedelta(minutes=30)  # the broker lost them all; nothing was scored
    batches = list(scoring.checkins_to_requeue(now=later, queued=0, batch=3))
    assert [len(b) for b in batches] == [3, 3, 1]
    assert sorted(pk for b in batches for pk in b) == sorted(ids)
    assert list(scoring.checkins_to_requeue(now=later, queued=None, batch=100)) == [ids]  # oldest first


def test_a_queue_that_holds_part_of_the_backlog_gets_only_the_rest():
    ids = _received(5)
    later = timezone.now() + timedelta(minutes=30)
    # A run stopped at its time budget after queueing the three oldest: two are missing.
    assert list(scoring.checkins_to_requeue(now=later, queued=3, batch=100)) == [ids[3:]]
    assert list(scoring.checkins_to_requeue(now=later, queued=5, batch=100)) == []  # behind, not lossy
    assert list(scoring.checkins_to_requeue(now=timezone.now(), queued=0)) == []  # too recent to be lost


def test_an_empty_queue_counts_as_empty_without_a_warning(settings, caplog):
    """On Redis an empty queue has no key, and the broker answers 404 NOT_FOUND: the reconciler
    reads that as 0 waiting, not as "cannot tell" with a warning on every run."""
    from reportin.tasks import _queue_length

    with caplog.at_level(logging.WARNING, logger="reportin.tasks"):
        assert _queue_length(f"empty-{uuid.uuid4().hex}") == 0
    assert not caplog.records, [record.getMessage() for record in caplog.records]
