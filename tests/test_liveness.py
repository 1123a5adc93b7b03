"""Liveness by challenge (README: Liveness): the challenge endpoint, frames sent with the
check-in and stored like the selfie, the nonce used once and within its two minutes, the
worker's verdict (a head that turns as asked passes; a flat picture turned in front of the
camera, a repeated or replayed picture, frames in the wrong order or of somebody else do not),
the liveness_failed task with its frames on the task page, and the single-selfie check-in
where a condition allows it."""

import functools
import json
import re
from datetime import timedelta

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from biometrics import faces, liveness
from enforcement import services as enforcement_services
from enforcement.errors import DomainError
from enforcement.models import AccessRecord, InvestigationTask
from reportin import retention, scoring, services
from reportin.models import CheckIn, FaceMatch, LivenessChallenge, LivenessFrame
from tests import factories, images
from tests.conftest import make_reporter, stored_files

pytestmark = pytest.mark.django_db

NOW = timezone.now().replace(microsecond=0)
TORONTO = (43.6532, -79.3832)
# Eye distances the nose moves in the synthetic head turns (tests/images.head_turned): a turn
# of the astronaut's head to her left (nose to the picture's right) and to her right.
TURN = {"left": 0.5, "right": -0.6}


@functools.cache
def live_frame(pose: str, position: int) -> bytes:
    """A frame of the astronaut's head in `pose`, framed a little differently at each position
    (a real camera never delivers the same picture twice)."""
    scene = images.astronaut_elsewhere(position=(200 + 25 * position, 30 + 5 * position))
    if pose != "frontal":
        scene = images.head_turned(scene, amount=TURN[pose])
    return images.jpeg(scene, quality=88)


def live_frames(poses: list[str]) -> list[bytes]:
    return [live_frame(pose, position) for position, pose in enumerate(poses)]


@functools.cache
def flat_frame(pose: str) -> bytes:
    """A printed photo of the astronaut held in front of the camera, turned for the turns."""
    picture = images.astronaut_elsewhere(position=(200, 30))
    degrees = {"frontal": 0, "left": -35, "right": 35}[pose]
    return images.jpeg(liveness.flat_picture_turned(picture, yaw_degrees=degrees, pitch_degrees=5) if degrees else picture, quality=88)


@pytest.fixture
def liveness_required(settings):
    settings.REPORTIN_LIVENESS_REQUIRED = True


@pytest.fixture
def enrolled(liveness_required):
    client = factories.client()
    factories.consent_both(client)
    factories.condition(client, starts_on=factories.LATER)
    window = factories.window(client, opens_at=NOW - timedelta(hours=1), minutes=120)
    photo = factories.reference_photo(client)
    assert photo.status == "ready", photo.rejection_message
    _, device = factories.device(client)
    return {"client": client, "device": device, "window": window, "photo": photo}


def submit(enrolled, frames_for, *, key="k1", nonce=None, challenge=None, now=NOW) -> CheckIn:
    """Ask for a challenge and answer it with `frames_for(poses)`."""
    if nonce is None:
        nonce, challenge = services.challenge_issue(device=enrolled["device"], now=now)
    checkin, created = services.checkin_submit(
        device=enrolled["device"], selfie=None, frames=frames_for(challenge.poses), challenge_nonce=nonce,
        latitude=TORONTO[0], longitude=TORONTO[1], accuracy_m=15, captured_at=now, idempotency_key=key, now=now,
    )
    assert created
    return checkin


def reasons(checkin) -> set[str]:
    return set(InvestigationTask.objects.filter(checkin_id=checkin.pk).values_list("reason", flat=True))


# --- The challenge --------------------------------------------------------------------------


def test_the_challenge_is_a_single_use_nonce_with_a_random_pose_sequence_for_two_minutes():
    reporter = make_reporter()
    sequences = set()
    for _ in range(12):
        response = reporter.api.post("/api/v1/check-ins/challenge")
        assert response.status_code == 201, response.content
        body = response.json()
        poses = body["poses"]
        assert poses[0] == "frontal" and {"left", "right"} <= set(poses) and 3 <= len(poses) <= 5
        assert all(a != b for a, b in zip(poses, poses[1:])), poses
        assert len(body["instructions"]) == len(poses)
        assert (timezone.datetime.fromisoformat(body["expires_at"]) - timezone.datetime.fromisoformat(body["issued_at"])) == timedelta(minutes=2)
        sequences.add(tuple(poses))
        # Stored as a keyed hash: the nonce itself is nowhere in the database.
        assert not LivenessChallenge.objects.filter(nonce_hash=body["challenge"]).exists()
    assert len(sequences) > 1
    assert LivenessChallenge.objects.filter(device=reporter.device, used_at__isnull=True).count() == 12


def test_the_challenge_and_its_errors_speak_french(liveness_required):
    reporter = make_reporter()
    body = reporter.api.post("/api/v1/check-ins/challenge", HTTP_ACCEPT_LANGUAGE="fr").json()
    assert body["instructions"][0] == "Regardez droit vers la caméra."
    refused = reporter.api.post(
        "/api/v1/check-ins", {"latitude": "43.6", "longitude": "-79.3", "accuracy_m": "10", "captured_at": NOW.isoformat(),
                              "selfie": SimpleUploadedFile("s.jpg", images.selfie(), "image/jpeg")},
        format="multipart", HTTP_IDEMPOTENCY_KEY="k", HTTP_ACCEPT_LANGUAGE="fr",
    )
    assert refused.json()["error"]["message"].startswith("Répondez au défi de présence")


def test_a_challenge_needs_both_consents():
    reporter = make_reporter(consent=False)
    response = reporter.api.post("/api/v1/check-ins/challenge")
    assert response.status_code == 403 and response.json()["error"]["code"] == "consent_required"
    assert not LivenessChallenge.objects.exists()


# --- The check-in request -------------------------------------------------------------------


def post_frames(reporter, frames: list[bytes], nonce: str, *, key="key-1", **fields):
    uploads = [SimpleUploadedFile(f"frame{i}.jpg", data, "image/jpeg") for i, data in enumerate(frames)]
    fields.setdefault("captured_at", NOW.isoformat())  # the same on a retry
    return reporter.check_in(key=key, selfie=None, frames=uploads, challenge=nonce, **fields)


def test_a_single_selfie_is_refused_where_the_condition_asks_for_liveness_and_allowed_where_it_does_not(liveness_required, media_root):
    reporter = make_reporter()
    refused = reporter.check_in()
    assert refused.status_code == 400, refused.content
    assert refused.json()["error"]["code"] == "liveness_required" and "frames" in refused.json()["error"]["fields"]
    assert not CheckIn.objects.exists() and stored_files(media_root) == []

    condition = reporter.client.conditions.get(active=True)
    fields = {f: getattr(condition, f) for f in ("schedule", "interval_days", "window_start", "window_minutes", "starts_on")}
    factories.condition(reporter.client, single_selfie_allowed=True, **fields)
    accepted = reporter.check_in(key="key-2")
    assert accepted.status_code == 202, accepted.content
    checkin = CheckIn.objects.get()
    assert checkin.capture_mode == "single_selfie"


def test_frames_are_stored_encrypted_like_the_selfie_and_the_nonce_answers_one_checkin(liveness_required, media_root):
    reporter = make_reporter()
    challenge = reporter.api.post("/api/v1/check-ins/challenge").json()
    frames = live_frames(challenge["poses"])
    response = post_frames(reporter, frames, challenge["challenge"])
    assert response.status_code == 202, response.content
    checkin = CheckIn.objects.get(pk=response.json()["id"])
    assert checkin.capture_mode == "challenge"
    stored = list(checkin.liveness_frames.all())
    assert [f.pose for f in stored] == challenge["poses"] and [f.position for f in stored] == list(range(len(frames)))
    files = stored_files(media_root, "liveness")
    assert len(files) == len(frames)
    for path in files:
        assert not path.read_bytes().startswith(b"\xff\xd8")  # sealed, not a JPEG
    assert stored[0].image.open("rb").read().startswith(b"\xff\xd8")
    # No selfie sent: the frontal frame is the selfie.
    assert checkin.selfie_sha256 == stored[0].sha256
    used = LivenessChallenge.objects.get(device=reporter.device)
    assert used.checkin == checkin and used.used_at is not None

    # A retry of the same request answers with the same check-in...
    retry = post_frames(reporter, frames, challenge["challenge"])
    assert retry.status_code == 202 and retry.json()["id"] == checkin.pk and retry["Idempotent-Replayed"] == "true"
    # ...another check-in with the same nonce is refused and stores nothing.
    again = post_frames(reporter, frames, challenge["challenge"], key="key-2")
    assert again.status_code == 409 and again.json()["error"]["code"] == "challenge_used", again.content
    assert CheckIn.objects.count() == 1 and LivenessFrame.objects.count() == len(frames)
    assert len(stored_files(media_root, "liveness")) == len(frames)


def test_a_challenge_is_refused_once_expired_unknown_or_answered_with_the_wrong_number_of_frames(enrolled):
    nonce, challenge = services.challenge_issue(device=enrolled["device"], now=NOW)
    frames = live_frames(challenge.poses)

    def attempt(**overrides):
        fields = dict(
            device=enrolled["device"], selfie=None, frames=frames, challenge_nonce=nonce, latitude=TORONTO[0], longitude=TORONTO[1],
            accuracy_m=15, captured_at=NOW, idempotency_key="k", now=NOW,
        )
        fields.update(overrides)
        with pytest.raises(DomainError) as caught:
            services.checkin_submit(**fields)
        return caught.value.code

    assert attempt(now=NOW + timedelta(seconds=121)) == "challenge_expired"
    assert attempt(challenge_nonce="not-a-nonce") == "challenge_invalid"
    assert attempt(frames=frames[:2] + frames[:2] + frames[:2]) == "invalid_input"
    other = make_reporter()
    assert attempt(device=other.device) in {"challenge_invalid", "consent_required"}
    assert not CheckIn.objects.exists()


def test_frames_pass_the_same_image_checks_as_the_selfie(liveness_required):
    reporter = make_reporter()
    challenge = reporter.api.post("/api/v1/check-ins/challenge").json()
    frames = live_frames(challenge["poses"])
    gif = b"GIF89a" + b"\x00" * 64
    response = post_frames(reporter, [gif, *frames[1:]], challenge["challenge"])
    assert response.status_code == 415, response.content
    assert response.json()["error"]["code"] == "unsupported_image_type" and "frames" in response.json()["error"]["fields"]
    too_few = post_frames(reporter, frames[:2], challenge["challenge"])
    assert too_few.status_code == 400 and "frames" in too_few.json()["error"]["fields"]
    too_many = post_frames(reporter, frames + frames[:3], challenge["challenge"])
    assert too_many.status_code == 400 and "frames" in too_many.json()["error"]["fields"]
    assert not CheckIn.objects.exists()
    assert LivenessChallenge.objects.get().used_at is None


# --- The worker's verdict -------------------------------------------------------------------


def test_a_head_that_turns_as_asked_passes_and_the_checkin_is_verified(enrolled):
    checkin = submit(enrolled, live_frames)
    match = scoring.checkin_score(checkin_id=checkin.pk, now=NOW)
    figures = match.liveness
    assert figures["mode"] == "challenge" and figures["passed"] is True, figures["messages"]
    assert figures["failures"] == [] and len(figures["frames"]) == len(figures["poses"])
    for row in figures["frames"]:
        assert row["outcome"] == "ok" and row["distance"] <= match.threshold + liveness.TURNED_THRESHOLD_MARGIN
        if row["pose"] != "frontal":
            assert row["turn"] >= liveness.TURN_MIN_SIDE
    assert figures["turn_span"] >= liveness.TURN_MIN_SPAN
    assert figures["challenge"]["answered_in_seconds"] == 0
    checkin.refresh_from_db()
    assert match.decision == "match" and checkin.status == "verified"
    assert reasons(checkin) == set()
    enrolled["window"].refresh_from_db()
    assert enrolled["window"].status == "satisfied"


def test_a_flat_photo_turned_in_front_of_the_camera_opens_a_liveness_task_and_nothing_else(enrolled):
    checkin = submit(enrolled, lambda poses: [flat_frame(pose) if i else live_frame("frontal", 0) for i, pose in enumerate(poses)])
    match = scoring.checkin_score(checkin_id=checkin.pk, now=NOW)
    assert match.liveness["passed"] is False and "pose" in match.liveness["failures"], match.liveness
    # The face is the person's: the face decision is a match, but the check-in waits for an officer.
    assert match.decision == "match"
    checkin.refresh_from_db()
    assert checkin.status == "needs_review"
    assert reasons(checkin) == {"liveness_failed"}
    task = InvestigationTask.objects.get(checkin_id=checkin.pk)
    assert task.evidence["liveness"]["frame_ids"] == list(checkin.liveness_frames.values_list("pk", flat=True))
    assert any("flat picture" in message for message in task.evidence["liveness"]["messages"])
    enrolled["window"].refresh_from_db()
    assert enrolled["window"].status == "reported"  # not satisfied, not missed: an officer decides


@pytest.mark.parametrize(
    "attack, failure",
    [
        ("same_photo_repeated", "repeated_frame"),
        ("wrong_order", "pose"),
    ],
)
def test_presentation_attacks_fail_the_challenge(enrolled, attack, failure):
    def frames_for(poses):
        if attack == "same_photo_repeated":
            return [live_frame("frontal", 0)] * len(poses)
        # Turns the other way round: the frames of the sequence asked, in another order.
        swapped = [{"left": "right", "right": "left"}.get(pose, pose) for pose in poses]
        return live_frames(swapped)

    checkin = submit(enrolled, frames_for)
    match = scoring.checkin_score(checkin_id=checkin.pk, now=NOW)
    assert match.liveness["passed"] is False and failure in match.liveness["failures"], match.liveness
    assert "liveness_failed" in reasons(checkin)


def test_a_previous_checkins_frames_sent_again_are_caught(enrolled):
    first = submit(enrolled, live_frames)
    scoring.checkin_score(checkin_id=first.pk, now=NOW)
    sent = {frame.pose: frame.image.open("rb").read() for frame in first.liveness_frames.all()}
    later = NOW + timedelta(minutes=5)
    second = submit(enrolled, lambda poses: [sent[pose] for pose in poses], key="k2", now=later)
    match = scoring.checkin_score(checkin_id=second.pk, now=later)
    assert match.liveness["passed"] is False and "replayed_frame" in match.liveness["failures"], match.liveness
    assert any(row.get("replay_of", {}).get("kind") == "checkin_frame" for row in match.liveness["frames"])


@pytest.mark.faces
def test_frames_of_another_person_fail_identity(enrolled, shared_faces):
    client = factories.client()
    factories.consent_both(client)
    factories.condition(client, starts_on=factories.LATER)
    reference = sorted(next(p for p in sorted(shared_faces.iterdir()) if p.is_dir()).iterdir())[0]
    photo = enforcement_services.reference_photo_add(client=client, data=reference.read_bytes(), uploaded_by=None)
    assert photo.status == "ready", photo.rejection_message
    _, device = factories.device(client)
    checkin = submit({"device": device}, live_frames)  # the astronaut's head against another person's references
    match = scoring.checkin_score(checkin_id=checkin.pk, now=NOW)
    assert match.liveness["passed"] is False and "identity" in match.liveness["failures"]
    assert {"liveness_failed", "face_non_match"} <= reasons(checkin)


def test_a_single_selfie_checkin_records_why_it_was_allowed(settings):
    settings.REPORTIN_LIVENESS_REQUIRED = False
    client = factories.client()
    factories.consent_both(client)
    factories.condition(client, starts_on=factories.LATER)
    factories.reference_photo(client)
    _, device = factories.device(client)
    checkin, _ = services.checkin_submit(
        device=device, selfie=images.selfie(), latitude=TORONTO[0], longitude=TORONTO[1], accuracy_m=15,
        captured_at=NOW, idempotency_key="k", now=NOW,
    )
    match = scoring.checkin_score(checkin_id=checkin.pk, now=NOW)
    assert match.liveness == {"mode": "single_selfie", "condition_allows_single_selfie": False, "liveness_required": False}
    assert FaceMatch.objects.get().decision == "match"


def test_the_frames_are_purged_with_the_selfie(enrolled, media_root, settings, django_capture_on_commit_callbacks):
    checkin = submit(enrolled, live_frames)
    scoring.checkin_score(checkin_id=checkin.pk, now=NOW)
    assert len(stored_files(media_root, "liveness")) == LivenessFrame.objects.count() > 0
    later = NOW + timedelta(days=settings.REPORTIN_RETAIN_SELFIE_DAYS + 1)
    with django_capture_on_commit_callbacks(execute=True):  # files go once the rows no longer name them
        result = retention.purge_expired(now=later)
    assert result.counts["selfies"] == 1
    assert stored_files(media_root, "liveness") == [] and stored_files(media_root) == []
    assert not LivenessFrame.objects.exclude(image="").exists()


def test_an_officer_allows_a_single_selfie_in_the_condition_form(client, liveness_required):
    officer = factories.staff("condition-officer")
    factories.staff_login(client, officer)
    reporter = make_reporter()
    fields = {
        "client": reporter.client.pk, "method": "remote", "schedule": "every_n_days", "interval_days": 1, "window_start": "09:30",
        "window_minutes": 120, "grace_minutes": 30, "starts_on": "2030-03-01", "single_selfie_allowed": "on",
    }
    saved = client.post("/admin/enforcement/reportingcondition/add/", fields)
    assert saved.status_code == 302, re.findall(r"errorlist[^>]*>(.*?)</ul>", saved.content.decode(), re.S)
    assert reporter.client.conditions.get(active=True).single_selfie_allowed is True
    assert reporter.api.get("/api/v1/me").json()["liveness_required"] is False
    assert reporter.check_in().status_code == 202


# --- What the officer sees ------------------------------------------------------------------


def test_the_task_page_shows_the_frames_and_each_view_is_recorded(client, enrolled):
    checkin = submit(enrolled, lambda poses: [flat_frame(pose) if i else live_frame("frontal", 0) for i, pose in enumerate(poses)])
    scoring.checkin_score(checkin_id=checkin.pk, now=NOW)
    task = InvestigationTask.objects.get(checkin_id=checkin.pk, reason="liveness_failed")
    officer = factories.staff("liveness-officer")
    factories.staff_login(client, officer)
    # The blind first look (a liveness_failed task: REPORTIN_BLIND_REVIEW_REASONS) hides the
    # challenge's verdict until answered.
    page = client.get(f"/admin/enforcement/investigationtask/{task.pk}/change/")
    assert "Same person?" in page.content.decode() and "flat picture" not in page.content.decode()
    client.post(f"/admin/enforcement/investigationtask/{task.pk}/blind/", {"answer": "cant_tell"})
    page = client.get(f"/admin/enforcement/investigationtask/{task.pk}/change/")
    assert page.status_code == 200
    body = page.content.decode()
    frames = list(checkin.liveness_frames.order_by("position"))
    urls = re.findall(r'src="(/admin/enforcement/investigationtask/\d+/frame/\d+/)"', body)
    assert urls == [f"/admin/enforcement/investigationtask/{task.pk}/frame/{f.pk}/" for f in frames]
    assert "Liveness challenge" in body and "flat picture" in body
    image = client.get(urls[1])
    assert image.status_code == 200 and image["Content-Type"] == "image/jpeg" and image.content.startswith(b"\xff\xd8")
    assert AccessRecord.objects.filter(viewer=officer, object_type="liveness_frame", object_id=frames[1].pk).count() == 1
    # A frame of another check-in is not reachable through this task.
    other = submit(enrolled, live_frames, key="k2", now=NOW + timedelta(minutes=1))
    assert client.get(f"/admin/enforcement/investigationtask/{task.pk}/frame/{other.liveness_frames.first().pk}/").status_code == 404


# --- The rules themselves (biometrics.liveness.verify), on figures ---------------------------


def _frame(yaw, encoding, phash, eyes_x=0.4):
    return liveness.Frame(outcome=faces.Outcome.OK, yaw=yaw, encoding=np.asarray(encoding, dtype=np.float64), phash=phash, eyes=[[eyes_x, 0.4], [eyes_x + 0.15, 0.4]])


def test_verify_judges_pose_relative_to_the_persons_own_frontal_pose():
    me = np.zeros(128)
    frames = [_frame(0.1, me, "0" * 16, 0.40), _frame(0.3, me, "f" * 16, 0.30), _frame(-0.1, me, "0f" * 8, 0.50)]
    verdict = liveness.verify(poses=["frontal", "left", "right"], frames=frames, references=[me], threshold=0.5)
    assert verdict.passed, verdict.messages
    # A flat picture: the nose stays where it was.
    flat = [_frame(0.1, me, "0" * 16, 0.40), _frame(0.13, me, "f" * 16, 0.30), _frame(0.08, me, "0f" * 8, 0.50)]
    verdict = liveness.verify(poses=["frontal", "left", "right"], frames=flat, references=[me], threshold=0.5)
    assert verdict.failures == ["pose"] and len(verdict.messages) == 3  # both turns, and the span between them


def test_verify_catches_another_persons_turns_and_a_replay():
    me, other = np.zeros(128), np.full(128, 0.08)  # 0.9 apart
    frames = [_frame(0.0, me, "0" * 16, 0.40), _frame(0.3, other, "f" * 16, 0.30), _frame(-0.3, me, "0f" * 8, 0.50)]
    verdict = liveness.verify(
        poses=["frontal", "left", "right"], frames=frames, references=[me], threshold=0.5,
        earlier=[liveness.Capture("checkin_frame", 7, "0f" * 8, [[0.5, 0.4], [0.65, 0.4]])],
    )
    assert verdict.failures == ["identity", "replayed_frame"], verdict.messages
    assert verdict.figures["frames"][2]["replay_of"] == {"kind": "checkin_frame", "id": 7}


# --- evaluate_liveness ------------------------------------------------------------------------


def test_evaluate_liveness_reports_apcer_per_attack_and_bpcer(tmp_path, capsys):
    """On a folder of one person (the astronaut: a reference, a frontal photo and a head turned
    each way): the bona fide sequence passes and every attack made from it is refused."""
    from django.core.management import call_command

    person = tmp_path / "photos" / "astronaut"
    person.mkdir(parents=True)
    (person / "1.jpg").write_bytes(images.jpeg(images.astronaut()))
    scene = images.astronaut_elsewhere(position=(200, 30))
    (person / "2.jpg").write_bytes(images.jpeg(scene))
    (person / "3.jpg").write_bytes(images.jpeg(images.head_turned(images.astronaut_elsewhere(position=(150, 30)), amount=TURN["left"])))
    (person / "4.jpg").write_bytes(images.jpeg(images.head_turned(images.astronaut_elsewhere(position=(250, 30)), amount=TURN["right"])))
    cache = tmp_path / "cache.jsonl"
    call_command("evaluate_liveness", str(tmp_path / "photos"), "--json", "--cache", str(cache), "--nonce-trials", "1", "--planar", "2")
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["bona_fide"] == 1 and line["bpcer"] == 0 and line["bpcer_all"] == 0
    for attack in ("repeated", "planar", "wrong_order", "previous_frames", "reused_nonce"):
        assert line["apcer"][attack] == 0, (attack, line)
    assert line["attacks"]["planar"] == 2 and line["attacks"]["reused_nonce"] == 1
    assert line["failure_codes"]["planar"]["pose"] == 2 and line["failure_codes"]["previous_frames"]["replayed_frame"] == 1
    # A second run takes every analysis from the cache.
    lines = cache.read_text().count("\n")
    call_command("evaluate_liveness", str(tmp_path / "photos"), "--json", "--cache", str(cache), "--nonce-trials", "0", "--planar", "2")
    assert cache.read_text().count("\n") == lines
