"""Celery tasks of the mobile side. Each takes ids, re-fetches, calls one service."""

import logging
from datetime import timedelta

from celery import shared_task
from django.utils import timezone

from reportin import services
from reportin.models import CheckIn, CheckInStatus

logger = logging.getLogger(__name__)

RECONCILE_AFTER = timedelta(minutes=3)


@shared_task(acks_late=True, reject_on_worker_lost=True)
def checkin_score(checkin_id: int) -> None:
    services.checkin_score(checkin_id=checkin_id)


@shared_task
def checkins_reconcile() -> int:
    """Queue again every check-in still unjudged a few minutes after it arrived, so that a
    message lost by the broker (or never sent) does not lose a check-in."""
    cutoff = timezone.now() - RECONCILE_AFTER
    ids = list(
        CheckIn.objects.filter(status__in=[CheckInStatus.RECEIVED, CheckInStatus.SCORING], received_at__lt=cutoff)
        .order_by("received_at")
        .values_list("pk", flat=True)[:1000]
    )
    for checkin_id in ids:
        checkin_score.delay(checkin_id)
    if ids:
        logger.info("reconciler re-queued %d check-ins", len(ids))
    return len(ids)
