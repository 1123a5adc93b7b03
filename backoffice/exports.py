"""CSV files of the back office's lists: the one CSV path (`rows` through enforcement.csvfile's
escaping writer, streamed by `csv_response`) for the auditors' lists (consent history, match
log, access log, decision log, audit events), exactly as filtered on the page, and for the
triage queue's export of selected tasks.

A list of at most REPORTIN_EXPORT_STREAM_MAX_ROWS rows is streamed at once. A longer one
becomes an ExportJob that workers write on the `long` queue in resumable parts
(`export_step`, `backoffice.tasks.export_run`) while the page shows its progress; the file is
encrypted at rest and only its requester can download it. Every
export is an audit event: what was exported, with which filters, how many rows, by whom.

The lists a worker may export are named in an explicit registry (backoffice.export_lists:
model, the page's admin class and columns), never looked up in the admin registry: the worker
rebuilds the list through that page's filters, search and region scoping, so the file holds
exactly the rows the auditor saw (with the requester's own visibility).
"""

import io
import logging
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.contrib import admin
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import models, transaction
from django.db.models import F, Max, Q, Value
from django.db.models.functions import Coalesce
from django.http import HttpRequest, QueryDict, StreamingHttpResponse
from django.utils import timezone

from enforcement import csvfile
from enforcement.models import EXPORT_STATUS_TRANSITIONS, ExportJob, ExportStatus, User
from enforcement.transitions import transition

logger = logging.getLogger(__name__)



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


@dataclass(frozen=True)
class ExportableList:
    """A list a worker may export: its model, the admin page it is shown on (the page's
    filters, search, order and region scoping select the rows) and that page's columns
    (`csv_columns`: (header, attribute path or function of the row))."""

    model: type[models.Model]
    page: type[admin.ModelAdmin]

    @property
    def label(self) -> str:
        return self.model._meta.label_lower

    @property
    def columns(self) -> list:
        return self.page.csv_columns

    def queryset(self, *, query: str, user: User):
        """The list as `user` sees it with the filters in `query` (a query string). Raises
        IncorrectLookupParameters for bad filters."""
        page = self.page(self.model, admin.site)
        request = HttpRequest()
        request.method = "GET"
        request.GET = QueryDict(query)
        request.user = user
        return page.get_changelist_instance(request).get_queryset(request)


def csv_response(columns: list, queryset, *, filename: str) -> StreamingHttpResponse:
    """The rows of `queryset` as a CSV download, streamed (never whole in memory)."""
    response = StreamingHttpResponse(csv_lines(rows(columns, queryset)), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store, private"
    return response


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
    from backoffice.tasks import export_run  # the task runs this module's export_step

    export_run.delay(job_id)


class StepOutcome(models.TextChoices):
    SKIPPED = "skipped"  # finished, failed, or held by another worker's live lease
    MORE = "more"  # parts written; the rest continues in a new task
    DONE = "done"
    FAILED = "failed"


def _lease_time() -> timedelta:
    # A step cannot outlive the task time limit, so a lease older than that belongs to a
    # worker that died: the next delivery (Redis gives the message back after the visibility
    # timeout, which is longer) takes the job over where its last committed part ended.
    return timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 5)


def _descending(queryset) -> bool:
    """Whether the list shows its newest rows first (then the file does too)."""
    ordering = list(queryset.query.order_by) or list(queryset.model._meta.ordering)
    return bool(ordering) and str(ordering[0]).startswith("-")


def part_name(job_id: int, number: int) -> str:
    return f"exports/parts/{job_id}/{number:06d}.csv"


def _write_part(name: str, columns, chunk) -> None:
    """One part of the file: the CSV lines of `chunk`, sealed, replacing any copy a dead
    worker left (the same part, written again from the same committed cursor)."""
    if default_storage.exists(name):
        default_storage.delete(name)
    with tempfile.SpooledTemporaryFile(max_size=1024 * 1024) as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8", newline="")
        writer = csvfile.writer(text)
        for obj in chunk:
            writer.writerow([cell(obj, spec) for _, spec in columns])
        text.flush()
        text.detach()
        raw.seek(0)
        saved = default_storage.save(name, File(raw, name=name))
    if saved != name:
        raise RuntimeError(f"export part {name} was stored as {saved}")


class _Parts(io.RawIOBase):
    """The header and the parts, read one after another: the final file is assembled as a
    stream, never whole in memory."""

    def __init__(self, header: bytes, names: list[str]):
        super().__init__()
        self._pending = [header]
        self._names = list(names)
        self._current = None

    def readable(self) -> bool:
        return True

    def readinto(self, target) -> int:
        while True:
            if self._pending:
                data = self._pending.pop(0)[: len(target)]
                target[: len(data)] = data
                return len(data)
            if self._current is None:
                if not self._names:
                    return 0
                self._current = default_storage.open(self._names.pop(0), "rb")
            data = self._current.read(len(target))
            if data:
                target[: len(data)] = data
                return len(data)
            self._current.close()
            self._current = None


def export_step(*, job_id: int, deadline: float, lists: dict[str, ExportableList], now: datetime | None = None) -> str:
    """Write the next parts of an export until `deadline` (time.monotonic()), then the file.

    The job is claimed with a lease (a conditional UPDATE): a duplicate or redelivered
    message finds it held and does nothing. Each part holds up to REPORTIN_EXPORT_CHUNK_ROWS
    rows after the committed cursor (the last id written; ids above the highest one when the
    export started are left out, so rows added meanwhile do not move the end) and commits the
    cursor and `done` with it: a killed worker's job resumes at the last committed part and
    `done` never goes back. The last step joins the parts into the file. `lists`: the lists
    that may be exported, by model label (backoffice.export_lists.LISTS)."""
    now = now or timezone.now()
    lease = now + _lease_time()
    # Conditional UPDATE (the table's sources of `running`, and no live lease): of a duplicate
    # or redelivered message, only one step holds the job at a time.
    claimed = transition(
        ExportJob.objects.filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now), pk=job_id),
        table=EXPORT_STATUS_TRANSITIONS, to=ExportStatus.RUNNING,
        started_at=Coalesce(F("started_at"), Value(now)), lease_until=lease, steps=F("steps") + 1,
    )
    if not claimed:
        return StepOutcome.SKIPPED
    job = ExportJob.objects.select_related("requested_by").get(pk=job_id)
    mine = ExportJob.objects.filter(pk=job_id, lease_until=lease)
    try:
        exportable = lists[job.model_label]
        queryset = exportable.queryset(query=job.query, user=job.requested_by)
        descending = _descending(queryset)
        if job.upper_pk is None:
            upper = queryset.aggregate(top=Max("pk"))["top"] or 0
            total = queryset.filter(pk__lte=upper).count()
            if not mine.update(upper_pk=upper, total=total):
                return StepOutcome.SKIPPED
            job.upper_pk, job.total = upper, total
        columns = exportable.columns
        rows_per_part = settings.REPORTIN_EXPORT_CHUNK_ROWS
        while True:
            remaining = queryset.filter(pk__lte=job.upper_pk).order_by("-pk" if descending else "pk")
            if job.cursor is not None:
                remaining = remaining.filter(**{"pk__lt" if descending else "pk__gt": job.cursor})
            chunk = list(remaining[:rows_per_part])
            if not chunk:
                break
            number = job.parts + 1
            _write_part(part_name(job_id, number), columns, chunk)
            lease = timezone.now() + _lease_time()
            if not mine.update(cursor=chunk[-1].pk, parts=number, done=F("done") + len(chunk), lease_until=lease):
                return StepOutcome.SKIPPED  # the lease ran out and another worker took over
            mine = ExportJob.objects.filter(pk=job_id, lease_until=lease)
            job.cursor, job.parts, job.done = chunk[-1].pk, number, job.done + len(chunk)
            if len(chunk) < rows_per_part:
                break
            if time.monotonic() > deadline:
                mine.update(lease_until=None)
                return StepOutcome.MORE
        header = io.StringIO()
        csvfile.writer(header).writerow([str(h) for h, _ in columns])
        names = [part_name(job_id, n) for n in range(1, job.parts + 1)]
        job.file.save(
            filename(job.model_label, job.created_at),
            File(_Parts(header.getvalue().encode(), names), name="export.csv"),
            save=False,
        )
    except SoftTimeLimitExceeded:
        # Cut short between two committed parts: nothing is lost, the next step goes on.
        mine.update(lease_until=None)
        return StepOutcome.MORE
    except Exception as exc:
        logger.exception("export %s failed", job_id)
        transition(
            mine, table=EXPORT_STATUS_TRANSITIONS, to=ExportStatus.FAILED,
            error=f"{type(exc).__name__}: {exc}"[:2000], finished_at=timezone.now(), lease_until=None,
        )
        return StepOutcome.FAILED
    if not transition(
        mine, table=EXPORT_STATUS_TRANSITIONS, to=ExportStatus.DONE,
        file=job.file.name, total=job.done, finished_at=timezone.now(), lease_until=None,
    ):
        default_storage.delete(job.file.name)
        return StepOutcome.SKIPPED
    for name in names:
        default_storage.delete(name)
    return StepOutcome.DONE
