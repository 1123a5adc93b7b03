"""Celery tasks of the enforcement domain (the beat schedule is in config/celery.py).

Each calls one service and is safe to run twice or at once: the services claim their work
in the database.
"""

import time

from celery import shared_task
from django.conf import settings

from enforcement import audit, services


@shared_task
def windows_sweep() -> int:
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


@shared_task(acks_late=True, reject_on_worker_lost=True)
def export_run(job_id: int) -> str:
    """Long queue: write parts of the export for REPORTIN_LONG_TASK_BUDGET seconds, then
    queue the rest (enforcement.exports.export_step)."""
    from enforcement import exports

    outcome = exports.export_step(job_id=job_id, deadline=time.monotonic() + settings.REPORTIN_LONG_TASK_BUDGET)
    if outcome == exports.StepOutcome.MORE:
        export_run.delay(job_id)
    return outcome


@shared_task
def audit_head_publish() -> int:
    head = audit.head_publish()
    return head["seq"] if head else 0


@shared_task
def audit_verify() -> bool:
    report = audit.verify()
    audit.verification_record(report=report)
    return report.ok
