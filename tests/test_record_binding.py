"""Issue 14.7: every encrypted blob is bound to its record (model label and primary key).

The attacks here are those of someone who can write to the database (or the bucket) but
holds no key: they move a sealed blob from one record to another. Raw SQL plays the attacker;
the state before the attack is built through the services. On the code before the binding,
a moved reference encoding or selfie was read as the other record's and compared: the
wrong face was used."""

import logging
from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client as HttpClient
from django.utils import timezone

from biometrics import faces
from enforcement import crypto
from enforcement.models import AuditEvent, ExportJob, ReferencePhoto
from reportin import scoring, services
from reportin.models import CheckIn
from tests import factories, images

pytestmark = pytest.mark.django_db

NOW = timezone.now().replace(microsecond=0)
TORONTO = (43.6532, -79.3832)
NEW_KEY = crypto.new_key_spec("bindingtest")


def _enrolled(face):
    client = factories.client()
    factories.consent_both(client)
    factories.condition(client, starts_on=factories.LATER, area_latitude=TORONTO[0], area_longitude=TORONTO[1], area_radius_km=50)
    factories.window(client, opens_at=NOW - timedelta(hours=1), minutes=120)
    photo = factories.reference_photo(client, face)
    assert photo.status == "ready", photo.rejection_message
    _, device = factories.device(client)
    return client, device, photo


def _submit(device, picture, key: str) -> CheckIn:
    checkin, created = services.checkin_submit(
        device=device, selfie=images.jpeg(picture), latitude=TORONTO[0], longitude=TORONTO[1], accuracy_m=15,
        captured_at=NOW, idempotency_key=key, now=NOW,
    )
    assert created
    return checkin


def _attacker_swaps(table: str, column: str, first: int, second: int) -> None:
    """What someone with write access to the database can do: exchange two rows' values."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id, {column} FROM {table} WHERE id IN (%s, %s)", [first, second])
        values = dict(cursor.fetchall())
        cursor.execute(f"UPDATE {table} SET {column} = %s WHERE id = %s", [values[second], first])
        cursor.execute(f"UPDATE {table} SET {column} = %s WHERE id = %s", [values[first], second])


def test_blobs_are_sealed_to_their_records():
    _, device, photo = _enrolled(images.astronaut())
    checkin = _submit(device, images.astronaut_elsewhere(), "k1")
    assert crypto.is_bound(bytes(photo.encoding)) and bytes(photo.encoding)[:4] == crypto.BOUND_MAGIC
    for field in (photo.image, checkin.selfie):
        assert default_storage.sealed_head(field.name)[:4] == crypto.BOUND_STREAM_MAGIC
    # Opened for its own record it reads; without naming the record it does not.
    assert faces.encoding_from_bytes(crypto.decrypt_for(photo, photo.encoding)).shape == (128,)
    with pytest.raises(crypto.DecryptionError, match="bound to a record"):
        crypto.decrypt(bytes(photo.encoding))
    with pytest.raises(crypto.DecryptionError, match="bound to a record"):
        default_storage.open(checkin.selfie.name).read()


def test_a_reference_encoding_moved_to_another_client_is_refused_and_no_face_is_compared(caplog):
    # Client B would like someone else (the astronaut, enrolled as client A) to report for
    # them: the attacker gives B's reference photo A's encoding.
    _, _, photo_a = _enrolled(images.astronaut())
    _, device_b, photo_b = _enrolled(images.lfw_face(2))
    _attacker_swaps("enforcement_referencephoto", "encoding", photo_a.pk, photo_b.pk)
    photo_b = ReferencePhoto.objects.get(pk=photo_b.pk)
    with pytest.raises(crypto.RecordMismatch, match=f"does not belong to enforcement.referencephoto:{photo_b.pk}"):
        crypto.decrypt_for(photo_b, photo_b.encoding)

    checkin = _submit(device_b, images.astronaut_elsewhere(), "stand-in")
    with caplog.at_level(logging.ERROR):
        match = scoring.checkin_score(checkin_id=checkin.pk, now=NOW)
    # Not a match with the planted face: nothing compared, an officer looks.
    assert match.decision == "unreadable" and match.best_distance is None and match.distances == {}
    assert f"enforcement.referencephoto:{photo_b.pk}" in match.detail["reference_error"]
    checkin.refresh_from_db()
    assert checkin.status == "needs_review"
    assert any("record binding check failed" in r.getMessage() for r in caplog.records)


def test_a_selfie_moved_to_another_check_in_is_refused_when_scored_and_when_shown(caplog):
    client, device, _ = _enrolled(images.astronaut())
    genuine = _submit(device, images.astronaut_elsewhere(), "genuine")
    other = _submit(device, images.lfw_face(3), "someone-else")
    # Same storage, different record: the other check-in now points at the genuine selfie.
    _attacker_swaps("reportin_checkin", "selfie", genuine.pk, other.pk)
    other = CheckIn.objects.get(pk=other.pk)
    with pytest.raises(crypto.RecordMismatch, match=f"does not belong to reportin.checkin:{other.pk}"):
        other.selfie.open("rb").read()

    with caplog.at_level(logging.ERROR):
        match = scoring.checkin_score(checkin_id=other.pk, now=NOW)
    assert match.decision == "unreadable" and match.best_distance is None
    assert "does not belong to reportin.checkin" in match.detail["error"]
    assert any("record binding check failed" in r.getMessage() for r in caplog.records)

    # An officer asking for the image gets a clear refusal, recorded, not the other picture.
    officer = factories.staff("binding-officer")
    http = HttpClient()
    factories.staff_login(http, officer)
    answer = http.get(f"/admin/reportin/checkin/{other.pk}/selfie/")
    assert answer.status_code == 409 and b"does not open for its record" in answer.content
    assert answer["Content-Type"].startswith("text/plain")
    event = AuditEvent.objects.filter(action="biometric.open_failed").get()
    assert event.client_id == client.pk and event.details["object_id"] == other.pk


def test_a_liveness_frame_moved_to_another_frame_is_refused():
    from reportin.models import LivenessFrame

    client, device, _ = _enrolled(images.astronaut())
    checkin = _submit(device, images.astronaut_elsewhere(), "k1")
    # Two frame rows of this check-in, made as the services make them (name first, then blob).
    frames = []
    for position in (0, 1):
        frame = LivenessFrame(checkin=checkin, position=position, pose="frontal", sha256="0" * 64, image_format="jpeg", width=1, height=1)
        frame.image.reserve("frame")
        frame.save()
        frame.image.write(ContentFile(f"frame {position}".encode()))
        frames.append(frame)
    _attacker_swaps("reportin_livenessframe", "image", frames[0].pk, frames[1].pk)
    moved = LivenessFrame.objects.get(pk=frames[0].pk)
    with pytest.raises(crypto.RecordMismatch):
        moved.image.open("rb").read()
    assert scoring._frame_analyse(LivenessFrame.objects.get(pk=moved.pk)).outcome == faces.Outcome.UNREADABLE


def test_a_record_file_cannot_be_saved_before_its_row_has_an_id():
    checkin = CheckIn()
    with pytest.raises(ValueError, match="no id yet"):
        checkin.selfie.save("selfie", ContentFile(b"x"), save=False)


def _make_unbound(photo: ReferencePhoto, checkin: CheckIn) -> tuple[bytes, bytes]:
    """Put the data back in the formats written before the binding (RIE2 files bound to
    their name only, RIE1 encodings), as a deployment upgraded from them holds it."""
    encoding = crypto.decrypt_for(photo, photo.encoding)
    with checkin.selfie.open("rb") as handle:
        selfie = handle.read()
    with photo.image.open("rb") as handle:
        image = handle.read()
    default_storage.replace_sealed(checkin.selfie.name, crypto.encrypt_stream(selfie, checkin.selfie.name))
    default_storage.replace_sealed(photo.image.name, crypto.encrypt_stream(image, photo.image.name))
    with connection.cursor() as cursor:
        cursor.execute("UPDATE enforcement_referencephoto SET encoding = %s WHERE id = %s", [crypto.encrypt(encoding), photo.pk])
    return encoding, selfie


def test_reencrypt_binds_data_of_the_older_formats_and_then_the_binding_can_be_required(settings, capsys):
    _, device, photo = _enrolled(images.astronaut())
    checkin = _submit(device, images.astronaut_elsewhere(), "k1")
    encoding, selfie = _make_unbound(photo, checkin)
    photo = ReferencePhoto.objects.get(pk=photo.pk)
    # Older formats stay readable until re-encrypted...
    assert crypto.decrypt_for(photo, photo.encoding) == encoding
    assert CheckIn.objects.get(pk=checkin.pk).selfie.open("rb").read() == selfie
    # ...unless the deployment requires the binding.
    settings.REPORTIN_ENCRYPTION_REQUIRE_BINDING = True
    with pytest.raises(crypto.RecordMismatch, match="not bound"):
        crypto.decrypt_for(photo, photo.encoding)
    with pytest.raises(crypto.RecordMismatch, match="not bound"):
        CheckIn.objects.get(pk=checkin.pk).selfie.open("rb").read()

    call_command("reencrypt", "--dry-run")
    assert "Would re-encrypt 3 item(s)" in capsys.readouterr().out
    call_command("reencrypt")
    out = capsys.readouterr().out
    assert "Re-encrypted 3 item(s)" in out, out
    photo = ReferencePhoto.objects.get(pk=photo.pk)
    checkin = CheckIn.objects.get(pk=checkin.pk)
    assert crypto.is_bound(bytes(photo.encoding)) and crypto.decrypt_for(photo, photo.encoding) == encoding
    assert crypto.is_bound(default_storage.sealed_head(checkin.selfie.name))
    assert crypto.is_bound(default_storage.sealed_head(photo.image.name))
    assert checkin.selfie.open("rb").read() == selfie
    # Resumable: a second run finds nothing left to do.
    call_command("reencrypt")
    assert "Re-encrypted 0 item(s)" in capsys.readouterr().out


def test_reencrypt_leaves_a_moved_blob_alone_and_fails(settings, capsys):
    _, _, photo_a = _enrolled(images.astronaut())
    _, _, photo_b = _enrolled(images.lfw_face(2))
    _attacker_swaps("enforcement_referencephoto", "encoding", photo_a.pk, photo_b.pk)
    before = {p.pk: bytes(p.encoding) for p in ReferencePhoto.objects.all()}
    settings.REPORTIN_ENCRYPTION_KEYS = f"{NEW_KEY},{settings.REPORTIN_ENCRYPTION_KEYS}"
    with pytest.raises(CommandError, match="2 item"):
        call_command("reencrypt")
    captured = capsys.readouterr()
    assert f"enforcement.referencephoto:{photo_a.pk}" in captured.err and "refused" in captured.err
    # The images moved to the new key; the moved encodings were not re-sealed to the wrong record.
    assert {p.pk: bytes(p.encoding) for p in ReferencePhoto.objects.all()} == before
    assert crypto.key_id_of(default_storage.sealed_head(photo_a.image.name)) == "bindingtest"


def test_an_export_file_is_bound_to_its_job():
    import time

    from backoffice import exports
    from backoffice.export_lists import LISTS

    for _ in range(2):
        factories.consent_both(factories.client())
    auditor = factories.staff("binding-auditor", role="Auditor", region_code=None)
    jobs = []
    for _ in range(2):
        job = exports.export_start(user=auditor, model_label="enforcement.consentrecord", query="", total=4, now=NOW)
        assert exports.export_step(job_id=job.pk, lists=LISTS, deadline=time.monotonic() + 60, now=NOW) == "done"
        jobs.append(ExportJob.objects.get(pk=job.pk))
    assert default_storage.sealed_head(jobs[0].file.name)[:4] == crypto.BOUND_STREAM_MAGIC
    _attacker_swaps("enforcement_exportjob", "file", jobs[0].pk, jobs[1].pk)
    with pytest.raises(crypto.RecordMismatch, match=f"enforcement.exportjob:{jobs[0].pk}"):
        ExportJob.objects.get(pk=jobs[0].pk).file.open("rb").read()


def test_an_authenticator_secret_moved_to_another_staff_account_does_not_open():
    # Someone with the database copies their own authenticator secret onto a colleague's
    # device row, to pass the colleague's second factor with their own app.
    import pyotp
    from django.contrib.sessions.backends.db import SessionStore

    from backoffice import services as backoffice_services
    from backoffice.models import TotpDevice

    own, colleague = factories.staff("binding-own"), factories.staff("binding-colleague")
    for user in (own, colleague):
        factories.staff_login(HttpClient(), user)
    devices = {d.user_id: d.pk for d in TotpDevice.objects.all()}
    assert crypto.is_bound(bytes(TotpDevice.objects.get(user=own).secret))
    own_secret = backoffice_services.totp_secret(TotpDevice.objects.get(user=own))
    _attacker_swaps("backoffice_totpdevice", "secret", devices[own.pk], devices[colleague.pk])
    with pytest.raises(crypto.RecordMismatch, match=f"backoffice.totpdevice:{devices[colleague.pk]}"):
        backoffice_services.totp_secret(TotpDevice.objects.get(user=colleague))
    # The colleague's account does not take a code of the planted secret.
    later = timezone.now() + timedelta(minutes=5)
    with pytest.raises(backoffice_services.SecondFactorError):
        backoffice_services.totp_verify(user=colleague, code=pyotp.TOTP(own_secret).at(later), session=SessionStore(), now=later)


def test_in_the_object_store_a_selfie_moved_to_another_check_in_is_refused(s3_bucket):
    _, device, _ = _enrolled(images.astronaut())
    first = _submit(device, images.astronaut_elsewhere(), "first")
    second = _submit(device, images.lfw_face(3), "second")
    assert default_storage.sealed_head(first.selfie.name)[:4] == crypto.BOUND_STREAM_MAGIC
    _attacker_swaps("reportin_checkin", "selfie", first.pk, second.pk)
    with pytest.raises(crypto.RecordMismatch, match=f"reportin.checkin:{second.pk}"):
        CheckIn.objects.get(pk=second.pk).selfie.open("rb").read()
