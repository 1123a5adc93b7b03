"""Celery tasks of the mobile side. Each takes ids, re-fetches, calls one service."""

import ctypes
import ctypes.util
import logging
import time

from celery import shared_task
from celery.signals import task_postrun
from django.conf import settings
from django.utils import timezone
from kombu.utils.uuid import uuid

from enforcement import metrics
from reportin import scoring

logger = logging.getLogger(__name__)


@shared_task(
    bind=True,
    # The message is acknowledged only after the attempt, and a worker that dies mid-attempt
    # gives it back: a check-in is never dropped by a crash (the claim's lease and attempt
    # count stop an image that crashes every time).
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=scoring.SCORING_SOFT_TIME_LIMIT,
    time_limit=scoring.SCORING_TIME_LIMIT,
    autoretry_for=scoring.TRANSIENT_ERRORS,
    retry_backoff=5,
    retry_backoff_max=60,
    retry_jitter=True,
    max_retries=scoring.MAX_SCORING_ATTEMPTS,
)
def checkin_score(self, checkin_id: int) -> str:
    # Celery keeps a retry's `max_retries` on the task object itself (override_max_retries),
    # where autoretry reads it for every later message of this process: the "held by another
    # attempt" retry below would otherwise leave transient errors one retry for good.
    vars(self).pop("override_max_retries", None)
    match = scoring.checkin_score(checkin_id=checkin_id, attempt_id=self.request.id or "")
    if match is not None:
        logger.info("check-in %s: %s", checkin_id, match.decision)
        metrics.VERDICT_LATENCY.labels(match.decision).observe(max(0.0, (match.scored_at - match.checkin.received_at).total_seconds()))
        return match.decision
    wait = scoring.checkin_claim_wait(checkin_id=checkin_id, now=timezone.now())
    if wait is None:
        logger.info("check-in %s: nothing to do (already scored)", checkin_id)
        return "skipped"
    # Another attempt holds it. Dropping this message would leave the check-in to the
    # reconciler if that attempt has died; trying again when its lease runs out bounds
    # recovery by one lease. Bounded: each claim counts an attempt, and after
    # MAX_SCORING_ATTEMPTS the check-in is recorded as unreadable.
    logger.info("check-in %s: held by another attempt; trying again in %.0f s", checkin_id, wait + 1)
    # (max_retries: this wait is not a failed attempt, so it must not use up the retries.)
    raise self.retry(countdown=wait + 1, max_retries=self.request.retries + 1)


def _malloc_trim():
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc
        return None


_trim = _malloc_trim()


@task_postrun.connect(sender=checkin_score)
def _memory_back(**_):
    """Hand the decode buffers of the attempt back to the system. glibc keeps freed heap for
    reuse; a pool process that once decoded a large image would otherwise stay that large."""
    if _trim is not None:
        _trim(0)


@shared_task
def checkins_reconcile() -> int:
    """Queue again every check-in left unjudged, so that a message lost by the broker (or
    never sent) does not lose a check-in."""
    from config.celery import app

    deadline = time.monotonic() + settings.REPORTIN_LONG_TASK_BUDGET
    count = 0
    # One producer (one broker connection) for the whole run: a backlog of 100,000 after a
    # broker outage goes out at thousands a second, in batches, with no cap on the total. What
    # is left when the time budget is spent goes out with the next minute's run.
    queue = app.amqp.router.route({}, checkin_score.name)["queue"]
    with app.producer_or_acquire() as producer:
        for ids in scoring.checkins_to_requeue(now=timezone.now(), queued=_queue_length("scoring")):
            # The same messages as checkin_score.delay() sends, built without apply_async's
            # per-call overhead and sent through the transport's pipeline (one round trip
            # per thousand on Redis): about 5x the rate of delay() in a loop.
            with producer.batch(max_size=1000):
                for checkin_id in ids:
                    message = app.amqp.as_task_v2(uuid(), checkin_score.name, args=(checkin_id,))
                    producer.publish(
                        # The default exchange delivers straight to the queue named by the
                        # routing key (AMQP and Redis alike), with no binding lookup per message.
                        message.body, exchange="", routing_key=queue.name, declare=[queue] if not count else None,
                        headers=message.headers, serializer="json", retry=True, **message.properties,
                    )
                    count += 1
            if time.monotonic() > deadline:
                logger.info("reconciler reached its time budget; the rest goes with the next run")
                break
    if count:
        logger.info("reconciler re-queued %d check-ins", count)
    return count


def _queue_length(queue: str) -> int | None:
    """Messages waiting in a queue, or None when the broker cannot tell. A queue the broker
    does not know holds nothing: Redis keeps no key for an empty list, so an empty queue
    answers a passive declare with 404 NOT_FOUND (as an undeclared one does on RabbitMQ)."""
    from config.celery import app

    try:
        with app.connection_for_read() as connection:
            return connection.default_channel.queue_declare(queue=queue, passive=True).message_count
    except Exception as error:
        if str(getattr(error, "reply_code", "")) == "404":
            return 0
        logger.warning("could not read the length of the %s queue", queue, exc_info=True)
        return None


# Items deleted per purge step: one plan query per step, and a step ends quickly.
PURGE_STEP = 200


@shared_task
def data_purge_expired() -> dict:
    """Daily: delete the images and encodings whose retention period is over (audited).

    Runs in steps within REPORTIN_LONG_TASK_BUDGET seconds, then queues itself for the rest:
    every step recomputes what is due, so what a killed worker left undone is simply found
    again, and nothing is deleted twice."""
    from reportin import retention

    deadline = time.monotonic() + settings.REPORTIN_LONG_TASK_BUDGET
    totals: dict[str, int] = {}
    while True:
        # At most one step's worth of ids per class: a backlog of millions of rows (the first
        # run of row retention) costs each step a bounded query, not a list of every id.
        plan = retention.purge_plan(now=timezone.now(), limit=PURGE_STEP + 1)
        step, left = {}, PURGE_STEP
        for data_class, ids in plan.items():
            step[data_class], left = ids[:left], left - len(ids[:left])
        counts = retention.purge_expired(plan=step).counts
        for data_class, count in counts.items():
            totals[data_class] = totals.get(data_class, 0) + count
        more = sum(len(ids) for ids in plan.values()) > PURGE_STEP
        # Continue only while steps make progress: an item that stays due but cannot be
        # deleted must not keep the queue busy for ever.
        if not more or not any(counts.values()):
            return totals
        if time.monotonic() > deadline:
            data_purge_expired.delay()
            logger.info("purge: %s so far; the rest continues in a new task", totals)
            return totals


@shared_task
def figures_rollup_day(day: str) -> int:
    """Count one past day (ISO date) into the accountability figures' table; returns its check-ins."""
    from datetime import date

    from reportin import accountability

    return accountability.rollup_day(day=date.fromisoformat(day)).checkins


@shared_task
def figures_rollup_recent() -> list[str]:
    """Nightly: queue the rollup of each of the last REPORTIN_ROLLUP_DAYS days, one task per
    day (each well within the task time limit; a failed day is counted again the next night)."""
    from datetime import timedelta

    today = timezone.now().date()
    days = [(today - timedelta(days=k)).isoformat() for k in range(1, settings.REPORTIN_ROLLUP_DAYS + 1)]
    for day in days:
        figures_rollup_day.delay(day)
    return days
