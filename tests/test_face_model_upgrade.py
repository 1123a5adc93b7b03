"""A face model upgrade (issue 16.7): manage.py reencode_references encodes every stored
reference photo with the current model, resumably, keeping the old encodings; scoring compares
encodings of one model only; the face-model system check, and a scoring worker at start, refuse
a model that active clients have no ready reference for. Real encodings throughout (dlib on the
scikit-image pictures of tests/images.py); the "previous model" is the same engine enrolling
under another version name."""

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from django.core import checks
from django.core.management import CommandError, call_command
from django.utils import timezone

from biometrics import faces
from enforcement import crypto, face_model
from enforcement import services as enforcement_services
from enforcement.models import AuditEvent, CaseStatus, ReferenceEncoding, ReferencePhoto
from reportin import scoring, services
from tests import factories, images
from tests.conftest import worker_env

ROOT = Path(__file__).resolve().parent.parent
OLD_MODEL = "dlib-resnet-v0/previous"
NOW = timezone.now().replace(microsecond=0)
TORONTO = (43.6532, -79.3832)


def enrolled_by_old_model(monkeypatch, image=None, **client_fields):
    """A reporting client whose reference photo was enrolled while OLD_MODEL was live."""
    client = factories.client(**client_fields)
    factories.consent_both(client)
    factories.condition(client, starts_on=factories.LATER, area_latitude=TORONTO[0], area_longitude=TORONTO[1], area_radius_km=50)
    with monkeypatch.context() as patch:
        patch.setattr(faces, "MODEL_VERSION", OLD_MODEL)
        photo = factories.reference_photo(client, image)
    assert photo.status == "ready" and photo.model_version == OLD_MODEL
    return client, photo


def score_a_selfie(client, *, key: str):
    factories.window(client, opens_at=NOW - timedelta(hours=1), minutes=120) if not client.windows.exists() else None
    _, device = factories.device(client, name=f"phone {key}")
    checkin, _ = services.checkin_submit(
        device=device, selfie=images.jpeg(images.astronaut_elsewhere()), latitude=TORONTO[0], longitude=TORONTO[1],
        accuracy_m=15, captured_at=NOW, idempotency_key=key, now=NOW,
    )
    return scoring.checkin_score(checkin_id=checkin.pk, now=NOW)


@pytest.mark.django_db
def test_after_reencoding_the_new_model_matches_and_the_old_encoding_stays(monkeypatch):
    client, photo = enrolled_by_old_model(monkeypatch)
    before = score_a_selfie(client, key="k1")
    assert before.decision == "non_match" and before.detail["references"] == 0  # no comparable reference yet

    call_command("reencode_references")

    row = ReferenceEncoding.objects.get(photo=photo)
    assert row.model_version == faces.MODEL_VERSION and row.outcome == "ok"
    photo.refresh_from_db()
    assert photo.model_version == OLD_MODEL and photo.encoding is not None  # still there for the old model
    new = faces.encoding_from_bytes(crypto.decrypt_for(row, row.encoding))
    old = faces.encoding_from_bytes(crypto.decrypt_for(photo, photo.encoding))
    assert new.shape == (128,) and np.linalg.norm(new - old) < 0.05  # the same engine here: the same face
    after = score_a_selfie(client, key="k2")
    assert after.decision == "match" and set(after.distances) == {str(photo.pk)}
    assert after.model_version == faces.MODEL_VERSION


@pytest.mark.django_db
def test_the_command_is_resumable_and_does_each_photo_once(monkeypatch):
    photos = [enrolled_by_old_model(monkeypatch, images.lfw_face(i) if i else None)[1] for i in range(3)]
    call_command("reencode_references", "--limit", "1")
    assert ReferenceEncoding.objects.count() == 1  # the first chunk is committed on its own
    assert face_model.to_reencode(faces.MODEL_VERSION).count() == 2
    call_command("reencode_references", "--chunk", "1")  # continues with the two left
    assert sorted(ReferenceEncoding.objects.values_list("photo_id", flat=True)) == sorted(p.pk for p in photos)
    call_command("reencode_references")  # nothing left: nothing done twice
    assert ReferenceEncoding.objects.count() == 3
    events = AuditEvent.objects.filter(action="reference_photo.reencode")
    assert sum(len(e.details["ids"]) for e in events) == 3


@pytest.mark.django_db
def test_shards_split_the_photos_between_runs(monkeypatch):
    photos = [enrolled_by_old_model(monkeypatch, images.lfw_face(i) if i else None)[1] for i in range(3)]
    call_command("reencode_references", "--shard", "1/2")
    assert sorted(ReferenceEncoding.objects.values_list("photo_id", flat=True)) == sorted(p.pk for p in photos if p.pk % 2 == 1)
    call_command("reencode_references", "--shard", "0/2")
    assert ReferenceEncoding.objects.count() == 3
    with pytest.raises(CommandError):
        call_command("reencode_references", "--shard", "2/2")


@pytest.mark.django_db
def test_the_system_check_names_the_missing_clients_and_the_command(monkeypatch):
    enrolled_by_old_model(monkeypatch)
    enrolled_by_old_model(monkeypatch, images.lfw_face(1))
    closed, _ = enrolled_by_old_model(monkeypatch, images.lfw_face(2))
    enforcement_services.client_update(client=closed, changes={"case_status": CaseStatus.CLOSED}, updated_by=factories.staff("sup", role="Supervisor"))
    errors = checks.run_checks(tags=["face_model"], include_deployment_checks=True)
    assert [e.id for e in errors] == ["enforcement.E020"]
    assert "2 active client(s)" in errors[0].msg and "reencode_references" in errors[0].hint
    # Not an ordinary check: migrate and the command itself run while it fails.
    assert checks.run_checks(tags=["face_model"]) == []
    call_command("reencode_references")
    assert checks.run_checks(tags=["face_model"], include_deployment_checks=True) == []


@pytest.mark.django_db
def test_a_client_enrolled_by_the_current_model_is_ready(monkeypatch):
    factories.reference_photo(factories.client())
    assert face_model.readiness_errors() == []
    enrolled_by_old_model(monkeypatch)
    assert "1 active client(s)" in face_model.readiness_errors()[0].msg


@pytest.mark.django_db
def test_purging_a_photo_deletes_its_other_encodings_too(monkeypatch):
    client, photo = enrolled_by_old_model(monkeypatch)
    call_command("reencode_references")
    assert ReferenceEncoding.objects.filter(photo=photo).exists()
    from reportin import retention

    retention._photo_purge(photo.pk, due=ReferencePhoto.objects.all())
    assert not ReferenceEncoding.objects.filter(photo=photo).exists()


def start_worker(queues: str, log: Path) -> subprocess.Popen:
    with log.open("w") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", queues, "--concurrency", "1", "-l", "INFO",
             "--without-gossip", "--without-mingle", "--hostname", f"facemodel-{queues.replace(',', '-')}@%h"],
            cwd=ROOT, env=worker_env(), stdout=out, stderr=subprocess.STDOUT,
        )


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_scoring_worker_refuses_to_start_until_the_references_are_ready(monkeypatch, tmp_path):
    enrolled_by_old_model(monkeypatch)
    worker = start_worker("scoring,default", tmp_path / "refused.log")
    assert worker.wait(timeout=90) == 78
    log = (tmp_path / "refused.log").read_text()
    assert "1 active client(s)" in log and "reencode_references" in log

    call_command("reencode_references")
    worker = start_worker("scoring,default", tmp_path / "started.log")
    try:
        from tests.conftest import wait_for

        wait_for(lambda: "ready." in (tmp_path / "started.log").read_text() or worker.poll() is not None, timeout=90,
                 message="the worker to start")
        assert worker.poll() is None, (tmp_path / "started.log").read_text()
    finally:
        worker.terminate()
        worker.wait(timeout=30)


@pytest.mark.django_db
def test_reencrypt_moves_the_re_encodings_to_the_new_key_too(monkeypatch, settings, capsys):
    import base64

    _, photo = enrolled_by_old_model(monkeypatch)
    call_command("reencode_references")
    settings.REPORTIN_ENCRYPTION_KEYS = "rotated:" + base64.urlsafe_b64encode(b"n" * 32).decode() + "," + settings.REPORTIN_ENCRYPTION_KEYS
    call_command("reencrypt")
    assert "enforcement.referenceencoding.encoding: 1" in capsys.readouterr().out
    row = ReferenceEncoding.objects.get(photo=photo)
    assert crypto.key_id_of(bytes(row.encoding)) == "rotated"
    assert faces.encoding_from_bytes(crypto.decrypt_for(row, row.encoding)).shape == (128,)
