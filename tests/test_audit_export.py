"""CSV exports of auditor lists too long to stream at once: a real Celery worker writes the file
while a progress page follows it; the file is encrypted at rest and only its requester gets it."""

import csv
import io
from datetime import timedelta

import pytest
from django.core.files.storage import default_storage
from django.utils import timezone

from backoffice import exports
from backoffice.export_lists import LISTS
from enforcement.models import AuditEvent, ExportJob
from tests import factories
from tests.conftest import stored_files, wait_for


def _people(n: int):
    people = [factories.client(family_name=f"Export{i}") for i in range(n)]
    for person in people:
        factories.consent_both(person)
    return people


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_long_list_is_written_by_a_worker_behind_a_progress_page(celery_worker, client, settings):
    settings.REPORTIN_EXPORT_STREAM_MAX_ROWS = 3
    people = _people(4)
    auditor = factories.staff("auditor-export", role="Auditor", region_code=None)
    factories.staff_login(client, auditor)

    response = client.get("/admin/enforcement/consentrecord/export/", {"kind__exact": "biometric"})
    assert response.status_code == 302
    progress_url = response["Location"]
    job = ExportJob.objects.get()
    assert (job.requested_by, job.model_label, job.query, job.total) == (
        auditor,
        "enforcement.consentrecord",
        "kind__exact=biometric",
        4,
    )
    page = client.get(progress_url)
    assert page.status_code == 200 and b"<progress" in page.content and b"of 4 rows" in page.content

    def finished():
        state = client.get(progress_url, {"format": "json"}).json()
        return state if state["status"] in ("done", "failed") else None

    state = wait_for(finished, timeout=90, message=f"the export (worker log:\n{celery_worker.log()})")
    assert state == {"status": "done", "done": 4, "total": 4, "percent": 100}, celery_worker.log()
    page = client.get(progress_url).content.decode()
    assert 'http-equiv="refresh"' not in page and "Download the CSV file" in page

    download = client.get(progress_url + "download/")
    assert download.status_code == 200 and download["Content-Disposition"].startswith("attachment")
    rows = list(csv.DictReader(io.StringIO(b"".join(download.streaming_content).decode())))
    assert sorted(r["UCI"] for r in rows) == sorted(p.uci for p in people)
    assert {r["kind"] for r in rows} == {"biometric"}
    # Encrypted at rest: the stored bytes do not contain the UCIs.
    job.refresh_from_db()
    assert job.status == "done" and job.file.name.startswith("exports/")
    sealed = default_storage.read_sealed(job.file.name)
    assert not any(p.uci.encode() in sealed for p in people)
    assert list(AuditEvent.objects.filter(action__startswith="export.").values_list("action", "actor")) == [
        ("export.download", auditor.pk),
        ("export.request", auditor.pk),
    ]

    # Nobody else sees the progress or the file, not even another auditor.
    factories.staff_login(client, factories.staff("auditor-other", role="Auditor", region_code=None))
    assert client.get(progress_url).status_code == 404
    assert client.get(progress_url + "download/").status_code == 404


def _file_rows(job) -> list[dict]:
    with job.file.open("rb") as handle:
        return list(csv.DictReader(io.StringIO(handle.read().decode())))


@pytest.mark.django_db
def test_an_export_is_written_in_committed_parts_and_a_duplicate_message_does_nothing(settings, media_root):
    settings.REPORTIN_EXPORT_CHUNK_ROWS = 3
    people = _people(5)  # 10 consent records
    auditor = factories.staff("auditor-progress", role="Auditor", region_code=None)
    job = exports.export_start(user=auditor, model_label="enforcement.consentrecord", query="", total=10)
    progress = []
    while True:
        # A deadline already past: one part per step, as if every step ran out of time.
        outcome = exports.export_step(job_id=job.pk, lists=LISTS, deadline=0)
        state = ExportJob.objects.get(pk=job.pk)
        progress.append((outcome, state.done, state.parts))
        if outcome != exports.StepOutcome.MORE:
            break
    assert progress == [("more", 3, 1), ("more", 6, 2), ("more", 9, 3), ("done", 10, 4)]
    assert (state.status, state.total, state.steps) == ("done", 10, 4)
    rows = _file_rows(state)
    assert len(rows) == 10 and sorted(r["UCI"] for r in rows) == sorted(p.uci for p in people for _ in range(2))
    assert not stored_files(media_root, "exports/parts/" + str(job.pk))  # the parts are gone
    assert exports.export_step(job_id=job.pk, lists=LISTS, deadline=0) == "skipped"  # a duplicate message


@pytest.mark.django_db
def test_a_killed_workers_export_resumes_where_it_stopped_and_never_counts_back(settings, media_root, monkeypatch):
    settings.REPORTIN_EXPORT_CHUNK_ROWS = 3
    people = _people(4)  # 8 consent records
    auditor = factories.staff("auditor-resume", role="Auditor", region_code=None)
    job = exports.export_start(user=auditor, model_label="enforcement.consentrecord", query="", total=8)
    real_write = exports._write_part
    written = []

    class Killed(BaseException):
        """The worker process dies (SIGKILL): nothing after this line runs, no handler."""

    def dies_at_the_second_part(name, columns, chunk):
        written.append(name)
        if len(written) == 2:
            raise Killed
        real_write(name, columns, chunk)

    monkeypatch.setattr(exports, "_write_part", dies_at_the_second_part)
    started = timezone.now()
    with pytest.raises(Killed):
        exports.export_step(job_id=job.pk, lists=LISTS, deadline=float("inf"), now=started)
    state = ExportJob.objects.get(pk=job.pk)
    assert (state.status, state.done, state.parts) == ("running", 3, 1)
    # While the dead worker's lease lasts, a redelivered message leaves the job alone.
    assert exports.export_step(job_id=job.pk, lists=LISTS, deadline=float("inf"), now=started + timedelta(seconds=5)) == "skipped"
    # After it (the task time limit), the redelivery takes over at the second part.
    later = started + timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 6)
    assert exports.export_step(job_id=job.pk, lists=LISTS, deadline=float("inf"), now=later) == "done"
    state = ExportJob.objects.get(pk=job.pk)
    assert (state.status, state.done, state.total, state.parts, state.steps) == ("done", 8, 8, 3, 2)
    assert written == [exports.part_name(job.pk, n) for n in (1, 2, 2, 3)]
    rows = _file_rows(state)
    assert sorted(r["UCI"] for r in rows) == sorted(p.uci for p in people for _ in range(2))


@pytest.mark.django_db
def test_rows_added_while_an_export_runs_do_not_move_its_end(settings, media_root):
    settings.REPORTIN_EXPORT_CHUNK_ROWS = 3
    _people(3)
    auditor = factories.staff("auditor-snapshot", role="Auditor", region_code=None)
    job = exports.export_start(user=auditor, model_label="enforcement.consentrecord", query="", total=6)
    assert exports.export_step(job_id=job.pk, lists=LISTS, deadline=0) == "more"
    _people(2)  # four more consent records, newer than the export
    while exports.export_step(job_id=job.pk, lists=LISTS, deadline=0) == "more":
        pass
    state = ExportJob.objects.get(pk=job.pk)
    assert (state.status, state.done, state.total) == ("done", 6, 6) and len(_file_rows(state)) == 6


def test_every_list_with_an_export_button_is_in_the_explicit_registry_of_exportable_lists():
    """A worker exports a list through backoffice.export_lists.LISTS (never the admin registry):
    every list that offers "Export CSV" must be named there, with its page and columns."""
    from django.contrib import admin

    from backoffice.audit_lists import AuditListAdmin

    offered = {model._meta.label_lower: type(page) for model, page in admin.site._registry.items() if isinstance(page, AuditListAdmin)}
    assert offered and {label: exportable.page for label, exportable in LISTS.items()} == offered
    assert all(exportable.columns for exportable in LISTS.values())


@pytest.mark.django_db
def test_a_job_for_a_list_that_is_not_exportable_fails_and_writes_nothing(media_root):
    auditor = factories.staff("auditor-unknown", role="Auditor", region_code=None)
    job = exports.export_start(user=auditor, model_label="enforcement.client", query="", total=1)
    assert exports.export_step(job_id=job.pk, lists=LISTS, deadline=float("inf")) == "failed"
    job.refresh_from_db()
    assert (job.status, job.file.name or "") == ("failed", "") and "enforcement.client" in job.error
