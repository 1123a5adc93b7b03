"""Scoring a check-in (reportin.scoring.checkin_score): every outcome, what is recorded, what
follows (check-in status, window, tasks), idempotency, the claim, the poison bound, replays
and the reconciler's choice. Runs in-process; tests/test_worker.py does the same through a
real Celery worker."""

import io
import os
from datetime import timedelta

import pytest
from django.conf import settings
from django.core.files.storage import default_storage
from django.utils import timezone
from PIL import Image, ImageEnhance

from biometrics import faces
from enforcement import crypto
from enforcement.models import InvestigationTask, ReportingWindow, WindowStatus
from reportin import scoring, selectors, services, tasks
from reportin.models import CheckIn, FaceMatch
from tests import factories, images

pytestmark = pytest.mark.django_db

NOW = timezone.now().replace(microsecond=0)
TORONTO = (43.6532, -79.3832)


@pytest.fixture
def enrolled():
    """A client with consent, a device, a remote condition around Toronto, an open window and
    one reference photo (the astronaut)."""
    client = factories.client()
    factories.consent_both(client)
    factories.condition(client, starts_on=factories.LATER, area_latitude=TORONTO[0], area_longitude=TORONTO[1], area_radius_km=50)
    window = factories.window(client, opens_at=NOW - timedelta(hours=1), minutes=120)
    photo = factories.reference_photo(client)
    assert photo.status == "ready", photo.rejection_message
    _, device = factories.device(client)
    return {"client": client, "device": device, "window": window, "photo": photo}


def submit(enrolled, picture: Image.Image | bytes, *, key: str = "k1", now=NOW, where=TORONTO) -> CheckIn:
    data = picture if isinstance(picture, bytes) else images.jpeg(picture)
    checkin, created = services.checkin_submit(
        device=enrolled["device"], selfie=data, latitude=where[0], longitude=where[1], accuracy_m=15,
        captured_at=now, idempotency_key=key, now=now,
    )
    assert created
    return checkin


def tasks_of(checkin: CheckIn) -> set[str]:
    return set(InvestigationTask.objects.filter(checkin_id=checkin.pk).values_list("reason", flat=True))


def two_faces() -> Image.Image:
    left, right = images.astronaut(), images.astronaut().transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    canvas = Image.new("RGB", (left.width * 2 + 40, left.height), (180, 180, 180))
    canvas.paste(left, (0, 0))
    canvas.paste(right, (left.width + 40, 0))
    return canvas


def test_a_matching_selfie_verifies_the_checkin_and_satisfies_its_window(enrolled):
    checkin = submit(enrolled, images.astronaut_elsewhere())
    match = scoring.checkin_score(checkin_id=checkin.pk, now=NOW)

    assert match.decision == "match"
    assert match.threshold == settings.REPORTIN_FACE_THRESHOLD
    assert 0 < match.best_distance <= match.threshold
    assert match.similarity == pytest.approx(1 - match.best_distance / (2 * match.threshold), abs=1e-3)
    assert list(match.distances) == [str(enrolled["photo"].pk)]
    assert match.reference_photo == enrolled["photo"]
    assert match.faces_found == 1 and len(match.face_box) == 4
    assert {"face_px", "sharpness", "brightness", "yaw", "outside"} <= set(match.quality)
    assert (match.model_version, match.pipeline_version) == (faces.MODEL_VERSION, faces.PIPELINE_VERSION)
    assert match.duration_ms > 0 and match.detail["pipeline_ms"] > 0 and match.detail["references"] == 1
    assert match.replay == {} and match.attempts == 1 and match.scored_at == NOW
    checkin.refresh_from_db()
    assert checkin.status == "verified" and checkin.location_result == "inside" and len(checkin.selfie_phash) == 16
    window = ReportingWindow.objects.get(pk=enrolled["window"].pk)
    assert window.status == WindowStatus.SATISFIED and window.satisfied_by_checkin_id == checkin.pk
    assert tasks_of(checkin) == set()


@pytest.mark.parametrize(
    ("picture", "decision", "reason"),
    [
        (lambda: images.lfw_face(1), "non_match", "face_non_match"),
        (images.scenery, "no_face", "no_face"),
        (two_faces, "multiple_faces", "multiple_faces"),
        (lambda: images.astronaut_elsewhere().resize((300, 200), Image.Resampling.LANCZOS), "low_quality", "low_quality"),
        (lambda: ImageEnhance.Brightness(images.astronaut_elsewhere()).enhance(0.12), "low_quality", "low_quality"),
    ],
    ids=["someone-else", "no-face", "two-faces", "tiny-face", "dark"],
)
def test_every_other_outcome_needs_review_with_its_task(enrolled, picture, decision, reason):
    checkin = submit(enrolled, picture())
    match = scoring.checkin_score(checkin_id=checkin.pk, now=NOW)
    assert match.decision == decision, match.detail
    assert match.detail["message"] if decision != "non_match" else match.best_distance > match.threshold
    checkin.refresh_from_db()
    assert checkin.status == "needs_review"
    assert tasks_of(checkin) == {reason}
    # Reported (the sweep leaves it alone) until an officer decides; not satisfied.
    assert ReportingWindow.objects.get(pk=enrolled["window"].pk).status == WindowStatus.REPORTED


def test_corrupt_bytes_in_storage_are_recorded_as_unreadable(enrolled):
    checkin = submit(enrolled, images.astronaut_elsewhere())
    # The file was damaged after it was stored: a JPEG header and nothing decodable after it.
    default_storage.replace_sealed(checkin.selfie.name, crypto.encrypt(b"\xff\xd8\xff\xe0" + os.urandom(4000) + b"\xff\xd9"))
    match = scoring.checkin_score(checkin_id=checkin.pk, now=NOW)
    assert match.decision == "unreadable" and match.detail["message"]
    checkin.refresh_from_db()
    assert checkin.status == "needs_review" and tasks_of(checkin) == {"unreadable_image"}


def test_a_selfie_that_cannot_be_decrypted_is_recorded_as_unreadable(enrolled):
    checkin = submit(enrolled, images.astronaut_elsewhere())
    default_storage.replace_sealed(checkin.selfie.name, os.urandom(5000))
    match = scoring.checkin_score(checkin_id=checkin.pk, now=NOW)
    assert match.decision == "unreadable" and "decrypted" in match.detail["message"]
    assert tasks_of(checkin) == {"unreadable_image"}


def test_scoring_again_changes_nothing(enrolled):
    checkin = submit(enrolled, images.lfw_face(2))
    assert scoring.checkin_score(checkin_id=checkin.pk, now=NOW).decision == "non_match"
    before = CheckIn.objects.values().get(pk=checkin.pk)
    assert scoring.checkin_score(checkin_id=checkin.pk, now=NOW + timedelta(minutes=10)) is None
    assert CheckIn.objects.values().get(pk=checkin.pk) == before
    assert FaceMatch.objects.filter(checkin=checkin).count() == 1
    assert InvestigationTask.objects.filter(checkin_id=checkin.pk).count() == 1


def test_a_client_without_a_ready_reference_gets_a_non_match_that_says_why(enrolled):
    checkin = submit(enrolled, images.astronaut_elsewhere())
    enrolled["photo"].__class__.objects.filter(pk=enrolled["photo"].pk).update(active=False)
    match = scoring.checkin_score(checkin_id=checkin.pk, now=NOW)
    assert match.decision == "non_match" and match.best_distance is None
    assert "no ready reference" in match.detail["message"]


def test_references_of_another_model_version_are_not_compared(enrolled):
    enrolled["photo"].__class__.objects.filter(pk=enrolled["photo"].pk).update(model_version="some-older-model")
    checkin = submit(enrolled, images.astronaut_elsewhere())
    match = scoring.checkin_score(checkin_id=checkin.pk, now=NOW)
    assert match.decision == "non_match" and match.detail["references"] == 0


def test_the_decision_uses_every_ready_reference(enrolled):
    second = factories.reference_photo(enrolled["client"], images.astronaut_elsewhere(scale=1.2, position=(150, 0)))
    assert second.status == "ready"
    checkin = submit(enrolled, images.astronaut_elsewhere(scale=0.9, position=(20, 60)))
    match = scoring.checkin_score(checkin_id=checkin.pk, now=NOW)
    assert match.decision == "match"
    assert set(match.distances) == {str(enrolled["photo"].pk), str(second.pk)}
    assert match.best_distance <= max(match.distances.values())


def test_a_match_from_outside_the_permitted_area_needs_review(enrolled):
    checkin = submit(enrolled, images.astronaut_elsewhere(), where=(45.5017, -73.5673))  # Montreal
    match = scoring.checkin_score(checkin_id=checkin.pk, now=NOW)
    assert match.decision == "match"
    checkin.refresh_from_db()
    assert checkin.status == "needs_review" and checkin.location_result == "outside"
    assert tasks_of(checkin) == {"location_outside_area"}
    # Reported (the sweep leaves it alone) until an officer decides; not satisfied.
    assert ReportingWindow.objects.get(pk=enrolled["window"].pk).status == WindowStatus.REPORTED


# --- Replays -------------------------------------------------------------------------------


def test_a_resent_reference_photo_opens_a_possible_replay_task_and_is_not_verified(enrolled):
    # The enrolment photo, re-encoded smaller: it matches perfectly, which is the point.
    copy = images.jpeg(images.astronaut().resize((300, 275)), quality=80)
    checkin = submit(enrolled, copy)
    match = scoring.checkin_score(checkin_id=checkin.pk, now=NOW)
    assert match.decision == "match"
    assert match.replay["source"] == "reference_photo" and match.replay["id"] == enrolled["photo"].pk
    assert match.replay["distance_bits"] <= scoring.REPLAY_MAX_BITS
    checkin.refresh_from_db()
    assert checkin.status == "needs_review" and tasks_of(checkin) == {"possible_replay"}
    # Reported (the sweep leaves it alone) until an officer decides; not satisfied.
    assert ReportingWindow.objects.get(pk=enrolled["window"].pk).status == WindowStatus.REPORTED


def test_a_resent_earlier_selfie_opens_a_possible_replay_task(enrolled):
    first = submit(enrolled, images.astronaut_elsewhere(), key="first")
    assert scoring.checkin_score(checkin_id=first.pk, now=NOW).replay == {}
    later = NOW + timedelta(days=1)
    again = Image.open(io.BytesIO(images.jpeg(images.astronaut_elsewhere(), quality=60)))
    second = submit(enrolled, ImageEnhance.Brightness(again).enhance(1.1), key="second", now=later)
    match = scoring.checkin_score(checkin_id=second.pk, now=later)
    assert match.replay["source"] == "checkin" and match.replay["id"] == first.pk
    assert tasks_of(second) == {"possible_replay"}


def test_new_pictures_of_the_same_person_are_not_taken_for_replays(enrolled):
    framings = [dict(), dict(scale=0.9, position=(20, 60)), dict(scale=1.1, position=(200, 0))]
    for day, framing in enumerate(framings):
        when = NOW + timedelta(days=day)
        checkin = submit(enrolled, images.astronaut_elsewhere(**framing), key=f"day{day}", now=when)
        match = scoring.checkin_score(checkin_id=checkin.pk, now=when)
        assert match.decision == "match" and match.replay == {}, match.replay


# --- Claim, retries, poison ----------------------------------------------------------------


def test_a_claimed_checkin_is_left_alone_until_the_lease_runs_out(enrolled):
    checkin = submit(enrolled, images.astronaut_elsewhere())
    assert scoring._checkin_claim(checkin_id=checkin.pk, now=NOW)  # an attempt is scoring it
    assert scoring.checkin_score(checkin_id=checkin.pk, now=NOW + scoring.SCORING_LEASE - timedelta(seconds=1)) is None
    assert CheckIn.objects.get(pk=checkin.pk).scoring_attempts == 1
    match = scoring.checkin_score(checkin_id=checkin.pk, now=NOW + scoring.SCORING_LEASE + timedelta(seconds=1))
    assert match.decision == "match" and match.attempts == 2


def test_a_transient_storage_error_releases_the_claim_and_the_retry_scores(enrolled):
    checkin = submit(enrolled, images.astronaut_elsewhere())
    path = checkin.selfie.path
    os.rename(path, path + ".away")  # the storage is briefly unavailable
    with pytest.raises(OSError):
        scoring.checkin_score(checkin_id=checkin.pk, now=NOW)
    checkin.refresh_from_db()
    assert (checkin.status, checkin.scoring_started_at, checkin.scoring_attempts) == ("scoring", None, 1)
    assert not FaceMatch.objects.filter(checkin=checkin).exists()
    os.rename(path + ".away", path)
    match = scoring.checkin_score(checkin_id=checkin.pk, now=NOW + timedelta(seconds=5))
    assert match.decision == "match" and match.attempts == 2


def test_an_image_that_kills_every_attempt_ends_as_unreadable_after_a_bounded_number(enrolled):
    checkin = submit(enrolled, images.astronaut_elsewhere())
    when = NOW
    for _ in range(scoring.MAX_SCORING_ATTEMPTS):
        # Each attempt claims the check-in and dies (the worker is killed, or hits its hard
        # time limit) without a result; the next one may take over when the lease runs out.
        assert scoring._checkin_claim(checkin_id=checkin.pk, now=when)
        when += scoring.SCORING_LEASE + timedelta(seconds=1)
    match = scoring.checkin_score(checkin_id=checkin.pk, now=when)
    assert match.decision == "unreadable"
    assert match.detail["gave_up_after_attempts"] == scoring.MAX_SCORING_ATTEMPTS
    assert match.attempts == scoring.MAX_SCORING_ATTEMPTS + 1
    checkin.refresh_from_db()
    assert checkin.status == "needs_review" and tasks_of(checkin) == {"unreadable_image"}
    assert scoring.checkin_score(checkin_id=checkin.pk, now=when + timedelta(hours=1)) is None


# --- Reconciler ----------------------------------------------------------------------------


def test_the_reconciler_picks_exactly_the_checkins_left_unjudged(enrolled):
    waiting = submit(enrolled, images.astronaut_elsewhere(), key="waiting")
    dead = submit(enrolled, images.astronaut_elsewhere(), key="dead")
    released = submit(enrolled, images.astronaut_elsewhere(), key="released")
    done = submit(enrolled, images.lfw_face(3), key="done")
    assert scoring._checkin_claim(checkin_id=dead.pk, now=NOW)
    assert scoring._checkin_claim(checkin_id=released.pk, now=NOW)
    scoring._checkin_release(checkin_id=released.pk, claimed_at=NOW)
    scoring.checkin_score(checkin_id=done.pk, now=NOW)

    def picked(at):
        return set(selectors.checkins_to_rescore(now=at, lease=scoring.SCORING_LEASE).values_list("pk", flat=True))

    assert picked(NOW + timedelta(seconds=30)) == set()
    assert picked(NOW + scoring.SCORING_LEASE + timedelta(seconds=1)) == {dead.pk}
    assert picked(NOW + selectors.RECEIVED_STALE_AFTER + timedelta(seconds=1)) == {waiting.pk, dead.pk, released.pk}


def test_the_reconciler_never_takes_a_checkin_that_is_still_being_scored(enrolled):
    # Its bound follows the task's limits: an attempt is killed at the hard time limit, and
    # only after that (plus a margin) does the reconciler treat its check-in as abandoned.
    assert tasks.checkin_score.soft_time_limit < tasks.checkin_score.time_limit
    assert tasks.checkin_score.time_limit < scoring.SCORING_LEASE.total_seconds()
    assert scoring.SCORING_LEASE <= selectors.RECEIVED_STALE_AFTER
    checkin = submit(enrolled, images.astronaut_elsewhere())
    claimed_at = NOW + timedelta(minutes=10)  # e.g. a long queue: claimed well after arrival
    assert scoring._checkin_claim(checkin_id=checkin.pk, now=claimed_at)
    still_running = claimed_at + timedelta(seconds=tasks.checkin_score.time_limit)
    assert not selectors.checkins_to_rescore(now=still_running, lease=scoring.SCORING_LEASE).filter(pk=checkin.pk).exists()
    assert selectors.checkins_to_rescore(now=claimed_at + scoring.SCORING_LEASE + timedelta(seconds=1), lease=scoring.SCORING_LEASE).filter(pk=checkin.pk).exists()
