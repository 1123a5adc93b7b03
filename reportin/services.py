"""State changes of the mobile side: devices, check-ins and their scoring."""

import hashlib
import logging
import math
import secrets
from datetime import date, datetime, timedelta

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext as _

from biometrics import liveness
from enforcement import selectors as enforcement_selectors
from enforcement import services as enforcement_services
from enforcement.errors import Conflict, DomainError, InvalidTransition, NotFound, RateLimited
from enforcement.models import (
    ActivationCode,
    Channel,
    Client,
    TaskResolution,
)
from reportin import tasks
from reportin.models import (
    CHECKIN_STATUS_TRANSITIONS,
    ActivationThrottle,
    CaptureMode,
    CheckIn,
    CheckInStatus,
    Device,
    LivenessChallenge,
    LivenessFrame,
    Pose,
)

logger = logging.getLogger(__name__)


# --- Devices --------------------------------------------------------------------------------


# After this many failed activations for one UCI or one client address, that key is locked;
# each further failure doubles the lock. Failures are forgotten a day after the last one.
ACTIVATION_FREE_FAILURES = 5
ACTIVATION_FIRST_LOCK = timedelta(minutes=1)
ACTIVATION_MAX_LOCK = timedelta(hours=24)
ACTIVATION_FAILURES_FORGOTTEN_AFTER = timedelta(hours=24)


class _ActivationFailed(DomainError):
    pass


def _activation_guards(*, uci: str, client_address: str, now: datetime) -> list[ActivationThrottle]:
    """Lock and return the throttle rows of this UCI and this address; raise RateLimited if
    either is locked. The row locks serialise concurrent attempts on the same key, so a burst
    of parallel guesses is counted one by one (UCI row first, then address: no deadlock)."""
    rows = []
    for scope, value in ((ActivationThrottle.Scope.UCI, uci), (ActivationThrottle.Scope.ADDRESS, client_address)):
        key_hash = salted_hmac("reportin.activation", f"{scope}:{value}").hexdigest()
        ActivationThrottle.objects.get_or_create(scope=scope, key_hash=key_hash)
        rows.append(ActivationThrottle.objects.select_for_update().get(scope=scope, key_hash=key_hash))
    locked_until = max((row.locked_until for row in rows if row.locked_until and row.locked_until > now), default=None)
    if locked_until is not None:
        raise RateLimited(
            _("Too many failed activation attempts. Try again later."),
            retry_after=math.ceil((locked_until - now).total_seconds()),
        )
    return rows


def _activation_failure_count(rows: list[ActivationThrottle], now: datetime) -> None:
    for row in rows:
        forgotten = row.last_failure_at is None or now - row.last_failure_at > ACTIVATION_FAILURES_FORGOTTEN_AFTER
        row.failures = 1 if forgotten else row.failures + 1
        row.last_failure_at = now
        excess = row.failures - ACTIVATION_FREE_FAILURES
        row.locked_until = now + min(ACTIVATION_FIRST_LOCK * 2**excess, ACTIVATION_MAX_LOCK) if excess >= 0 else None
        row.save(update_fields=["failures", "last_failure_at", "locked_until"])


def device_activate(
    *,
    activation_code: str,
    uci: str,
    date_of_birth: date,
    device_name: str,
    platform: str,
    client_address: str,
    now: datetime | None = None,
) -> tuple[str, Device]:
    """Exchange a valid activation code (with the matching UCI and date of birth) for a device
    token, returned once. Any mismatch raises the same generic error; after repeated failures
    for the UCI or the client address, RateLimited (429 with a growing Retry-After)."""
    now = now or timezone.now()
    failure = None
    with transaction.atomic():
        guards = _activation_guards(uci=uci, client_address=client_address, now=now)
        try:
            with transaction.atomic():
                token, device = _device_activate(
                    activation_code=activation_code, uci=uci, date_of_birth=date_of_birth,
                    device_name=device_name, platform=platform, now=now,
                )
        except _ActivationFailed as exc:
            # Counted in the outer transaction, which commits: the failure must stick.
            _activation_failure_count(guards, now)
            failure = exc
        else:
            uci_guard = guards[0]
            uci_guard.failures, uci_guard.locked_until = 0, None
            uci_guard.save(update_fields=["failures", "locked_until"])
    if failure is not None:
        logger.warning("activation failed from %s", client_address)
        raise failure
    return token, device


def _device_activate(*, activation_code: str, uci: str, date_of_birth: date, device_name: str, platform: str, now: datetime):
    code_hash = enforcement_services.hash_secret(enforcement_services.normalise_activation_code(activation_code))
    code = (
        ActivationCode.objects.select_for_update()
        .select_related("client")
        .filter(code_hash=code_hash, used_at__isnull=True, revoked_at__isnull=True, expires_at__gt=now)
        .first()
    )
    # Wrong, expired, used or revoked code, other person: one answer, so nothing is learnt.
    if code is None or code.client.uci != uci or code.client.date_of_birth != date_of_birth:
        raise _ActivationFailed(
            _("The activation code, UCI or date of birth is not right, or the code has expired."), code="activation_failed"
        )
    code.used_at = now
    code.save(update_fields=["used_at"])
    token = secrets.token_urlsafe(32)
    device = Device.objects.create(
        client=code.client,
        name=device_name,
        platform=platform,
        token_hash=enforcement_services.hash_secret(token),
        token_prefix=token[:8],
        activation_code=code,
        activated_at=now,
        last_seen_at=now,
    )
    enforcement_services.audit_record(
        actor=None, actor_label=f"client {code.client.uci}", action="device.activate", obj=device, client=code.client, now=now
    )
    return token, device


LAST_SEEN_RESOLUTION = timedelta(minutes=5)


def device_for_token(token: str, *, now: datetime | None = None) -> Device | None:
    """The active device holding this token (None for an unknown or revoked token), its
    `last_seen_at` brought up to date to within a few minutes."""
    device = (
        Device.objects.select_related("client", "client__region")
        .filter(token_hash=enforcement_services.hash_secret(token), revoked_at__isnull=True)
        .first()
    )
    if device is not None:
        now = now or timezone.now()
        # A write per request would cost more than the request; minutes are precise enough.
        if device.last_seen_at is None or now - device.last_seen_at > LAST_SEEN_RESOLUTION:
            Device.objects.filter(pk=device.pk).update(last_seen_at=now)
            device.last_seen_at = now
    return device


@transaction.atomic
def device_revoke(*, device: Device, revoked_by, now: datetime | None = None) -> None:
    now = now or timezone.now()
    if Device.objects.filter(pk=device.pk, revoked_at__isnull=True).update(revoked_at=now, revoked_by=revoked_by):
        enforcement_services.audit_record(actor=revoked_by, action="device.revoke", obj=device, client=device.client, now=now)


# --- Check-ins ------------------------------------------------------------------------------


def _fingerprint(*, selfie_sha256: str, latitude, longitude, accuracy_m, captured_at, address, employment, family_status, liveness: str = "") -> str:
    parts = [selfie_sha256, repr(float(latitude)), repr(float(longitude)), repr(float(accuracy_m)), captured_at.isoformat(), address or "", employment or "", family_status or ""]
    if liveness:  # frames and nonce of a challenge check-in; absent, fingerprints stay as they were
        parts.append(liveness)
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


# --- Liveness challenges ----------------------------------------------------------------------


def _nonce_hash(nonce: str) -> str:
    return salted_hmac("reportin.liveness-nonce", nonce).hexdigest()


def challenge_issue(*, device: Device, now: datetime | None = None) -> tuple[str, LivenessChallenge]:
    """A new single-use liveness challenge for the device's client. Returns (nonce, challenge);
    the nonce is shown once and stored as a keyed hash."""
    now = now or timezone.now()
    if not enforcement_selectors.consent_allows_remote(client=device.client):
        raise DomainError(
            _("Remote reporting needs both consents. Please report in person at your CBSA office, or give consent in the app."),
            code="consent_required",
            status=403,
        )
    nonce = secrets.token_urlsafe(24)
    challenge = LivenessChallenge.objects.create(
        client=device.client,
        device=device,
        nonce_hash=_nonce_hash(nonce),
        poses=liveness.challenge_poses(secrets.SystemRandom()),
        issued_at=now,
        expires_at=now + timedelta(seconds=settings.REPORTIN_LIVENESS_CHALLENGE_SECONDS),
    )
    return nonce, challenge


def _challenge_for(*, device: Device, nonce: str, frames: int, now: datetime) -> LivenessChallenge:
    """The device's challenge of this nonce, if it can still be answered with this many frames."""
    challenge = LivenessChallenge.objects.filter(device=device, nonce_hash=_nonce_hash(nonce)).first()
    if challenge is None:
        raise DomainError(_("This challenge is unknown. Ask for a new one."), code="challenge_invalid", fields={"challenge": _("Unknown challenge.")})
    if challenge.used_at is not None:
        raise DomainError(_("This challenge was used already. Ask for a new one."), code="challenge_used", status=409, fields={"challenge": _("Used already.")})
    if challenge.expires_at < now:
        raise DomainError(
            _("This challenge has expired: the frames must be sent within %(seconds)d seconds. Ask for a new one.")
            % {"seconds": settings.REPORTIN_LIVENESS_CHALLENGE_SECONDS},
            code="challenge_expired", fields={"challenge": _("Expired.")},
        )
    if frames != len(challenge.poses):
        raise DomainError(
            _("Send one frame per pose of the challenge: %(poses)d frames, not %(frames)d.") % {"poses": len(challenge.poses), "frames": frames},
            code="invalid_input", fields={"frames": _("One frame per pose asked.")},
        )
    return challenge


def _challenge_redeem(*, challenge: LivenessChallenge, checkin: CheckIn, now: datetime) -> None:
    # Conditional UPDATE: of two requests racing with one nonce (a replay sent twice at once),
    # only one takes it; the other fails and its transaction stores nothing.
    taken = LivenessChallenge.objects.filter(pk=challenge.pk, used_at__isnull=True, expires_at__gte=now).update(used_at=now, checkin=checkin)
    if not taken:
        raise DomainError(_("This challenge was used already. Ask for a new one."), code="challenge_used", status=409, fields={"challenge": _("Used already.")})


def liveness_required(client: Client) -> bool:
    """Whether this client's check-ins must answer a liveness challenge."""
    if not settings.REPORTIN_LIVENESS_REQUIRED:
        return False
    condition = enforcement_selectors.condition_active(client=client)
    return not (condition is not None and condition.single_selfie_allowed)


def checkin_submit(
    *,
    device: Device,
    selfie: bytes | None,
    latitude: float,
    longitude: float,
    accuracy_m: float,
    captured_at: datetime,
    idempotency_key: str,
    address: str | None = None,
    employment: str | None = None,
    family_status: str | None = None,
    frames: list[bytes] | None = None,
    challenge_nonce: str | None = None,
    now: datetime | None = None,
) -> tuple[CheckIn, bool]:
    """Store a check-in and queue its scoring after commit. Returns (check-in, created).

    A liveness check-in sends the frames of a challenge (challenge_issue) with its nonce; the
    selfie may then be left out (the first frontal frame is the selfie). Without frames, the
    person's condition must allow a single selfie, unless REPORTIN_LIVENESS_REQUIRED is off.

    A retry with the same idempotency key and the same content returns the first check-in;
    the same key with different content is a conflict."""
    now = now or timezone.now()
    client = device.client
    frames = frames or []
    if not frames and selfie is None:
        raise DomainError(_("Send a selfie, or the frames of a liveness challenge."), code="invalid_input", fields={"selfie": _("This field is required.")})
    if frames and not challenge_nonce:
        raise DomainError(_("Send the challenge with its frames."), code="invalid_input", fields={"challenge": _("This field is required.")})
    if challenge_nonce and not frames:
        raise DomainError(_("Send the frames of the challenge."), code="invalid_input", fields={"frames": _("This field is required.")})
    liveness_key = ""
    if frames:
        liveness_key = "\x1e".join([_nonce_hash(challenge_nonce), *(hashlib.sha256(frame).hexdigest() for frame in frames)])
    selfie_sha256 = hashlib.sha256(selfie).hexdigest() if selfie is not None else ""
    fingerprint = _fingerprint(
        selfie_sha256=selfie_sha256, latitude=latitude, longitude=longitude, accuracy_m=accuracy_m,
        captured_at=captured_at, address=address, employment=employment, family_status=family_status, liveness=liveness_key,
    )
    # Only the id: a retry is rare, and the full row costs a noticeable share of a check-in.
    if CheckIn.objects.filter(device=device, idempotency_key=idempotency_key).values_list("pk", flat=True).first():
        existing = CheckIn.objects.select_related("window").get(device=device, idempotency_key=idempotency_key)
        return _same_or_conflict(existing, fingerprint), False

    if not enforcement_selectors.consent_allows_remote(client=client):
        raise DomainError(
            _("Remote reporting needs both consents. Please report in person at your CBSA office, or give consent in the app."),
            code="consent_required",
            status=403,
        )
    challenge, frame_copies = None, []
    if frames:
        challenge = _challenge_for(device=device, nonce=challenge_nonce, frames=len(frames), now=now)
        frame_copies = _frames_checked(frames)
    elif liveness_required(client):
        raise DomainError(
            _("Answer the liveness challenge: ask for one, turn your head as it says and send the frames with your report."),
            code="liveness_required",
            fields={"frames": _("This field is required.")},
        )
    if selfie is not None:
        info = enforcement_services.image_check(selfie, field="selfie")
        clean = enforcement_services.image_stored_copy(selfie, info, field="selfie")
    else:
        # The first frontal frame: what an officer compares with the references, as a selfie.
        info, clean = frame_copies[challenge.poses.index(Pose.FRONTAL)]
    width, height = info.upright_size

    checkin = CheckIn(
        client=client,
        device=device,
        window=enforcement_selectors.window_for_capture(client=client, captured_at=captured_at, received_at=now),
        selfie_sha256=hashlib.sha256(clean).hexdigest(),
        selfie_format=info.format,
        selfie_width=width,
        selfie_height=height,
        latitude=latitude,
        longitude=longitude,
        accuracy_m=accuracy_m,
        captured_at=captured_at,
        received_at=now,
        idempotency_key=idempotency_key,
        request_fingerprint=fingerprint,
        reported_address=address or "",
        reported_employment=employment or "",
        reported_family_status=family_status or "",
        capture_mode=CaptureMode.CHALLENGE if frames else CaptureMode.SINGLE_SELFIE,
    )
    circumstances = {
        field: value
        for field, value in (("address", address), ("employment", employment), ("family_status", family_status))
        if value is not None
    }
    checkin.selfie.save("selfie", ContentFile(clean), save=False)
    stored_frames = []
    try:
        for position, (frame_info, frame_clean) in enumerate(frame_copies):
            frame_width, frame_height = frame_info.upright_size
            frame = LivenessFrame(
                position=position, pose=challenge.poses[position], sha256=hashlib.sha256(frame_clean).hexdigest(),
                image_format=frame_info.format, width=frame_width, height=frame_height,
            )
            stored_frames.append(frame)
            frame.image.save("frame", ContentFile(frame_clean), save=False)
        with transaction.atomic():
            checkin.save()
            if challenge is not None:
                _challenge_redeem(challenge=challenge, checkin=checkin, now=now)
                for frame in stored_frames:
                    frame.checkin = checkin
                LivenessFrame.objects.bulk_create(stored_frames)
            if circumstances:
                enforcement_services.circumstances_update(
                    client=client, changes=circumstances, channel=Channel.APP, checkin_id=checkin.pk, now=now
                )
            # The window it counts for becomes "reported" (the sweep leaves it alone while the
            # face is checked); a report that comes after a miss is added to the missed-report task.
            enforcement_services.window_checkin_received(
                client=client, window=checkin.window, checkin_id=checkin.pk, captured_at=captured_at, received_at=now
            )
            transaction.on_commit(lambda: _enqueue_scoring(checkin.pk))
    except IntegrityError:
        checkin.selfie.delete(save=False)
        _frames_delete(stored_frames)
        # A concurrent retry with the same key won the race; answer with its check-in.
        existing = CheckIn.objects.filter(device=device, idempotency_key=idempotency_key).first()
        if existing is None:
            raise
        return _same_or_conflict(existing, fingerprint), False
    except BaseException:
        checkin.selfie.delete(save=False)
        _frames_delete(stored_frames)
        raise
    return checkin, True


def _frames_checked(frames: list[bytes]) -> list[tuple]:
    """(info, stored copy) of each frame: the selfie's checks, the selfie's clean copy."""
    checked = []
    for data in frames:
        info = enforcement_services.image_check(data, field="frames")
        checked.append((info, enforcement_services.image_stored_copy(data, info, field="frames")))
    return checked


def _frames_delete(frames: list[LivenessFrame]) -> None:
    for frame in frames:
        if frame.image:
            frame.image.delete(save=False)


def _same_or_conflict(existing: CheckIn, fingerprint: str) -> CheckIn:
    if existing.request_fingerprint != fingerprint:
        raise Conflict(
            _("This Idempotency-Key was already used for a different check-in."), code="idempotency_key_reused"
        )
    return existing


def _enqueue_scoring(checkin_id: int) -> None:
    try:
        tasks.checkin_score.delay(checkin_id)
    except Exception:
        # The check-in is stored; the reconciler will queue it when the broker is back.
        logger.exception("could not queue scoring of check-in %s; the reconciler will retry", checkin_id)


def checkin_get(*, client: Client, checkin_id: int) -> CheckIn:
    checkin = CheckIn.objects.filter(client=client, pk=checkin_id).first()
    if checkin is None:
        raise NotFound(code="checkin_not_found")
    return checkin


# --- Officers' decisions ----------------------------------------------------------------------


@transaction.atomic
def task_decide(*, task, resolution: str, note: str, officer, now: datetime | None = None):
    """Resolve a task (enforcement.services.task_resolve). For a task about a check-in, the
    officer's identity decision settles the check-in as the automatic path would have:
    confirmed -> verified and its window satisfied (window_satisfy, as for a match); not
    confirmed -> rejected and its window missed."""
    now = now or timezone.now()
    task = enforcement_services.task_resolve(task=task, resolution=resolution, note=note, by=officer, now=now)
    if task.checkin_id is not None and resolution in enforcement_services.IDENTITY_RESOLUTIONS:
        checkin_review(
            checkin_id=task.checkin_id, confirmed=resolution == TaskResolution.IDENTITY_CONFIRMED, officer=officer, task=task, now=now
        )
    return task


def checkin_review(*, checkin_id: int, confirmed: bool, officer, task=None, now: datetime) -> bool:
    """Settle a check-in that needed review. Returns False if it was settled already (another
    task of the same check-in decided first)."""
    checkin = CheckIn.objects.select_for_update(of=("self",)).select_related("window", "client").get(pk=checkin_id)
    if checkin.status != CheckInStatus.NEEDS_REVIEW:
        return False
    new_status = CheckInStatus.VERIFIED if confirmed else CheckInStatus.REJECTED
    InvalidTransition.check(CHECKIN_STATUS_TRANSITIONS, checkin.status, new_status)
    CheckIn.objects.filter(pk=checkin.pk).update(status=new_status, updated_at=now)
    satisfied = False
    if checkin.window_id:
        if confirmed:
            satisfied = enforcement_services.window_satisfy(window=checkin.window, checkin_id=checkin.pk, now=now)
        else:
            enforcement_services.window_reported_not_confirmed(window=checkin.window, now=now)
    enforcement_services.audit_record(
        actor=officer, action="checkin.review", obj=checkin, client=checkin.client,
        details={"status": new_status, "task": getattr(task, "pk", None), "window": checkin.window_id, "window_satisfied": satisfied},
        now=now,
    )
    return True
