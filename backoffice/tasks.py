"""The back office's Celery task: writing a long CSV export (backoffice.exports)."""

import time

from celery import shared_task
from django.conf import settings

from backoffice import export_lists, exports


@shared_task(acks_late=True, reject_on_worker_lost=True)
def export_run(job_id: int) -> str:
    """Long queue: write parts of the export for REPORTIN_LONG_TASK_BUDGET seconds, then
    queue the rest (backoffice.exports.export_step)."""
    outcome = exports.export_step(
        job_id=job_id, deadline=time.monotonic() + settings.REPORTIN_LONG_TASK_BUDGET, lists=export_lists.LISTS
    )
    if outcome == exports.StepOutcome.MORE:
        export_run.delay(job_id)
    return outcome
