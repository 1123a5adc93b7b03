"""Scoring a check-in: claim it, analyse its selfie, compare with the references, record the
result and conclude (verified, or tasks for an officer). Run by reportin.tasks.checkin_score."""

import hashlib
import logging
import time
from collections.abc import Iterator
from datetime import datetime, timedelta

import numpy as np
from django.conf import settings
from django.core.files.base import ContentFile
from django.db import DatabaseError, IntegrityError, InterfaceError, OperationalError, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.crypto import salted_hmac

from biometrics import calibration, faces, images, liveness
from enforcement import crypto, face_model, location
from enforcement import selectors as enforcement_selectors
from enforcement import services as enforcement_services
from enforcement.models import (
    Client,
    NoticeKind,
    PhotoStatus,
    RecentReference,
    RecentReferenceSource,
    ReferencePhoto,
    TaskPriority,
    TaskReason,
)
from enforcement.transitions import transition
from reportin import selectors as reportin_selectors
from reportin.models import (
    CHECKIN_STATUS_TRANSITIONS,
    CaptureMode,
    CheckIn,
    CheckInStatus,
    FaceDecision,
    FaceMatch,
    LivenessChallenge,
)

logger = logging.getLogger(__name__)


# Time limits of one scoring attempt (reportin.tasks.checkin_score). A 12 MP selfie takes well
# under a second of CPU (a few on a saturated machine); the limits only stop an attempt that is
# stuck on a pathological image. They are short because they bound recovery: a check-in whose
# worker vanished waits out its lease (README: Reliability).
SCORING_SOFT_TIME_LIMIT = 20
SCORING_TIME_LIMIT = 25
# A claim holds a check-in for this long. Past the hard time limit the attempt that claimed it
# is certainly dead, so a redelivery or the reconciler may take over; before that, they leave
# it alone and a check-in is never scored twice at once (the redelivery of the very message
# whose worker died takes over at once: see _checkin_claim).
SCORING_LEASE = timedelta(seconds=SCORING_TIME_LIMIT + 10)
# Claims after which a check-in that never got a result is recorded as unreadable: an image
# that kills or hangs the worker must end with an officer, not in a loop.
MAX_SCORING_ATTEMPTS = 4
# Worth another attempt: the database or the file storage was briefly unavailable.
TRANSIENT_ERRORS = (OperationalError, InterfaceError, OSError)
# Perceptual hashes at most this many bits apart mark a re-sent picture. Re-encoded, resized
# or brightened copies stay within 6 bits; distinct photos of one person were 12 or more
# apart (docs/face-calibration.md).
REPLAY_MAX_BITS = 8
# ...and a copy has the eyes where the original had them (landmarks move a pixel or two when a
# copy is resized; 2% of the frame is tens of pixels).
REPLAY_MAX_EYE_SHIFT = 0.02

# A verified selfie at least this far inside the threshold may become a recent reference
# (docs/face-calibration.md: "References that age with the person").
RECENT_REFERENCE_MARGIN = 0.10

_REASON_FOR = {
    FaceDecision.NON_MATCH: TaskReason.FACE_NON_MATCH,
    FaceDecision.NO_FACE: TaskReason.NO_FACE,
    FaceDecision.MULTIPLE_FACES: TaskReason.MULTIPLE_FACES,
    FaceDecision.LOW_QUALITY: TaskReason.LOW_QUALITY,
    FaceDecision.UNREADABLE: TaskReason.UNREADABLE_IMAGE,
}

_DECISION_FOR = {
    faces.Outcome.NO_FACE: FaceDecision.NO_FACE,
    faces.Outcome.MULTIPLE_FACES: FaceDecision.MULTIPLE_FACES,
    faces.Outcome.LOW_QUALITY: FaceDecision.LOW_QUALITY,
    faces.Outcome.UNREADABLE: FaceDecision.UNREADABLE,
}


def checkin_score(*, checkin_id: int, now: datetime | None = None, attempt_id: str = "") -> FaceMatch | None:
    """Score a check-in's selfie against the client's reference photos and act on the result.

    Idempotent: only a claimed check-in is scored, and one FaceMatch per check-in is a
    database fact, so a second run or a duplicate delivery changes nothing (returns None;
    `checkin_claim_wait` then tells whether another attempt still holds it).
    A transient error releases the claim and propagates, for the task to retry.
    `attempt_id` names the attempt (the Celery task id): the same id may take over its own
    claim, as only a message whose worker died is delivered again with the same id."""
    now = now or timezone.now()
    if not _checkin_claim(checkin_id=checkin_id, now=now, attempt_id=attempt_id):
        return None
    started = time.perf_counter()
    try:
        checkin = CheckIn.objects.select_related("client", "window").get(pk=checkin_id)
        if checkin.scoring_attempts > MAX_SCORING_ATTEMPTS:
            analysis = faces.Analysis(
                faces.Outcome.UNREADABLE,
                f"Scoring did not finish in {MAX_SCORING_ATTEMPTS} attempts (the worker was stopped or timed out each time).",
                detail={"gave_up_after_attempts": MAX_SCORING_ATTEMPTS},
            )
        else:
            analysis = _selfie_analyse(checkin)
        try:
            references = _reference_encodings(checkin.client)
        except crypto.DecryptionError as exc:
            # A reference encoding that does not open as its own record's (moved from another
            # client's row, altered): never compare with it, nor with the rest; an officer looks.
            logger.error("check-in %s: a reference encoding of client %s did not open: %s", checkin.pk, checkin.client_id, exc)
            references = []
            analysis = faces.Analysis(
                faces.Outcome.UNREADABLE,
                "A reference encoding of this client could not be opened for its own record; nothing was compared.",
                detail={"reference_error": str(exc)},
            )
        replay = _replay_find(checkin=checkin, analysis=analysis)
        figures = _liveness_check(checkin=checkin, selfie=analysis, references=references)
        return _checkin_record(
            checkin=checkin, analysis=analysis, references=references, replay=replay, liveness_figures=figures, started=started, now=now
        )
    except TRANSIENT_ERRORS:
        _checkin_release(checkin_id=checkin_id, claimed_at=now)
        raise


def _checkin_claim(*, checkin_id: int, now: datetime, attempt_id: str = "") -> bool:
    """Take a check-in for one scoring attempt, counting the attempt durably."""
    claimable = (
        Q(status=CheckInStatus.RECEIVED)
        | Q(status=CheckInStatus.SCORING, scoring_started_at__isnull=True)
        | Q(status=CheckInStatus.SCORING, scoring_started_at__lt=now - SCORING_LEASE)
    )
    if attempt_id:
        # The same message delivered again: the worker that held it died mid-attempt (Celery
        # gives the message back, reject_on_worker_lost) or kept it past the visibility
        # timeout, which outlasts the hard time limit. Either way that attempt is over.
        claimable |= Q(status=CheckInStatus.SCORING, scoring_task_id=attempt_id)
    # Conditional UPDATE: of two deliveries of one check-in (a duplicate message, the
    # reconciler), only one claims it while another attempt's lease runs.
    return bool(
        transition(
            CheckIn.objects.filter(pk=checkin_id).filter(claimable),
            table=CHECKIN_STATUS_TRANSITIONS,
            to=CheckInStatus.SCORING,
            scoring_started_at=now,
            scoring_task_id=attempt_id[:64],
            scoring_attempts=F("scoring_attempts") + 1,
        )
    )


def checkin_claim_wait(*, checkin_id: int, now: datetime) -> float | None:
    """Seconds until another attempt's claim on this unjudged check-in runs out (0 when it can
    be claimed now); None when there is nothing left to do (judged, or no such check-in).

    A delivery that finds the check-in held waits this long and tries again, rather than
    being dropped: if the holder died, recovery then takes one lease, not a reconciler round."""
    row = (
        CheckIn.objects.filter(pk=checkin_id, status__in=[CheckInStatus.RECEIVED, CheckInStatus.SCORING])
        .values_list("status", "scoring_started_at")
        .first()
    )
    if row is None:
        return None
    status, started_at = row
    if status == CheckInStatus.RECEIVED or started_at is None:
        return 0.0
    return max(0.0, (started_at + SCORING_LEASE - now).total_seconds())


def _checkin_release(*, checkin_id: int, claimed_at: datetime) -> None:
    """Give up our claim after a transient error so that the retry can take it at once. Best
    effort: when the database itself is down, the lease simply runs out."""
    try:
        CheckIn.objects.filter(pk=checkin_id, status=CheckInStatus.SCORING, scoring_started_at=claimed_at).update(
            scoring_started_at=None
        )
    except DatabaseError:
        logger.warning("could not release the claim on check-in %s; it expires by itself", checkin_id)


def _selfie_analyse(checkin: CheckIn) -> faces.Analysis:
    if not checkin.selfie:
        return faces.Analysis(faces.Outcome.UNREADABLE, "No photo was stored with this check-in.")
    try:
        with checkin.selfie.open("rb") as handle:
            data = handle.read()
    except crypto.DecryptionError as exc:
        return faces.Analysis(faces.Outcome.UNREADABLE, "The stored photo could not be decrypted.", detail={"error": str(exc)})
    if not images.is_upright_jpeg(data):
        try:
            data = _selfie_normalise(checkin, data)
        except images.ImageRejected as exc:
            return faces.Analysis(faces.Outcome.UNREADABLE, exc.message, detail={"code": exc.code})
    return faces.analyse(data, max_pixels=settings.REPORTIN_IMAGE_MAX_PIXELS)


def _selfie_normalise(checkin: CheckIn, data: bytes) -> bytes:
    """Replace a stored selfie that is not yet an upright JPEG (a turned JPEG, a PNG or a HEIC,
    stored as uploaded minus its metadata) with the upright clean JPEG officers will see.

    Done here rather than in the request because it decodes the whole picture: a 40 MP HEIC
    costs seconds and hundreds of megabytes, which the worker's time limit and memory bound
    and a web process must not spend on any upload. Runs under the
    scoring claim, so no other attempt touches the file meanwhile; a retry after a crash finds
    either the old file (and does it again) or the new one (already upright)."""
    clean = images.stored_copy(data, images.inspect(data, max_pixels=settings.REPORTIN_IMAGE_MAX_PIXELS))
    old_name = checkin.selfie.name
    checkin.selfie.save("selfie", ContentFile(clean), save=False)
    CheckIn.objects.filter(pk=checkin.pk).update(selfie=checkin.selfie.name, selfie_sha256=hashlib.sha256(clean).hexdigest())
    checkin.selfie.storage.delete(old_name)
    return clean


def _reference_encodings(client: Client) -> list[tuple[ReferencePhoto | RecentReference, np.ndarray]]:
    """The client's ready reference encodings of the current model, enrolment photos first,
    then the active recent references (enforcement.RecentReference). Encodings of another
    model version are not comparable and are left out (enforcement.face_model)."""
    photos = ReferencePhoto.objects.filter(client=client, status=PhotoStatus.READY, active=True).order_by("pk")
    # Each photo's own encoding when it is of this model, else its re-encoding by this model
    # (manage.py reencode_references); a photo with neither is left out.
    enrolled = [(photo, faces.encoding_from_bytes(plain)) for photo, plain in face_model.encodings_for(photos, faces.MODEL_VERSION)]
    if not enrolled:
        return []  # recent references only ever complement enrolment photos, never stand alone
    recent = RecentReference.objects.filter(client=client, active=True, model_version=faces.MODEL_VERSION).order_by("created_at", "pk")
    return enrolled + [(ref, faces.encoding_from_bytes(crypto.decrypt_for(ref, ref.encoding))) for ref in recent]


def _reference_key(ref: ReferencePhoto | RecentReference) -> str:
    """How a reference is named in FaceMatch.distances: an enrolment photo by its id (as
    always), a recent reference as "recent:<id>"."""
    return f"recent:{ref.pk}" if isinstance(ref, RecentReference) else str(ref.pk)


def _references_used(references: list, distances: list[float]) -> list[dict]:
    """For the officer: every reference the decision used, what it is and how far it was."""
    rows = []
    for (ref, _), distance in zip(references, distances):
        if isinstance(ref, RecentReference):
            rows.append({"kind": "recent", "id": ref.pk, "source": ref.source, "checkin_id": ref.checkin_id, "added": ref.created_at.isoformat(), "distance": round(distance, 4)})
        else:
            rows.append({"kind": "enrolment", "id": ref.pk, "added": ref.created_at.isoformat(), "distance": round(distance, 4)})
    return rows


def _replay_find(*, checkin: CheckIn, analysis: faces.Analysis) -> dict:
    """The client's earlier selfie or reference photo that this selfie is a copy of, if any:
    its perceptual hash within REPLAY_MAX_BITS and, where both show a face, the eyes at the
    same place in the frame. A new photo taken in the same room and pose can come close by
    hash alone; a copy (re-encoded, resized, brightened) keeps the face exactly where it was."""
    if not analysis.phash:
        return {}
    eyes = analysis.quality.get("eyes")
    earlier = [
        ("checkin", pk, value, quality)
        for pk, value, quality in CheckIn.objects.filter(client=checkin.client)
        .exclude(pk=checkin.pk)
        .exclude(selfie_phash="")
        .values_list("pk", "selfie_phash", "face_match__quality")
    ] + [
        ("reference_photo", pk, value, quality)
        for pk, value, quality in ReferencePhoto.objects.filter(client=checkin.client).exclude(phash="").values_list("pk", "phash", "quality")
    ]
    copies = []
    for kind, pk, value, quality in earlier:
        bits = images.hash_distance(analysis.phash, value)
        other_eyes = (quality or {}).get("eyes")
        shift = _eyes_shift(eyes, other_eyes) if eyes and other_eyes else None
        if bits <= REPLAY_MAX_BITS and (shift is None or shift <= REPLAY_MAX_EYE_SHIFT):
            copies.append((bits, kind, pk, shift))
    if not copies:
        return {}
    bits, kind, pk, shift = min(copies, key=lambda c: c[0])
    return {"source": kind, "id": pk, "distance_bits": bits, "max_bits": REPLAY_MAX_BITS, "eye_shift": shift}


def _eyes_shift(a: list, b: list) -> float:
    """The largest move of either eye between two pictures, as a fraction of the frame."""
    return round(max(abs(p - q) for eye_a, eye_b in zip(a, b) for p, q in zip(eye_a, eye_b)), 4)


def _liveness_check(*, checkin: CheckIn, selfie: faces.Analysis, references: list) -> dict:
    """The liveness figures of a check-in (FaceMatch.liveness): for a challenge, each frame
    analysed and the verdict of biometrics.liveness.verify; for a single selfie, why one
    selfie was accepted (the condition allows it, or liveness was not required)."""
    if checkin.capture_mode != CaptureMode.CHALLENGE:
        condition = enforcement_selectors.condition_active(client=checkin.client)
        return {
            "mode": CaptureMode.SINGLE_SELFIE,
            "condition_allows_single_selfie": bool(condition and condition.single_selfie_allowed),
            "liveness_required": settings.REPORTIN_LIVENESS_REQUIRED,
        }
    started = time.perf_counter()
    challenge = LivenessChallenge.objects.filter(checkin=checkin).first()
    stored = list(checkin.liveness_frames.order_by("position"))
    if challenge is None or not stored:
        return {
            "mode": CaptureMode.CHALLENGE, "passed": False, "failures": ["challenge_missing"],
            "messages": ["The challenge or its frames are no longer stored."],
        }
    frames = []
    for frame in stored:
        # The frontal frame that became the selfie was analysed already: the same bytes.
        analysis = selfie if frame.sha256 == checkin.selfie_sha256 else _frame_analyse(frame)
        frames.append(liveness.Frame.of(analysis, sha256=frame.sha256))
    verdict = liveness.verify(
        poses=challenge.poses,
        frames=frames,
        references=[encoding for _, encoding in references],
        threshold=calibration.threshold_for(settings.REPORTIN_FACE_THRESHOLDS, len(references)),
        earlier=_earlier_captures(checkin),
    )
    return {
        "mode": CaptureMode.CHALLENGE,
        "passed": verdict.passed,
        "failures": verdict.failures,
        "messages": verdict.messages,
        **verdict.figures,
        "frame_ids": [frame.pk for frame in stored],
        "challenge": {
            "id": challenge.pk,
            "issued_at": challenge.issued_at.isoformat(),
            "expires_at": challenge.expires_at.isoformat(),
            "used_at": challenge.used_at.isoformat() if challenge.used_at else None,
            "answered_in_seconds": round((checkin.received_at - challenge.issued_at).total_seconds(), 1),
        },
        "duration_ms": round((time.perf_counter() - started) * 1000, 1),
    }


def _frame_analyse(frame) -> faces.Analysis:
    try:
        with frame.image.open("rb") as handle:
            data = handle.read()
    except crypto.DecryptionError as exc:
        return faces.Analysis(faces.Outcome.UNREADABLE, "The stored frame could not be decrypted.", detail={"error": str(exc)})
    return liveness.analyse_frame(data, max_pixels=settings.REPORTIN_IMAGE_MAX_PIXELS)


def _earlier_captures(checkin: CheckIn) -> list[liveness.Capture]:
    """The client's earlier pictures a frame must not be a copy of: frames of earlier
    challenges (their hashes are in FaceMatch.liveness), selfies and reference photos."""
    captures = []
    matches = FaceMatch.objects.filter(checkin__client=checkin.client).exclude(checkin=checkin)
    for checkin_id, figures, quality, phash in matches.values_list("checkin_id", "liveness", "quality", "checkin__selfie_phash"):
        for row in (figures or {}).get("frames", []):
            if row.get("phash"):
                captures.append(liveness.Capture("checkin_frame", checkin_id, row["phash"], row.get("eyes")))
        if phash:
            captures.append(liveness.Capture("checkin", checkin_id, phash, (quality or {}).get("eyes")))
    photos = ReferencePhoto.objects.filter(client=checkin.client).exclude(phash="")
    for pk, phash, quality in photos.values_list("pk", "phash", "quality"):
        captures.append(liveness.Capture("reference_photo", pk, phash, (quality or {}).get("eyes")))
    return captures


def _checkin_record(
    *, checkin: CheckIn, analysis: faces.Analysis, references: list, replay: dict, liveness_figures: dict, started: float, now: datetime
) -> FaceMatch | None:
    # A template of more references is steadier and calls for its own threshold (calibrated per
    # number of ready references: biometrics/calibration.json).
    threshold = calibration.threshold_for(settings.REPORTIN_FACE_THRESHOLDS, len(references))
    comparison, message = None, analysis.message
    if analysis.outcome == faces.Outcome.OK and references:
        comparison = faces.compare(analysis.encoding, [encoding for _, encoding in references], threshold=threshold)
        decision = FaceDecision.MATCH if comparison.matched else FaceDecision.NON_MATCH
    elif analysis.outcome == faces.Outcome.OK:
        # Nothing to compare with: an officer must look (and enrol a reference photo).
        decision, message = FaceDecision.NON_MATCH, "The client has no ready reference photo to compare with."
    else:
        decision = _DECISION_FOR[analysis.outcome]
    detail = {"message": message, "references": len(references), "pipeline_ms": round(analysis.duration_ms, 1), **analysis.detail}
    if comparison is not None:
        detail["references_used"] = _references_used(references, comparison.distances)
    try:
        with transaction.atomic():
            match = FaceMatch.objects.create(
                checkin=checkin,
                decision=decision,
                best_distance=None if comparison is None else round(comparison.distance, 4),
                similarity=None if comparison is None else round(max(0.0, min(1.0, 1 - comparison.distance / (2 * threshold))), 4),
                threshold=threshold,
                reference_photo=None if comparison is None else _nearest_photo(references, comparison.distances),
                distances={} if comparison is None else {_reference_key(ref): round(d, 4) for (ref, _), d in zip(references, comparison.distances)},
                faces_found=analysis.faces_found,
                face_box=analysis.face_box,
                quality=analysis.quality,
                replay=replay,
                liveness=liveness_figures,
                detail=detail,
                model_version=faces.MODEL_VERSION,
                pipeline_version=faces.PIPELINE_VERSION,
                duration_ms=round((time.perf_counter() - started) * 1000, 1),
                attempts=checkin.scoring_attempts,
                scored_at=now,
            )
            _checkin_conclude(checkin, match, phash=analysis.phash, now=now)
            if comparison is not None:
                _recent_reference_offer(checkin=checkin, match=match, encoding=analysis.encoding, now=now)
    except IntegrityError:
        return None  # another attempt recorded this check-in's result first
    return match


def _nearest_photo(references: list, distances: list[float]) -> ReferencePhoto:
    """The nearest enrolment photo (FaceMatch.reference_photo names a photo an officer can see)."""
    photos = [(d, ref) for (ref, _), d in zip(references, distances) if isinstance(ref, ReferencePhoto)]
    return min(photos, key=lambda pair: pair[0])[1]


def _recent_reference_offer(*, checkin: CheckIn, match: FaceMatch, encoding: np.ndarray, now: datetime) -> None:
    """A verified selfie well inside the threshold (RECENT_REFERENCE_MARGIN) becomes a recent
    reference, unless anything about the check-in is open (a replay suspicion, a location
    task, a quality sample...): enforcement.services.recent_reference_add checks that, and
    the client's consent."""
    if match.decision != FaceDecision.MATCH or match.best_distance is None:
        return
    if match.best_distance > match.threshold - RECENT_REFERENCE_MARGIN:
        return
    if not CheckIn.objects.filter(pk=checkin.pk, status=CheckInStatus.VERIFIED).exists():
        return
    enforcement_services.recent_reference_add(
        client=checkin.client, checkin_id=checkin.pk, encoding=encoding, source=RecentReferenceSource.VERIFIED_CLOSE,
        distance=match.best_distance, threshold=match.threshold, added_by=None, now=now,
    )


def checkin_reference_adopt(*, checkin_id: int, officer, now: datetime) -> RecentReference | None:
    """After an officer confirmed the identity of a check-in's selfie: keep its encoding as a
    recent reference (enforcement.services.recent_reference_add decides whether it may: the
    client's consent, no open task about the check-in). The selfie is analysed again, as
    encodings of selfies are not stored; one that yields no usable face is not kept."""
    checkin = CheckIn.objects.select_related("client").filter(pk=checkin_id, status=CheckInStatus.VERIFIED).first()
    if checkin is None:
        return None
    analysis = _selfie_analyse(checkin)
    if analysis.outcome != faces.Outcome.OK:
        return None
    match = FaceMatch.objects.filter(checkin_id=checkin.pk).first()
    return enforcement_services.recent_reference_add(
        client=checkin.client, checkin_id=checkin.pk, encoding=analysis.encoding, source=RecentReferenceSource.OFFICER_CONFIRMED,
        distance=None if match is None else match.best_distance, threshold=None if match is None else match.threshold,
        added_by=officer, now=now,
    )


def _checkin_conclude(checkin: CheckIn, match: FaceMatch, *, phash: str, now: datetime) -> None:
    """Verified only when the face matches, the place is not outside the area and the selfie
    is not a re-sent picture; anything else goes to an officer with a task per reason."""
    condition = enforcement_selectors.condition_active(client=checkin.client)
    where = location.assess(
        centre=(condition.area_latitude, condition.area_longitude) if condition and condition.has_area else None,
        radius_km=condition.area_radius_km if condition else None,
        latitude=checkin.latitude,
        longitude=checkin.longitude,
        accuracy_m=checkin.accuracy_m,
    )
    liveness_failed = match.liveness.get("passed") is False
    verified = match.decision == FaceDecision.MATCH and where.result != location.OUTSIDE and not match.replay and not liveness_failed
    new_status = CheckInStatus.VERIFIED if verified else CheckInStatus.NEEDS_REVIEW
    # From scoring only: this attempt's claim, whose FaceMatch was just recorded.
    transition(
        CheckIn.objects.filter(pk=checkin.pk, status=CheckInStatus.SCORING),
        table=CHECKIN_STATUS_TRANSITIONS,
        to=new_status,
        selfie_phash=phash,
        location_result=where.result,
        distance_to_area_km=where.distance_to_edge_km,
        scored_at=now,
    )
    evidence = {
        "checkin_id": checkin.pk,
        "decision": match.decision,
        "best_distance": match.best_distance,
        "threshold": match.threshold,
        "quality": match.quality,
        "latitude": checkin.latitude,
        "longitude": checkin.longitude,
        "accuracy_m": checkin.accuracy_m,
        **where.evidence,
    }
    if match.decision in _REASON_FOR:
        enforcement_services.task_open(
            client=checkin.client, reason=_REASON_FOR[match.decision], checkin_id=checkin.pk, evidence=evidence, now=now
        )
    if match.replay:
        enforcement_services.task_open(
            client=checkin.client, reason=TaskReason.POSSIBLE_REPLAY, checkin_id=checkin.pk, evidence={**evidence, "replay": match.replay}, now=now
        )
    if liveness_failed:
        # Never an adverse outcome by itself: an officer looks at the frames (shown on the task page).
        enforcement_services.task_open(
            client=checkin.client, reason=TaskReason.LIVENESS_FAILED, checkin_id=checkin.pk,
            evidence={**evidence, "liveness": {key: match.liveness.get(key) for key in ("failures", "messages", "poses", "frame_ids")}},
            now=now,
        )
    if where.result == location.OUTSIDE:
        enforcement_services.task_open(
            client=checkin.client, reason=TaskReason.LOCATION_OUTSIDE_AREA, checkin_id=checkin.pk, evidence=evidence, now=now
        )
    if match.decision == FaceDecision.MATCH and quality_sampled(checkin.pk):
        enforcement_services.task_open(
            client=checkin.client, reason=TaskReason.QUALITY_SAMPLE, checkin_id=checkin.pk, priority=TaskPriority.LOW,
            evidence={**evidence, "sample_share": settings.REPORTIN_QUALITY_SAMPLE_SHARE}, now=now,
        )
    if verified and checkin.window_id:
        enforcement_services.window_satisfy(window=checkin.window, checkin_id=checkin.pk, now=now)
    if not verified:
        # The person is told an officer will look (never why: the reason comes with the decision).
        enforcement_services.notice_post(
            client=checkin.client, kind=NoticeKind.CHECKIN_REVIEW, checkin_id=checkin.pk,
            details={"captured_at": checkin.captured_at.isoformat()}, now=now,
        )


def quality_sampled(checkin_id: int) -> bool:
    """Whether an automatic match goes to an officer as a quality sample, so that false matches
    can be estimated: a keyed hash of the check-in below REPORTIN_QUALITY_SAMPLE_SHARE. The same
    check-in always gets the same answer (a re-run opens nothing new), and without the secret
    key nobody can tell in advance which check-ins will be looked at."""
    share = settings.REPORTIN_QUALITY_SAMPLE_SHARE
    if share <= 0 or share >= 1:
        return share >= 1
    digest = salted_hmac("reportin.quality-sample", str(checkin_id)).digest()
    return int.from_bytes(digest[:8], "big") < share * 2**64


def checkins_to_requeue(*, now: datetime, queued: int | None = None, batch: int = 5_000) -> Iterator[list[int]]:
    """The check-ins to queue for scoring again, in lists of at most `batch` ids, with no cap
    on the total: every one left unjudged (its message lost, its attempt dead or its retry
    lost). Safe to queue at any time: the claim decides who scores
    (reportin.tasks.checkins_reconcile queues them).

    `queued` is the number of messages waiting in the scoring queue, when known. Check-ins
    still `received` are left alone while at least as many messages wait as there are such
    check-ins: the queue is behind, not lossy, and re-queueing a backlog every minute would
    only grow it. When fewer wait, only those past the first `queued` are queued, oldest
    first: runs queue oldest first and the queue is first in, first out, so after a run that
    stopped at its time budget the ones not reached are exactly those (a broker restarted
    without its data comes back empty, and then all are queued)."""
    candidates = reportin_selectors.checkins_to_rescore(now=now, lease=SCORING_LEASE)
    waiting = candidates.filter(status=CheckInStatus.RECEIVED)
    waiting_count = waiting.count()
    wanted = waiting_count if queued is None else max(0, waiting_count - queued)
    if wanted < waiting_count:
        logger.info("reconciler left %d waiting check-ins to the %d queued messages", waiting_count - wanted, queued)
    dead = candidates.exclude(status=CheckInStatus.RECEIVED).values_list("pk", flat=True)
    lost = waiting.order_by("received_at", "pk").values_list("pk", flat=True)
    if wanted < waiting_count:
        lost = lost[waiting_count - wanted :]
    for source in (dead, lost):
        ids: list[int] = []
        for pk in source.iterator(chunk_size=batch):
            ids.append(pk)
            if len(ids) == batch:
                yield ids
                ids = []
        if ids:
            yield ids
