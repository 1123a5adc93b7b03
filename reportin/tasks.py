"""Celery tasks of the mobile side. Each takes ids, re-fetches, calls one service."""

import logging

from celery import shared_task
from django.utils import timezone

from reportin import services

logger = logging.getLogger(__name__)


@shared_task(
    # The message is acknowledged only after the attempt, and a worker that dies mid-attempt
    # gives it back: a check-in is never dropped by a crash (the claim's lease and attempt
    # count stop an image that crashes every time).
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=services.SCORING_SOFT_TIME_LIMIT,
    time_limit=services.SCORING_TIME_LIMIT,
    autoretry_for=services.TRANSIENT_ERRORS,
    retry_backoff=5,
    retry_backoff_max=60,
    retry_jitter=True,
    max_retries=services.MAX_SCORING_ATTEMPTS,
)
def checkin_score(checkin_id: int) -> str:
    match = services.checkin_score(checkin_id=checkin_id)
    if match is None:
        logger.info("check-in %s: nothing to do (already scored, or claimed by another attempt)", checkin_id)
        return "skipped"
    logger.info("check-in %s: %s", checkin_id, match.decision)
    return match.decision


@shared_task
def checkins_reconcile() -> int:
    """Queue again every check-in left unjudged, so that a message lost by the broker (or
    never sent) does not lose a check-in."""
    return len(services.checkins_requeue(now=timezone.now()))



@shared_task
def data_purge_expired() -> dict:
    """Daily: delete the images and encodings whose retention period is over (audited)."""
    from reportin import retention

    return retention.purge_expired().counts
