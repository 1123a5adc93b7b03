"""State changes of the mobile side: devices, check-ins and their scoring."""

import hashlib
import json
import logging
import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.db.models import OuterRef, Subquery
from django.db.models.functions import JSONObject
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from biometrics import liveness
from enforcement import activation_locks
from enforcement import selectors as enforcement_selectors
from enforcement import services as enforcement_services
from enforcement.errors import Conflict, DomainError, NotFound
from enforcement.models import (
    ActivationCode,
    Channel,
    Client,
    ConsentKind,
    InvestigationTask,
    NoticeKind,
    ReportingWindow,
    TaskReason,
    TaskResolution,
    WindowStatus,
)
from enforcement.transitions import transition, transition_one
from reportin import scoring, tasks
from reportin.models import (
    CHECKIN_STATUS_TRANSITIONS,
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


class _ActivationFailed(DomainError):
    pass


def device_activate(
    *,
    activation_code: str,
    uci: str,
    date_of_birth: date,
    device_name: str,
    platform: str,
    client_address: str,
    channels: list[dict] | None = None,
    language: str | None = None,
    now: datetime | None = None,
) -> tuple[str, Device]:
    """Exchange a valid activation code (with the matching UCI and date of birth) for a device
    token, returned once. Any mismatch raises the same generic error; after repeated failures
    for the UCI from this address, for the UCI from anywhere or for the address (see
    enforcement.activation_locks), RateLimited (429 with a growing Retry-After). `channels`
    (optional, with the `language` of the consent texts read): the person's choice of channels
    for reminders and notices, recorded with the activation or not at all."""
    now = now or timezone.now()
    failure = None
    with transaction.atomic():
        guards = activation_locks.guard(uci=uci, client_address=client_address, now=now)
        try:
            with transaction.atomic():
                token, device = _device_activate(
                    activation_code=activation_code, uci=uci, date_of_birth=date_of_birth,
                    device_name=device_name, platform=platform, now=now,
                )
                if channels:
                    enforcement_services.contact_channels_set(
                        client=device.client, channels=channels, language=language, recorded_via=Channel.APP, now=now
                    )
        except _ActivationFailed as exc:
            # Counted in the outer transaction, which commits: the failure must stick.
            activation_locks.count_failure(guards, now)
            failure = exc
        else:
            activation_locks.forget_failures(guards)
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
    facts = _checkin_facts(device=device, idempotency_key=idempotency_key, captured_at=captured_at, received_at=now)
    if facts["existing"] is not None:
        existing = CheckIn.objects.select_related("window").get(pk=facts["existing"])
        return _same_or_conflict(existing, fingerprint), False
    if not all(facts[f"consent_{kind}"] for kind in ConsentKind.values):
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
    # Header checks and metadata stripping only: no pixel is decoded in the web tier, so no
    # upload can cost a request more than a scan of its bytes. The worker turns the picture
    # upright and HEIC or PNG into JPEG, under its time limit (scoring._selfie_analyse).
    if selfie is not None:
        info = enforcement_services.image_check(selfie, field="selfie")
        clean = enforcement_services.image_strip_metadata(selfie, info, field="selfie")
    else:
        # The first frontal frame: what an officer compares with the references, as a selfie.
        info, clean = frame_copies[challenge.poses.index(Pose.FRONTAL)]
    width, height = info.upright_size

    checkin = CheckIn(
        client=client,
        device=device,
        window=_window_of(facts),
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
    # Every blob is sealed to its row's id (enforcement.storage.RecordBoundFieldFile): the
    # random storage names are chosen now, the rows inserted with them, and the blobs written
    # under the new ids in the same transaction. A retry that loses the idempotency race fails
    # at the insert, before writing anything.
    checkin.selfie.reserve("selfie")
    stored_frames = []
    for position, (frame_info, frame_clean) in enumerate(frame_copies):
        frame_width, frame_height = frame_info.upright_size
        frame = LivenessFrame(
            position=position, pose=challenge.poses[position], sha256=hashlib.sha256(frame_clean).hexdigest(),
            image_format=frame_info.format, width=frame_width, height=frame_height,
        )
        frame.image.reserve("frame")
        stored_frames.append(frame)
    try:
        with transaction.atomic():
            checkin.save()
            if challenge is not None:
                _challenge_redeem(challenge=challenge, checkin=checkin, now=now)
                for frame in stored_frames:
                    frame.checkin = checkin
                LivenessFrame.objects.bulk_create(stored_frames)
            checkin.selfie.write(ContentFile(clean))
            for frame, (_info, frame_clean) in zip(stored_frames, frame_copies):
                frame.image.write(ContentFile(frame_clean))
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


_WINDOW_FACTS = ("id", "client_id", "status", "opens_at", "closes_at", "deadline_at")


def _checkin_facts_query(*, device_id: int, client_id: int, idempotency_key: str, captured_at: datetime, received_at: datetime):
    windows = enforcement_selectors.windows_for_capture(client_ref=OuterRef("pk"), captured_at=captured_at, received_at=received_at)
    return (
        Client.objects.filter(pk=client_id)
        .annotate(
            existing=Subquery(CheckIn.objects.filter(device_id=device_id, idempotency_key=idempotency_key).values("pk")[:1]),
            **enforcement_selectors.consent_remote_expressions(OuterRef("pk")),
            # The window's facts as one JSON object: one subquery, not one per column (the
            # statement was long enough that psycopg parsed it again on every check-in).
            window=Subquery(windows.values(facts=JSONObject(**{name: name for name in _WINDOW_FACTS}))[:1]),
        )
        .values("existing", *(f"consent_{kind}" for kind in ConsentKind.values), "window")
    )


# Values no real request has, standing in for the inputs when the query is compiled once.
_SENTINELS = {
    "device_id": 987_654_321_000_001,
    "client_id": 987_654_321_000_002,
    "idempotency_key": "\x1freportin-compiled-query-key\x1f",
    "captured_at": datetime(2001, 2, 3, 4, 5, 6, 7, tzinfo=UTC),
    "received_at": datetime(2001, 2, 3, 4, 6, 7, 8, tzinfo=UTC),
}
_compiled_facts: dict[str, tuple] = {}


def _compile_checkin_facts(connection) -> tuple[str, list, list[str]]:
    """The facts query compiled once per process and database: (sql, params with each input's
    place marked, column names). Building this query through the ORM costs more CPU than the
    rest of the request (eleven subqueries resolved and compiled each time); its text never
    changes, only the inputs, so it is built from the one definition above with sentinel
    inputs, and each sentinel's place in the parameters is remembered."""
    query = _checkin_facts_query(**_SENTINELS).query
    compiler = query.get_compiler(connection=connection)
    sql, params = compiler.as_sql()
    adapt = connection.ops.adapt_datetimefield_value
    places = {
        adapt(_SENTINELS["captured_at"]): "captured_at",
        adapt(_SENTINELS["received_at"]): "received_at",
        adapt(_SENTINELS["received_at"] + enforcement_selectors.WINDOW_RECEIPT_SKEW): "received_plus_skew",
        _SENTINELS["device_id"]: "device_id",
        _SENTINELS["client_id"]: "client_id",
        _SENTINELS["idempotency_key"]: "idempotency_key",
    }
    marked = [_Input(places[value]) if isinstance(value, (int, str, datetime)) and value in places else value for value in params]
    found = {value.name for value in marked if isinstance(value, _Input)}
    if found != set(places.values()):  # the query changed shape: say so rather than guess
        raise RuntimeError(f"check-in facts query: inputs {set(places.values()) - found} not found in the compiled parameters")
    return sql, marked, [alias for _, _, alias in compiler.select]


@dataclass(frozen=True)
class _Input:
    name: str


def _checkin_facts(*, device: Device, idempotency_key: str, captured_at: datetime, received_at: datetime) -> dict:
    """Everything a check-in must know before it is stored, in one round trip: an earlier
    check-in with this key (a retry), each consent, and the window the report counts for
    (enforcement.selectors.windows_for_capture)."""
    from django.db import connections

    connection = connections[Client.objects.db]
    if connection.vendor not in _compiled_facts:
        _compiled_facts[connection.vendor] = _compile_checkin_facts(connection)
    sql, marked, columns = _compiled_facts[connection.vendor]
    adapt = connection.ops.adapt_datetimefield_value
    inputs = {
        "device_id": device.pk,
        "client_id": device.client_id,
        "idempotency_key": idempotency_key,
        "captured_at": adapt(captured_at),
        "received_at": adapt(received_at),
        "received_plus_skew": adapt(received_at + enforcement_selectors.WINDOW_RECEIPT_SKEW),
    }
    with connection.cursor() as cursor:
        cursor.execute(sql, [inputs[value.name] if isinstance(value, _Input) else value for value in marked])
        row = cursor.fetchone()
    if row is None:
        raise Client.DoesNotExist
    facts = dict(zip(columns, row, strict=True))
    window = facts.pop("window")
    if isinstance(window, str):  # SQLite, and PostgreSQL as Django registers jsonb: JSON text
        window = json.loads(window)
    for name in _WINDOW_FACTS:
        facts[f"window_{name}"] = None if window is None else window[name]
    for name in ("window_opens_at", "window_closes_at", "window_deadline_at"):
        facts[name] = _aware(facts[name])
    return facts


def _aware(value):
    """A datetime as the database gave it: a datetime, or text in a JSON object (SQLite's in
    UTC without an offset, PostgreSQL's with one)."""
    if isinstance(value, str):
        value = parse_datetime(value)
    if value is not None and timezone.is_naive(value):
        value = timezone.make_aware(value, UTC)
    return value


def _window_of(facts: dict) -> ReportingWindow | None:
    """The window from _checkin_facts, as a model instance whose other fields load on access."""
    if facts["window_id"] is None:
        return None
    # from_db takes the values in the model's field order.
    names = [field.attname for field in ReportingWindow._meta.concrete_fields if field.attname in _WINDOW_FACTS]
    return ReportingWindow.from_db(Client.objects.db, names, [facts[f"window_{name}"] for name in names])


def _frames_checked(frames: list[bytes]) -> list[tuple]:
    """(info, stored copy) of each frame: the selfie's header checks and metadata stripping,
    with no decoding in the web tier (the worker decodes each frame under its limits)."""
    checked = []
    for data in frames:
        info = enforcement_services.image_check(data, field="frames")
        checked.append((info, enforcement_services.image_strip_metadata(data, info, field="frames")))
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

# What an officer's resolution of a task means for the check-in the task is about, and for the
# window that check-in counts for. Every resolution is here (a test walks TaskResolution), so no
# decision leaves a check-in "needs review" for ever, with the phone saying an officer will look.
# - The report is accepted: the identity is confirmed, the alarm was false, nothing is needed.
# - The report is refused: the person in the selfie is not the client; the window is missed.
# - An officer dealt with it otherwise: excused (the window is excused with the officer's
#   note), contact made or escalated (the person did report; what follows is the officer's).
SETTLEMENTS = {
    TaskResolution.IDENTITY_CONFIRMED: (CheckInStatus.VERIFIED, WindowStatus.SATISFIED),
    TaskResolution.FALSE_ALARM: (CheckInStatus.VERIFIED, WindowStatus.SATISFIED),
    TaskResolution.NO_ACTION: (CheckInStatus.VERIFIED, WindowStatus.SATISFIED),
    TaskResolution.IDENTITY_NOT_CONFIRMED: (CheckInStatus.REJECTED, WindowStatus.MISSED),
    TaskResolution.EXCUSED: (CheckInStatus.REVIEWED, WindowStatus.EXCUSED),
    TaskResolution.CONTACT_MADE: (CheckInStatus.REVIEWED, WindowStatus.REPORTED),
    TaskResolution.ESCALATED: (CheckInStatus.REVIEWED, WindowStatus.REPORTED),
}
# When several tasks are about one check-in (a non-match reported from outside the area), the
# check-in is settled when the last of them is resolved, by the gravest of their resolutions:
# one officer's "not the client" is not undone by another's "the place was fine".
GRAVITY = [
    TaskResolution.IDENTITY_NOT_CONFIRMED,
    TaskResolution.ESCALATED,
    TaskResolution.CONTACT_MADE,
    TaskResolution.EXCUSED,
    TaskResolution.NO_ACTION,
    TaskResolution.FALSE_ALARM,
    TaskResolution.IDENTITY_CONFIRMED,
]


# A person may contest an officer's decision about their check-in: their words open a
# "person_answer" task about it once the tasks that decided it are resolved
# (enforcement.messages). Deciding that task decides the contest, by the same table. These
# decisions uphold it: the check-in and its window are settled again by the decision's row
# (accepted and counting for the window; for "excused", the window excused), reversing the
# earlier outcome. Any other ("identity not confirmed", "contact made", "no action needed",
# an approved escalation) leaves the earlier outcome as it was. The person is told either way.
CONTEST_UPHOLDING = frozenset({TaskResolution.IDENTITY_CONFIRMED, TaskResolution.FALSE_ALARM, TaskResolution.EXCUSED})
# The outcomes an officer decided that can be contested: a refusal, or a review that left the
# check-in not accepted. (An accepted check-in has nothing to reverse.)
CONTESTABLE = (CheckInStatus.REJECTED, CheckInStatus.REVIEWED)
# Better for the person from left to right: a contest upheld never moves a check-in leftwards.
_CHECKIN_FAVOUR = [CheckInStatus.REJECTED, CheckInStatus.REVIEWED, CheckInStatus.VERIFIED]


def settlement(resolutions) -> tuple[str, str]:
    """The final (check-in status, window status) for the resolutions of every task about one
    check-in: the one function that maps outcomes to states."""
    # A merged task decided nothing: the task it was merged into decides.
    resolutions = set(resolutions) - {TaskResolution.MERGED}
    if not resolutions:
        raise ValueError("no resolution to settle by")
    gravest = next(resolution for resolution in GRAVITY if resolution in resolutions)
    return SETTLEMENTS[gravest]


@transaction.atomic
def task_decide(*, task, resolution: str, note: str, officer, now: datetime | None = None):
    """Resolve a task with an officer's decision: the one public way to resolve a task (the
    admin's task page, commands and tests call it). A check-in the task is about is settled
    once no task about it is left open (checkin_settle)."""
    now = now or timezone.now()
    task = enforcement_services.task_close(task=task, resolution=resolution, note=note, by=officer, now=now)
    _after_resolution(task, officer=officer, now=now)
    if task.checkin_id is not None and resolution == TaskResolution.IDENTITY_CONFIRMED:
        # A confirmed selfie may become a recent reference (issue 15.4: with consent, once
        # nothing about the check-in is open; recent_reference_add checks both).
        scoring.checkin_reference_adopt(checkin_id=task.checkin_id, officer=officer, now=now)
    return task


@transaction.atomic
def escalation_decide(*, escalation, approve: bool, note: str, by, now: datetime | None = None):
    """A supervisor signs off (or refuses) an escalation proposed by someone else
    (enforcement.services.escalation_sign_off); an approval resolves the task as escalated and
    settles its check-in like any other resolution."""
    now = now or timezone.now()
    escalation = enforcement_services.escalation_sign_off(escalation=escalation, approve=approve, note=note, by=by, now=now)
    if approve:
        _after_resolution(escalation.task, officer=by, now=now)
    return escalation


def _after_resolution(task, *, officer, now: datetime) -> None:
    for checkin_id in enforcement_selectors.task_checkin_ids(task=task):
        settled = checkin_settle(checkin_id=checkin_id, officer=officer, now=now)
        if not settled and task.reason == TaskReason.PERSON_ANSWER:
            checkin_contest_decide(checkin_id=checkin_id, task=task, officer=officer, now=now)
    # A missed window's task: "excused" excuses the window (and those gathered with it); any
    # other decision leaves it missed, as the sweep found it.
    if task.resolution in SETTLEMENTS and SETTLEMENTS[task.resolution][1] == WindowStatus.EXCUSED:
        for window in ReportingWindow.objects.filter(pk__in=enforcement_selectors.task_window_ids(task=task), status=WindowStatus.MISSED):
            enforcement_services.window_excuse(window=window, officer=officer, reason=task.resolution_note, now=now)


def checkin_contest_decide(*, checkin_id: int, task, officer, now: datetime) -> bool:
    """The officer's decision on the person's contest (`task`, resolved) of the outcome of a
    check-in an officer had decided: upheld (CONTEST_UPHOLDING), the check-in and its window
    are settled again by the decision's row of SETTLEMENTS, where that is better for the
    person; rejected, the earlier outcome stays. Audited, and the person told either way.
    Returns False when there was no officer's outcome to contest (accepted, or still open)."""
    checkin = CheckIn.objects.select_for_update(of=("self",)).select_related("window", "client").get(pk=checkin_id)
    previous = checkin.status
    if previous not in CONTESTABLE:
        return False
    window = checkin.window
    window_before = window.status if window is not None else None
    upheld = task.resolution in CONTEST_UPHOLDING
    status, window_after = previous, window_before
    if upheld:
        status, window_status = SETTLEMENTS[task.resolution]
        if _CHECKIN_FAVOUR.index(status) > _CHECKIN_FAVOUR.index(previous):
            transition_one(
                CheckIn.objects.filter(pk=checkin.pk, status=previous), table=CHECKIN_STATUS_TRANSITIONS, to=status, current=previous,
                updated_at=now,
            )
        else:
            status = previous
        if window is not None:
            window_after = _window_contest(checkin, window_status, officer=officer, note=task.resolution_note, now=now)
    enforcement_services.audit_record(
        actor=officer, action="checkin.contest", obj=checkin, client=checkin.client,
        details={"task": task.pk, "resolution": task.resolution, "upheld": upheld, "previous_status": previous, "status": status,
                 "window": checkin.window_id, "previous_window_status": window_before, "window_status": window_after},
        now=now,
    )
    enforcement_services.notice_post(
        client=checkin.client, kind=NoticeKind.CONTEST_OUTCOME, checkin_id=checkin.pk,
        details={"upheld": upheld, "accepted": status == CheckInStatus.VERIFIED, "window_counts": window_after == WindowStatus.SATISFIED,
                 "window_excused": window_after == WindowStatus.EXCUSED and window_before != WindowStatus.EXCUSED,
                 "captured_at": checkin.captured_at.isoformat()},
        now=now,
    )
    return True


def contested_checkins(task) -> list[dict]:
    """For the task page's decision form: the check-ins whose officer's outcome `task` (the
    person's answer) contests, each with its status and its window's now. Empty for any other
    task. Deciding with a resolution of CONTEST_UPHOLDING reverses them (checkin_contest_decide)."""
    if task.reason != TaskReason.PERSON_ANSWER:
        return []
    ids = enforcement_selectors.task_checkin_ids(task=task)
    found = CheckIn.objects.filter(pk__in=ids, client_id=task.client_id, status__in=CONTESTABLE).select_related("window").order_by("pk")
    return [
        {"checkin_id": checkin.pk, "status": checkin.status, "window_id": checkin.window_id,
         "window_status": checkin.window.status if checkin.window_id else None}
        for checkin in found
    ]


def _window_contest(checkin: CheckIn, status: str, *, officer, note: str, now: datetime) -> str:
    """The window of a check-in whose contest was upheld: satisfied (even if the refusal made it
    missed) or excused, as the decision's row says; a window satisfied or excused already stays."""
    window = checkin.window
    if status == WindowStatus.SATISFIED:
        enforcement_services.window_satisfy(window=window, checkin_id=checkin.pk, contest_upheld=True, now=now)
    elif status == WindowStatus.EXCUSED and window.status in (WindowStatus.REPORTED, WindowStatus.MISSED):
        enforcement_services.window_excuse(window=window, officer=officer, reason=note, now=now)
    return ReportingWindow.objects.filter(pk=window.pk).values_list("status", flat=True).first()


def checkin_settle(*, checkin_id: int, officer, now: datetime) -> bool:
    """Settle a check-in that needed review, once every task about it is resolved, by the
    gravest of their resolutions (`settlement`), and its window with it. Returns False when
    there is nothing to do (settled already, or a task about it is still open)."""
    checkin = CheckIn.objects.select_for_update(of=("self",)).select_related("window", "client").get(pk=checkin_id)
    if checkin.status != CheckInStatus.NEEDS_REVIEW:
        return False
    resolutions = enforcement_selectors.checkin_task_resolutions(checkin_id=checkin.pk, client=checkin.client)
    if resolutions is None or not resolutions - {TaskResolution.MERGED}:
        return False  # a task about it is still open: the last decision settles it
    new_status, window_status = settlement(resolutions)
    transition(CheckIn.objects.filter(pk=checkin.pk, status=CheckInStatus.NEEDS_REVIEW), table=CHECKIN_STATUS_TRANSITIONS, to=new_status, updated_at=now)
    window_settled = None
    if checkin.window_id:
        window_settled = _window_settle(checkin, window_status, officer=officer, resolutions=resolutions, now=now)
    enforcement_services.audit_record(
        actor=officer, action="checkin.review", obj=checkin, client=checkin.client,
        details={"status": new_status, "resolutions": sorted(resolutions), "window": checkin.window_id, "window_status": window_settled},
        now=now,
    )
    if new_status in (CheckInStatus.VERIFIED, CheckInStatus.REJECTED):
        # The outcome in plain words with its reason category (enforcement.notifications), never
        # the score. (A check-in only "reviewed" -- contact made, escalated, excused -- is the
        # officer's to explain: the person hears from them, and its window's own notice.)
        reason = InvestigationTask.objects.filter(checkin_id=checkin.pk).order_by("pk").values_list("reason", flat=True).first()
        enforcement_services.notice_post(
            client=checkin.client, kind=NoticeKind.REVIEW_OUTCOME, checkin_id=checkin.pk,
            details={"confirmed": new_status == CheckInStatus.VERIFIED, "reason": reason or "", "captured_at": checkin.captured_at.isoformat(),
                     "window_counts": window_settled == WindowStatus.SATISFIED},
            now=now,
        )
    return True


def _window_settle(checkin: CheckIn, status: str, *, officer, resolutions, now: datetime) -> str:
    window = checkin.window
    if status == WindowStatus.SATISFIED:
        enforcement_services.window_satisfy(window=window, checkin_id=checkin.pk, now=now)
    elif status == WindowStatus.MISSED:
        enforcement_services.window_reported_not_confirmed(window=window, now=now)
    elif status == WindowStatus.EXCUSED and window.status in (WindowStatus.OPEN, WindowStatus.REPORTED, WindowStatus.MISSED):
        enforcement_services.window_excuse(
            window=window, officer=officer, reason=_("Excused by the officer who reviewed check-in %(id)d.") % {"id": checkin.pk}, now=now
        )
    return ReportingWindow.objects.filter(pk=window.pk).values_list("status", flat=True).first()
