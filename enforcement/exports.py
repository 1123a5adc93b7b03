"""CSV exports of the auditors' lists (consent history, match log, access log, decision log,
audit events), exactly as filtered on the page.

A list of at most REPORTIN_EXPORT_STREAM_MAX_ROWS rows is streamed at once. A longer one
becomes an ExportJob that a worker writes (`enforcement.tasks.export_run`) while the page shows
its progress; the file is encrypted at rest and only its requester can download it. Every
export is an audit event: what was exported, with which filters, how many rows, by whom.

The worker rebuilds the list through the same admin class and filters as the page, so the
file holds exactly the rows the auditor saw (with the requester's own visibility). Each list
names its columns in `csv_columns` on its admin class: (header, attribute path or function).
"""

import io
import logging
import tempfile
from collections.abc import Iterable, Iterator
from datetime import datetime

from django.apps import apps
from django.contrib import admin
from django.core.files import File
from django.db import transaction
from django.http import HttpRequest, QueryDict
from django.utils import timezone

from enforcement import csvfile
from enforcement.errors import InvalidTransition
from enforcement.models import EXPORT_STATUS_TRANSITIONS, ExportJob, ExportStatus, User

logger = logging.getLogger(__name__)

# Rows between two progress updates of a running export.
PROGRESS_EVERY = 500


def cell(obj, spec) -> object:
    """One CSV cell: `spec` is a function of the row or a dotted/double-underscore path."""
    if callable(spec):
        value = spec(obj)
    else:
        value = obj
        for part in spec.replace(".", "__").split("__"):
            value = getattr(value, part, None) if value is not None else None
    return csvfile.safe(value)


def rows(columns: list[tuple[str, object]], queryset) -> Iterator[list]:
    yield [str(header) for header, _ in columns]
    for obj in queryset.iterator(chunk_size=2000):
        yield [cell(obj, spec) for _, spec in columns]


def csv_lines(lines: Iterable[list]) -> Iterator[str]:
    return csvfile.lines(lines)


def filename(model_label: str, now: datetime) -> str:
    return f"{model_label.replace('.', '-')}-{now:%Y%m%d-%H%M%S}.csv"


def list_queryset(*, model_label: str, query: str, user: User):
    """The admin list `model_label` as `user` sees it with the filters in `query` (a query
    string): (model admin, queryset). Raises IncorrectLookupParameters for bad filters."""
    model = apps.get_model(model_label)
    model_admin = admin.site._registry[model]
    request = HttpRequest()
    request.method = "GET"
    request.GET = QueryDict(query)
    request.user = user
    changelist = model_admin.get_changelist_instance(request)
    return model_admin, changelist.get_queryset(request)


def export_audit(*, user: User, action: str, model_label: str, query: str, rows: int, job: ExportJob | None = None, now=None):
    from enforcement.services import audit_record

    audit_record(
        actor=user,
        action=action,
        obj=job,
        details={"list": model_label, "filters": query, "rows": rows},
        now=now,
    )


@transaction.atomic
def export_start(*, user: User, model_label: str, query: str, total: int, now: datetime | None = None) -> ExportJob:
    """Record a background export and queue it once the request commits."""
    now = now or timezone.now()
    job = ExportJob.objects.create(requested_by=user, model_label=model_label, query=query, total=total, created_at=now)
    export_audit(user=user, action="export.request", model_label=model_label, query=query, rows=total, job=job, now=now)
    transaction.on_commit(lambda: _export_enqueue(job.pk))
    return job


def _export_enqueue(job_id: int) -> None:
    from enforcement.tasks import export_run

    export_run.delay(job_id)


def export_run(*, job_id: int, now: datetime | None = None) -> ExportJob | None:
    """Write an export's file, counting progress as it goes. Returns None when the job is
    not waiting (already written, or failed)."""
    now = now or timezone.now()
    for old in (ExportStatus.PENDING, ExportStatus.RUNNING):
        InvalidTransition.check(EXPORT_STATUS_TRANSITIONS, old, ExportStatus.RUNNING)
    # Conditional UPDATE: a duplicate message finds the job taken or finished. A redelivery
    # after a crash (status still running) starts the file again from the beginning.
    claimed = ExportJob.objects.filter(pk=job_id, status__in=[ExportStatus.PENDING, ExportStatus.RUNNING]).update(
        status=ExportStatus.RUNNING, started_at=now, done=0
    )
    if not claimed:
        return None
    job = ExportJob.objects.select_related("requested_by").get(pk=job_id)
    try:
        model_admin, queryset = list_queryset(model_label=job.model_label, query=job.query, user=job.requested_by)
        total = queryset.count()
        ExportJob.objects.filter(pk=job_id).update(total=total)
        with tempfile.TemporaryFile() as raw:
            text = io.TextIOWrapper(raw, encoding="utf-8", newline="")
            writer = csvfile.writer(text)
            written = -1  # the header is not a row
            for line in rows(model_admin.csv_columns, queryset):
                writer.writerow(line)
                written += 1
                if written and written % PROGRESS_EVERY == 0:
                    ExportJob.objects.filter(pk=job_id).update(done=written)
            text.flush()
            text.detach()
            raw.seek(0)
            job.file.save(filename(job.model_label, now), File(raw), save=False)
    except Exception as exc:
        logger.exception("export %s failed", job_id)
        InvalidTransition.check(EXPORT_STATUS_TRANSITIONS, ExportStatus.RUNNING, ExportStatus.FAILED)
        ExportJob.objects.filter(pk=job_id).update(
            status=ExportStatus.FAILED, error=f"{type(exc).__name__}: {exc}"[:2000], finished_at=timezone.now()
        )
        return ExportJob.objects.get(pk=job_id)
    InvalidTransition.check(EXPORT_STATUS_TRANSITIONS, ExportStatus.RUNNING, ExportStatus.DONE)
    ExportJob.objects.filter(pk=job_id).update(
        status=ExportStatus.DONE, file=job.file.name, done=written, total=written, finished_at=timezone.now()
    )
    return ExportJob.objects.get(pk=job_id)
