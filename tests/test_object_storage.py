"""Selfies, reference photos and exports in an S3-compatible object store (a real SeaweedFS,
tests/objectstore.py): encrypted by the application, bound to their names, deleted by
retention, copied from a media folder by `storage_migrate`, and shared by web and worker
processes that have no folder in common."""

import os
import subprocess
import sys
from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command
from django.utils import timezone

from backoffice.exports import export_start
from enforcement import crypto
from enforcement.models import AuditEvent, ExportJob
from reportin import retention
from reportin.models import CheckIn, FaceMatch
from tests import factories, images, objectstore
from tests.conftest import ROOT, multipart, wait_for, worker_env
from tests.http import call

pytestmark = pytest.mark.django_db


def _objects(endpoint: str, bucket: str) -> dict[str, bytes]:
    s3 = objectstore.client(endpoint)
    listing = s3.list_objects_v2(Bucket=bucket).get("Contents", [])
    return {item["Key"]: s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read() for item in listing}


def test_files_in_the_bucket_are_ciphertext_bound_to_their_name(s3_endpoint, s3_bucket, media_root):
    secret = b"\xff\xd8\xff selfie of one person " * 5000  # ~130 KB: several segments
    name = default_storage.save("selfies/one.img", ContentFile(secret))
    stored = _objects(s3_endpoint, s3_bucket)
    assert list(stored) == [name]
    assert crypto.is_stream(stored[name]) and b"selfie of one person" not in stored[name]
    with default_storage.open(name) as handle:
        assert handle.read() == secret
    assert not media_root.exists()  # nothing on the local disk

    # Another record's object copied onto this name (a swap by someone with bucket access).
    other = default_storage.save("selfies/other.img", ContentFile(b"\xff\xd8\xff another person"))
    objectstore.client(s3_endpoint).copy_object(Bucket=s3_bucket, Key=name, CopySource={"Bucket": s3_bucket, "Key": other})
    with pytest.raises(crypto.DecryptionError, match="moved from another name"):
        with default_storage.open(name) as handle:
            handle.read()
    with pytest.raises(ValueError):
        default_storage.url(name)


def test_retention_deletes_the_object_in_the_bucket(s3_endpoint, s3_bucket, settings, django_capture_on_commit_callbacks):
    auditor = factories.staff("auditor-s3", role="Auditor", region_code=None)
    now = timezone.now()
    old = export_start(user=auditor, model_label="reportin.facematch", query="", total=1, now=now - timedelta(days=settings.REPORTIN_RETAIN_EXPORT_DAYS + 1))
    new = export_start(user=auditor, model_label="reportin.facematch", query="", total=1, now=now)
    for job in (old, new):
        job.file.save("export.csv", ContentFile(b"id,decision\n1,match\n"))
    assert len(_objects(s3_endpoint, s3_bucket)) == 2

    with django_capture_on_commit_callbacks(execute=True):
        result = retention.purge_expired(now=now)
    assert result.counts["exports"] == 1
    assert list(_objects(s3_endpoint, s3_bucket)) == [ExportJob.objects.get(pk=new.pk).file.name]
    assert ExportJob.objects.get(pk=old.pk).file.name == ""


def test_storage_migrate_copies_a_media_folder_verifies_and_resumes(s3_endpoint, settings, tmp_path, capsys):
    source = tmp_path / "media"
    settings.MEDIA_ROOT = source
    plain = {
        "selfies/a.img": b"\xff\xd8\xff selfie a" * 10000,
        "references/b.img": b"\xff\xd8\xff reference b",
        "exports/c.csv": b"id,decision\n" * 3,
    }
    names = {default_storage.save(name, ContentFile(data)): data for name, data in plain.items()}
    # A file written before the segment format: copied as it is, still readable.
    (source / "selfies" / "old.img").write_bytes(crypto.encrypt(b"an older selfie"))
    names["selfies/old.img"] = b"an older selfie"
    (source / "selfies" / "x.img.rotating").write_bytes(b"left by an interrupted rotation")

    bucket = objectstore.new_bucket(s3_endpoint)
    settings.STORAGES = {**settings.STORAGES, "default": objectstore.storage_settings(s3_endpoint, bucket)}
    call_command("storage_migrate", "--source", str(source))
    assert "Copied 4 file(s)" in capsys.readouterr().out
    stored = _objects(s3_endpoint, bucket)
    assert sorted(stored) == sorted(names)
    for name, data in names.items():
        assert stored[name] == (source / name).read_bytes()  # still sealed, byte for byte
        with default_storage.open(name) as handle:
            assert handle.read() == data
    assert AuditEvent.objects.filter(action="storage.migrate").count() == 1

    # Resumable: a second run copies nothing; a lost object and a damaged one are copied again.
    call_command("storage_migrate", "--source", str(source))
    out = capsys.readouterr().out
    assert "Copied 0 file(s)" in out and "4 already there and verified" in out
    s3 = objectstore.client(s3_endpoint)
    s3.delete_object(Bucket=bucket, Key="selfies/a.img")
    s3.put_object(Bucket=bucket, Key="references/b.img", Body=b"damaged")
    call_command("storage_migrate", "--source", str(source))
    out = capsys.readouterr().out
    assert "Copied 2 file(s)" in out and "2 already there and verified" in out
    assert _objects(s3_endpoint, bucket)["references/b.img"] == (source / "references/b.img").read_bytes()


def test_storage_migrate_refuses_the_local_folder(settings, tmp_path):
    with pytest.raises(CommandError, match="REPORTIN_S3_BUCKET"):
        call_command("storage_migrate", "--source", str(tmp_path))


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_web_and_worker_with_different_folders_score_a_checkin_through_one_bucket(s3_endpoint, s3_bucket, tmp_path):
    client = factories.client()
    factories.reference_photo(client)  # sealed into the bucket by this process
    factories.consent_both(client)
    token, _ = factories.device(client)

    # Web and worker share the database, a private broker folder and the bucket; each has
    # its own media folder, so the only way the selfie reaches the worker is the bucket.
    shared = {
        **worker_env(), **objectstore.storage_env(s3_endpoint, s3_bucket),
        "REPORTIN_DATA_DIR": str(tmp_path / "shared"), "CELERY_BROKER_URL": "filesystem://",
        "WEB_CONCURRENCY": "1", "WEB_THREADS": "2",
    }
    web_media, worker_media = tmp_path / "web-media", tmp_path / "worker-media"
    port = _free_port()
    processes = []
    try:
        web_log = (tmp_path / "web.log").open("w")
        processes.append(subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.conf.py", "--bind", f"127.0.0.1:{port}"],
            cwd=ROOT, env={**shared, "MEDIA_ROOT": str(web_media)}, stdout=web_log, stderr=subprocess.STDOUT,
        ))
        worker_log = tmp_path / "worker.log"
        processes.append(subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", "scoring,default", "--concurrency", "1",
             "-l", "INFO", "--without-gossip", "--without-mingle", "--hostname", f"s3-{os.getpid()}@%h"],
            cwd=ROOT, env={**shared, "MEDIA_ROOT": str(worker_media)}, stdout=worker_log.open("w"), stderr=subprocess.STDOUT,
        ))
        wait_for(lambda: "ready." in worker_log.read_text(errors="replace") or processes[1].poll() is not None, timeout=90, message="the worker")
        url = f"http://127.0.0.1:{port}"

        def web_up():
            try:
                return call("GET", f"{url}/healthz")[0] == 200
            except OSError:
                return processes[0].poll() is not None

        wait_for(web_up, timeout=60, message="gunicorn")
        assert processes[0].poll() is None, (tmp_path / "web.log").read_text()

        form, content_type = multipart([
            ("selfie", images.jpeg(images.astronaut_elsewhere(), quality=85), "selfie.jpg"),
            ("latitude", b"43.6532", None), ("longitude", b"-79.3832", None), ("accuracy_m", b"15", None),
            ("captured_at", timezone.now().isoformat().encode(), None),
        ])
        status, _, accepted = call(
            "POST", f"{url}/api/v1/check-ins", body=form,
            headers={"Authorization": f"Token {token}", "Content-Type": content_type, "Idempotency-Key": "s3-1"},
        )
        assert status == 202, accepted
        match = wait_for(
            lambda: FaceMatch.objects.filter(checkin_id=accepted["id"]).first(), timeout=120,
            message=f"a FaceMatch (worker log:\n{worker_log.read_text(errors='replace')[-3000:]})",
        )
        assert match.decision == "match", match.detail
        assert CheckIn.objects.get(pk=accepted["id"]).status == "verified"
        selfie = CheckIn.objects.get(pk=accepted["id"]).selfie.name
        assert selfie in _objects(s3_endpoint, s3_bucket)
        # Neither process wrote a file of its own.
        assert not any(path.is_file() for folder in (web_media, worker_media) if folder.exists() for path in folder.rglob("*"))
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


def test_storage_bucket_creates_a_missing_bucket_and_checks_it(s3_endpoint, settings, capsys):
    import uuid

    bucket = f"reportin-new-{uuid.uuid4().hex[:10]}"
    settings.STORAGES = {**settings.STORAGES, "default": objectstore.storage_settings(s3_endpoint, bucket)}
    call_command("storage_bucket")
    out = capsys.readouterr().out
    assert f"Created the bucket s3://{bucket}" in out and "write, read and delete work" in out
    assert _objects(s3_endpoint, bucket) == {}  # the probe is gone
    call_command("storage_bucket")
    assert "Created" not in capsys.readouterr().out


def test_an_object_of_the_older_format_is_read_and_resealed_in_place(s3_endpoint, s3_bucket):
    s3 = objectstore.client(s3_endpoint)
    s3.put_object(Bucket=s3_bucket, Key="references/old.img", Body=crypto.encrypt(b"sealed before the segment format"))
    with default_storage.open("references/old.img") as handle:
        assert handle.read() == b"sealed before the segment format"
    assert default_storage.needs_reseal("references/old.img")
    default_storage.reseal("references/old.img")
    assert crypto.is_stream(_objects(s3_endpoint, s3_bucket)["references/old.img"])
    assert not default_storage.needs_reseal("references/old.img")
    with default_storage.open("references/old.img") as handle:
        assert handle.read() == b"sealed before the segment format"
