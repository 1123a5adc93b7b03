"""Celery tasks of the enforcement domain (the beat schedule is in config/celery.py).

Each calls one service and is safe to run twice or at once: the services claim their work
in the database.
"""

import time
from datetime import datetime, timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from enforcement import audit, metrics, services


@shared_task
def windows_sweep() -> int:
    with metrics.SWEEP_DURATION.time():
        return services.windows_sweep()


@shared_task
def windows_materialise(after_id: int = 0) -> int:
    """Long queue: chunks of conditions for REPORTIN_LONG_TASK_BUDGET seconds, then the rest
    in a new task that starts after the last condition done (each chunk is committed)."""
    created, resume_after = services.windows_materialise_step(
        after_id=after_id, deadline=time.monotonic() + settings.REPORTIN_LONG_TASK_BUDGET
    )
    if resume_after is not None:
        windows_materialise.delay(resume_after)
    return created


@shared_task
def notifications_send() -> int:
    return services.notifications_send()


class InFlightCap:
    """How many messages the dispatcher may have claimed and not yet sent: what the notify
    workers are seen to send in half a lease, so that no chunk waits in the queue past its
    lease (it would be taken again and every message of it looked up at the provider first:
    slower still, and so on), at least two chunks and at most REPORTIN_NOTIFY_MAX_IN_FLIGHT.
    It starts at two chunks and follows the pace measured every `every_s` seconds (sent =
    what was in hand before + what was claimed since - what is in hand now)."""

    def __init__(self, *, chunk: int, lease_s: float, most: int, every_s: float = 2.0):
        self.chunk, self.lease_s, self.most, self.every_s = chunk, lease_s, most, every_s
        self.limit = min(most, 2 * chunk)
        self.pace: float | None = None
        self._since = self._in_hand = self._claimed = None

    def observe(self, *, at: float, in_hand: int) -> None:
        if self._since is None:
            self._since, self._in_hand, self._claimed = at, in_hand, 0
            return
        if at - self._since < self.every_s:
            return
        sent = max(0, self._in_hand + self._claimed - in_hand)
        pace = sent / (at - self._since)
        self.pace = pace if self.pace is None else (self.pace + pace) / 2
        self.limit = int(min(self.most, max(2 * self.chunk, self.pace * self.lease_s / 2)))
        self._since, self._in_hand, self._claimed = at, in_hand, 0

    def claimed(self, count: int) -> None:
        if self._claimed is not None:
            self._claimed += count


@shared_task
def notifications_dispatch(budget_s: float = 50.0) -> int:
    """Claim what is due in chunks and hand each chunk to a notify worker, plus chunks whose
    sender died; never more in hand at once than the workers send in half a lease
    (InFlightCap, at most REPORTIN_NOTIFY_MAX_IN_FLIGHT): the rest waits in the table, not in
    the broker, so no claim outlives its lease in a queue. Runs up to `budget_s`, a beat
    interval. Returns the number of messages handed over."""
    started, handed = time.monotonic(), 0
    chunk = settings.REPORTIN_NOTIFY_CHUNK
    lease = timedelta(seconds=settings.REPORTIN_NOTIFY_LEASE_S)
    cap = InFlightCap(chunk=chunk, lease_s=lease.total_seconds(), most=settings.REPORTIN_NOTIFY_MAX_IN_FLIGHT)
    while time.monotonic() - started < budget_s:
        now = timezone.now()
        stale = services.notifications_reclaim(now=now, lease=lease, limit=chunk)
        if stale:
            notifications_deliver.delay(stale, claimed_at=now.isoformat(), check_provider=True)
        in_hand = services.notifications_in_flight()
        cap.observe(at=time.monotonic(), in_hand=in_hand)
        if in_hand >= cap.limit:
            time.sleep(0.5)
            continue
        now = timezone.now()
        ids = services.notifications_claim(now=now, limit=chunk)
        if ids:
            notifications_deliver.delay(ids, claimed_at=now.isoformat())
            cap.claimed(len(ids))
        handed += len(stale) + len(ids)
        if not ids and not stale:
            break  # nothing due now; the next run (a minute on) takes what falls due meanwhile
    return handed


# acks_late + reject_on_worker_lost: a chunk whose worker was killed goes to another worker,
# which asks the provider before resending (the `redelivered` flag), so nothing is sent twice.
@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True)
def notifications_deliver(self, ids: list[int], claimed_at: str, check_provider: bool = False) -> int:
    redelivered = bool((self.request.delivery_info or {}).get("redelivered"))
    return services.notifications_deliver(
        ids=ids, claimed_at=datetime.fromisoformat(claimed_at), check_provider=check_provider or redelivered
    )


@shared_task
def audit_head_publish() -> int:
    head = audit.head_publish()
    return head["seq"] if head else 0


VERIFY_BATCH = 5000  # audit events read per query while verifying


@shared_task
def audit_verify(cursor: dict | None = None) -> bool | None:
    """Verify the audit chain on the `long` queue, in chunks of REPORTIN_LONG_TASK_BUDGET
    seconds: each chunk hands where it stopped to the task that continues, so a chain of any
    length never holds a worker past its time limit, and a chunk lost with its worker is done
    again from its cursor (nothing is written until the end). The outcome is kept for the
    auditors' dashboard. Returns whether the chain is intact, or None while it continues."""
    start = audit.VerifyCursor(**cursor) if cursor else None
    deadline = time.monotonic() + settings.REPORTIN_LONG_TASK_BUDGET
    report, stopped = audit.verify_part(cursor=start, deadline=deadline, batch_size=VERIFY_BATCH)
    if report is None:
        audit_verify.delay(stopped.as_dict())
        return None
    audit.verification_record(report=report)
    return report.ok
