"""Celery tasks of the enforcement domain (the beat schedule is in config/celery.py).

Each calls one service and is safe to run twice or at once: the services claim their work
in the database.
"""

from celery import shared_task

from enforcement import audit, services


@shared_task
def windows_sweep() -> int:
    return services.windows_sweep()


@shared_task
def windows_materialise() -> int:
    return services.windows_materialise()


@shared_task
def notifications_send() -> int:
    return services.notifications_send()


@shared_task(acks_late=True, reject_on_worker_lost=True)
def export_run(job_id: int) -> str:
    from enforcement import exports

    job = exports.export_run(job_id=job_id)
    return "skipped" if job is None else job.status


@shared_task
def audit_head_publish() -> int:
    head = audit.head_publish()
    return head["seq"] if head else 0


@shared_task
def audit_verify() -> bool:
    report = audit.verify()
    audit.verification_record(report=report)
    return report.ok
