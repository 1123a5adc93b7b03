"""State changes of the mobile side: devices, check-ins and their scoring."""

import hashlib
import logging
import math
import secrets
from datetime import date, datetime, timedelta

from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext as _

from enforcement import selectors as enforcement_selectors
from enforcement import services as enforcement_services
from enforcement.errors import Conflict, DomainError, InvalidTransition, NotFound, RateLimited
from enforcement.models import (
    ActivationCode,
    Channel,
    Client,
    NoticeKind,
    TaskResolution,
)
from reportin import tasks
from reportin.models import (
    CHECKIN_STATUS_TRANSITIONS,
    ActivationThrottle,
    CheckIn,
    CheckInStatus,
    Device,
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


@transaction.atomic
def device_remove(*, device: Device, now: datetime | None = None) -> bool:
    """The person removes the app from this phone: the token stops working at once, for good.
    Returns False when the device was already revoked (a repeated request changes nothing)."""
    now = now or timezone.now()
    if not Device.objects.filter(pk=device.pk, revoked_at__isnull=True).update(revoked_at=now, removed_by_person=True):
        return False
    device.revoked_at, device.removed_by_person = now, True
    enforcement_services.audit_record(
        actor=None, actor_label=f"client {device.client.uci}", action="device.remove", obj=device, client=device.client,
        details={"device": device.name, "platform": device.platform}, now=now,
    )
    return True


# --- Check-ins ------------------------------------------------------------------------------


def _fingerprint(*, selfie_sha256: str, latitude, longitude, accuracy_m, captured_at, address, employment, family_status) -> str:
    parts = [selfie_sha256, repr(float(latitude)), repr(float(longitude)), repr(float(accuracy_m)), captured_at.isoformat(), address or "", employment or "", family_status or ""]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def checkin_submit(
    *,
    device: Device,
    selfie: bytes,
    latitude: float,
    longitude: float,
    accuracy_m: float,
    captured_at: datetime,
    idempotency_key: str,
    address: str | None = None,
    employment: str | None = None,
    family_status: str | None = None,
    now: datetime | None = None,
) -> tuple[CheckIn, bool]:
    """Store a check-in and queue its scoring after commit. Returns (check-in, created).

    A retry with the same idempotency key and the same content returns the first check-in;
    the same key with different content is a conflict."""
    now = now or timezone.now()
    client = device.client
    selfie_sha256 = hashlib.sha256(selfie).hexdigest()
    fingerprint = _fingerprint(
        selfie_sha256=selfie_sha256, latitude=latitude, longitude=longitude, accuracy_m=accuracy_m,
        captured_at=captured_at, address=address, employment=employment, family_status=family_status,
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
    info = enforcement_services.image_check(selfie, field="selfie")
    clean = enforcement_services.image_stored_copy(selfie, info, field="selfie")
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
    )
    circumstances = {
        field: value
        for field, value in (("address", address), ("employment", employment), ("family_status", family_status))
        if value is not None
    }
    checkin.selfie.save("selfie", ContentFile(clean), save=False)
    try:
        with transaction.atomic():
            checkin.save()
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
        # A concurrent retry with the same key won the race; answer with its check-in.
        existing = CheckIn.objects.filter(device=device, idempotency_key=idempotency_key).first()
        if existing is None:
            raise
        return _same_or_conflict(existing, fingerprint), False
    except BaseException:
        checkin.selfie.delete(save=False)
        raise
    return checkin, True


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
    # The outcome in plain words with its reason category (enforcement.notifications), never the score.
    enforcement_services.notice_post(
        client=checkin.client, kind=NoticeKind.REVIEW_OUTCOME, checkin_id=checkin.pk,
        details={"confirmed": confirmed, "reason": getattr(task, "reason", ""), "captured_at": checkin.captured_at.isoformat(),
                 "window_counts": satisfied},
        now=now,
    )
    return True
