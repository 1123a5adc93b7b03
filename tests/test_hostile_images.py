"""Hostile images (tests/hostile_images.py) through the API and straight into a real worker:
each gets its documented 4xx or a recorded outcome; the worker never dies and its memory comes
back down."""

import hashlib

import pytest
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from bench import procs
from biometrics import images
from reportin.models import CheckIn, FaceMatch
from tests import factories, hostile_images
from tests.conftest import wait_for

CORPUS = hostile_images.corpus()


@pytest.mark.django_db
@pytest.mark.parametrize("entry", CORPUS, ids=[entry.name for entry in CORPUS])
def test_the_api_answers_each_hostile_image_as_documented(reporter, media_root, entry):
    upload = SimpleUploadedFile(entry.filename, entry.data, entry.content_type)
    response = reporter.check_in(key=f"hostile-{entry.name}", selfie=upload)
    assert response.status_code == entry.api_status, response.content[:500]
    if entry.api_code is None:
        checkin = CheckIn.objects.get(pk=response.json()["id"])
        with checkin.selfie.open("rb") as handle:
            stored = handle.read()
        # What is kept is the picture only: no appended archive or HTML, no metadata blocks.
        assert hostile_images.ZIP_TAIL[:4] not in stored and b"<script>" not in stored
        assert len(stored) < 1_000_000
        assert hostile_images.SECRET_NOTE not in stored and b"Exif" not in stored
        # Kept as sent, minus its metadata (the worker makes the JPEG): nothing is decoded here.
        assert images.sniff_format(stored) == images.sniff_format(entry.data)
    else:
        body = response.json()
        assert body["error"]["code"] == entry.api_code
        assert set(body["error"]) == {"code", "message", "fields"} and "selfie" in body["error"]["fields"]
        assert not CheckIn.objects.exists()
        assert not list((media_root / "selfies").glob("*")) if (media_root / "selfies").exists() else True


def _stored_as_is(device, data: bytes, key: str) -> CheckIn:
    """A check-in whose stored selfie is exactly these bytes, past the API's checks."""
    now = timezone.now()
    checkin = CheckIn(
        client=device.client, device=device, selfie_sha256=hashlib.sha256(data).hexdigest(), latitude=43.65,
        longitude=-79.38, accuracy_m=10, captured_at=now, received_at=now, idempotency_key=key, request_fingerprint="0" * 64,
    )
    # The row first: the blob is sealed to its id (enforcement.storage.RecordBoundFieldFile).
    checkin.selfie.reserve("selfie")
    checkin.save()
    checkin.selfie.write(ContentFile(data))
    return checkin


def _pool_child(worker) -> int:
    pids = procs.children(worker.process.pid)
    assert len(pids) == 1, pids
    return pids[0]


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_worker_survives_every_hostile_image_and_its_memory_comes_back(celery_worker):
    from reportin.tasks import checkin_score

    client = factories.client()
    factories.reference_photo(client)
    factories.consent_both(client)
    _, device = factories.device(client)
    start = len(celery_worker.log())

    # Warm up (models loaded, a normal selfie scored), then take the baseline.
    warm = _stored_as_is(device, hostile_images.astronaut_jpeg(), "warm-up")
    checkin_score.delay(warm.pk)
    wait_for(lambda: FaceMatch.objects.filter(checkin=warm).exists(), timeout=120, message=f"the warm-up (log:\n{celery_worker.log()[start:]})")
    child = _pool_child(celery_worker)
    baseline = procs.rss_mb(child)

    peak = baseline
    checkins = {}
    for entry in CORPUS:
        checkin = _stored_as_is(device, entry.data, f"raw-{entry.name}")
        checkins[entry.name] = checkin
        checkin_score.delay(checkin.pk)

    def all_judged():
        nonlocal peak
        peak = max(peak, procs.rss_mb(child))
        return FaceMatch.objects.filter(checkin__in=checkins.values()).count() == len(checkins)

    wait_for(all_judged, timeout=300, interval=0.05, message=f"every hostile check-in judged (log:\n{celery_worker.log()[start:][-4000:]})")
    outcomes = {name: (FaceMatch.objects.get(checkin=c).decision, CheckIn.objects.get(pk=c.pk).status) for name, c in checkins.items()}
    for entry in CORPUS:
        decision, status = outcomes[entry.name]
        assert decision in entry.worker, (entry.name, decision)
        assert status in ("verified", "needs_review"), (entry.name, status)
        if decision == "unreadable":
            assert status == "needs_review"

    # The same pool process did all of it: nothing crashed it...
    log = celery_worker.log()[start:]
    assert "WorkerLostError" not in log and "Traceback" not in log, log[-4000:]
    assert celery_worker.process.poll() is None
    assert _pool_child(celery_worker) == child
    # ...and its memory is back to where it started (a margin for allocator slack).
    after = procs.rss_mb(child)
    print(f"pool process RSS: baseline {baseline:.0f} MB, peak {peak:.0f} MB, after {after:.0f} MB; outcomes {outcomes}")
    assert after <= baseline + 32, (baseline, peak, after)
    assert peak < 400, peak
