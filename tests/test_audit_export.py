"""CSV exports of auditor lists too long to stream at once: a real Celery worker writes the file
while a progress page follows it; the file is encrypted at rest and only its requester gets it."""

import csv
import io

import pytest
from django.core.files.storage import default_storage

from enforcement import exports
from enforcement.models import AuditEvent, ExportJob
from tests import factories
from tests.conftest import wait_for


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


@pytest.mark.django_db
def test_a_running_export_counts_its_progress_as_it_writes(monkeypatch):
    _people(5)
    auditor = factories.staff("auditor-progress", role="Auditor", region_code=None)
    job = ExportJob.objects.create(
        requested_by=auditor, model_label="enforcement.consentrecord", query="", total=10, created_at=factories.MONDAY_MORNING
    )
    monkeypatch.setattr(exports, "PROGRESS_EVERY", 3)
    seen = []
    real_rows = exports.rows

    def watched(columns, queryset):
        for line in real_rows(columns, queryset):
            seen.append(ExportJob.objects.get(pk=job.pk).done)
            yield line

    monkeypatch.setattr(exports, "rows", watched)
    done = exports.export_run(job_id=job.pk)
    assert (done.status, done.done, done.total) == ("done", 10, 10)
    # Before each row is written, the page would show: 0 until 3 rows are written, then 3, 6, 9.
    assert seen == [0, 0, 0, 0, 3, 3, 3, 6, 6, 6, 9]
    assert exports.export_run(job_id=job.pk) is None  # a duplicate message does nothing
