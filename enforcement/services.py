"""State changes of the enforcement domain. Views, admin, tasks, commands and tests call these.

Conventions: keyword-only arguments, atomic, `now` passed in where time matters, domain
errors from enforcement.errors, and an audit event for every decision a person makes.
"""

import hashlib
import logging
import os
import queue
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, models, transaction
from django.db.models import Max, Q
from django.utils import timezone
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from biometrics import faces, images
from enforcement import activation_locks, audit, channels, compliance, crypto, metrics, notifications, roles, selectors
from enforcement.errors import Conflict, DomainError, Forbidden, NotFound
from enforcement.models import (
    CASE_STATUS_TRANSITIONS,
    ESCALATION_STATUS_TRANSITIONS,
    NOTIFICATION_STATUS_TRANSITIONS,
    PHOTO_STATUS_TRANSITIONS,
    TASK_STATUS_TRANSITIONS,
    WINDOW_STATUS_TRANSITIONS,
    AccessRecord,
    ActivationCode,
    AppointmentStatus,
    AuditEvent,
    AuditVerification,
    BlindAnswer,
    CaseStatus,
    CircumstanceChange,
    CircumstanceField,
    Client,
    ConsentDecision,
    ConsentKind,
    ConsentRecord,
    ConsentText,
    ContactChannel,
    Escalation,
    EscalationStatus,
    InvestigationTask,
    Language,
    Notice,
    NoticeKind,
    Notification,
    NotificationStatus,
    NotifyChannel,
    Office,
    PhotoStatus,
    RecentReference,
    RecentReferenceSource,
    ReferenceEncoding,
    ReferencePhoto,
    Region,
    ReportingCondition,
    ReportingMethod,
    ReportingWindow,
    SamePerson,
    TaskNote,
    TaskPriority,
    TaskReason,
    TaskResolution,
    TaskStatus,
    User,
    WindowStatus,
)
from enforcement.transitions import sources_of, transition, transition_one

logger = logging.getLogger(__name__)

MAX_REFERENCE_PHOTOS = 5
# Recent selfies the decision uses beside the enrolment photos (RecentReference): few, so
# that the template stays anchored on the photos an officer enrolled.
MAX_RECENT_REFERENCES = 2


# --- Audit ----------------------------------------------------------------------------------


def audit_record(*, actor: User | None, action: str, obj=None, client: Client | None = None, details: dict | None = None, actor_label: str | None = None, now: datetime | None = None):
    """Append an audit event. `actor` is the staff user, or None for the system or a client
    (then say who in `actor_label`)."""
    if actor_label is None:
        actor_label = actor.get_username() if actor is not None else "system"
    return audit.append(
        actor=actor,
        actor_label=actor_label,
        action=action,
        object_type=obj._meta.label_lower if obj is not None else "",
        object_id=obj.pk if obj is not None else "",
        client_id=client.pk if client is not None else None,
        details=details or {},
        now=now,
    )


def audit_verification_request(*, user: User, now: datetime | None = None) -> AuditVerification | None:
    """Someone asked for the audit chain to be verified (the auditors' dashboard): the request
    is an audit event; a chain of at most REPORTIN_AUDIT_VERIFY_IN_PAGE_MAX events is verified
    at once and its outcome returned, a longer one is queued for the worker (`audit_verify`,
    which keeps its outcome the same way) and None returned."""
    events = AuditEvent.objects.aggregate(last=Max("seq"))["last"] or 0
    in_page = events <= settings.REPORTIN_AUDIT_VERIFY_IN_PAGE_MAX
    audit_record(actor=user, action="audit.verify_request", details={"events": events, "on_worker": not in_page}, now=now)
    if not in_page:
        transaction.on_commit(_audit_verify_enqueue)
        return None
    return audit.verification_record(report=audit.verify(), now=now)


def _audit_verify_enqueue() -> None:
    from enforcement.tasks import audit_verify

    audit_verify.delay()


# --- Clients --------------------------------------------------------------------------------


def client_create_check(*, region: Region | None, case_officer: User | None) -> None:
    """Raise DomainError if `case_officer` may not take a new client of `region`."""
    if case_officer is not None and not case_officer_choices(region=region).filter(pk=case_officer.pk).exists():
        message = _("The case officer must be an active officer of the client's region, or a supervisor.")
        raise DomainError(message, code="invalid_case_officer", fields={"case_officer": message})


@transaction.atomic
def client_create(
    *,
    uci: str,
    given_name: str,
    family_name: str,
    date_of_birth: date,
    country_of_citizenship: str,
    region: Region,
    created_by: User | None,
    preferred_language: str = "en",
    **optional,
) -> Client:
    client_create_check(region=region, case_officer=optional.get("case_officer"))
    if optional.get("case_status") == CaseStatus.CLOSED:
        optional.setdefault("case_closed_at", timezone.now())
    client = Client(
        uci=uci,
        given_name=given_name,
        family_name=family_name,
        date_of_birth=date_of_birth,
        country_of_citizenship=country_of_citizenship.upper(),
        region=region,
        preferred_language=preferred_language,
        **optional,
    )
    client.full_clean()
    client.save()
    audit_record(actor=created_by, action="client.create", obj=client, client=client)
    return client


# Fields an officer edits on the client's page. The address, employment and family status
# change through circumstances_update (with their history); the supervisor flag through
# client_attention_clear.
CLIENT_EDITABLE_FIELDS = (
    "uci", "given_name", "family_name", "date_of_birth", "country_of_citizenship", "preferred_language",
    "region", "time_zone", "case_status", "case_officer", "email", "phone",
)
# What the app checks at activation, with the code: once a client is enrolled, only a
# supervisor corrects them (and it is audited like every change).
IDENTITY_FIELDS = ("uci", "date_of_birth")


def client_is_enrolled(client: Client) -> bool:
    """Enrolled: an activation code was issued or a reference photo is in use."""
    return (
        ActivationCode.objects.filter(client=client).exists()
        or ReferencePhoto.objects.filter(client=client, status=PhotoStatus.READY).exists()
    )


def case_officer_choices(*, region: Region | None, any_region: bool = False):
    """Who may be a client's case officer: active officers of the client's region, and
    supervisors (who work every region). Not auditors, not a bare superuser account."""
    if any_region:
        officers = Q(groups__name=roles.OFFICER)
    else:
        officers = Q(groups__name=roles.OFFICER, region=region) if region is not None else Q(pk__in=[])
    return User.objects.filter(is_active=True, is_staff=True).filter(officers | Q(groups__name=roles.SUPERVISOR)).distinct()


def _audit_value(value):
    if isinstance(value, models.Model):
        return {"id": value.pk, "label": str(value)}
    if isinstance(value, date):
        return value.isoformat()
    return value


def client_update_check(*, client: Client, changes: dict, by: User) -> dict[str, tuple]:
    """The changes that `changes` makes to `client`, as {field: (old, new)}, after checking
    them all; raises DomainError (with the fields at fault) if any is not allowed."""
    unknown = set(changes) - set(CLIENT_EDITABLE_FIELDS)
    if unknown:
        raise ValueError(f"not editable through client_update: {sorted(unknown)}")
    if "country_of_citizenship" in changes and changes["country_of_citizenship"]:
        changes = {**changes, "country_of_citizenship": changes["country_of_citizenship"].upper()}
    diff = {}
    for field, new in changes.items():
        old = getattr(client, field)
        if (old.pk if isinstance(old, models.Model) else old) != (new.pk if isinstance(new, models.Model) else new):
            diff[field] = (old, new)
    if not diff:
        return {}
    if not roles.may_see_region(by, client.region_id):
        raise Forbidden(_("This client belongs to another region."), code="other_region")
    errors = {}
    region = diff.get("region", (None, client.region))[1]
    if region is not None and not roles.may_see_region(by, region.pk):
        errors["region"] = _("You can move a client only to a region you work in.")
    identity = [field for field in IDENTITY_FIELDS if field in diff]
    if identity and client_is_enrolled(client) and not roles.is_supervisor(by):
        message = _("Only a supervisor corrects the UCI or date of birth of an enrolled client: the app checks them at activation.")
        raise Forbidden(message, code="identity_locked", fields=dict.fromkeys(identity, message))
    if "case_status" in diff:
        old, new = diff["case_status"]
        if new not in CASE_STATUS_TRANSITIONS.get(old, ()):
            errors["case_status"] = _("A case cannot go from “%(old)s” to “%(new)s”.") % {
                "old": CaseStatus(old).label, "new": CaseStatus(new).label if new in CaseStatus.values else new,
            }
    officer = diff.get("case_officer", (None, client.case_officer))[1]
    if officer is not None and ("case_officer" in diff or "region" in diff):
        if not case_officer_choices(region=region).filter(pk=officer.pk).exists():
            errors["case_officer"] = _("The case officer must be an active officer of the client's region, or a supervisor.")
    probe = Client(**{f.attname: getattr(client, f.attname) for f in Client._meta.concrete_fields})
    for field, (_old, new) in diff.items():
        setattr(probe, field, new)
    try:
        probe.full_clean(exclude=[f.name for f in Client._meta.fields if f.name not in diff])
    except ValidationError as exc:
        errors.update({field: " ".join(messages) for field, messages in exc.message_dict.items()})
    if errors:
        first = next(iter(errors.values()))
        raise DomainError(first, code="invalid_client_change", fields=errors)
    return diff


@transaction.atomic
def client_update(*, client: Client, changes: dict, updated_by: User, now: datetime | None = None) -> Client:
    """Change a client's details and case (the client's page in admin). Every changed field is
    audited with its old and new value; the case status moves only as CASE_STATUS_TRANSITIONS
    allows, and closing stamps `case_closed_at` (retention counts from it); a new time zone or
    region regenerates the windows not yet open; closing or removal ends them, reopening
    creates them again. Returns the client as saved."""
    now = now or timezone.now()
    locked = Client.objects.select_for_update(of=("self",)).select_related("region", "case_officer").get(pk=client.pk)
    old_zone = locked.local_time_zone
    diff = client_update_check(client=locked, changes=changes, by=updated_by)
    if not diff:
        return locked
    for field, (_old, new) in diff.items():
        setattr(locked, field, new)
    plain = [field for field in diff if field != "case_status"]
    if plain:
        locked.save(update_fields=[*plain, "updated_at"])
    if "region" in diff:
        # The tasks follow their client to the new region's queue.
        InvestigationTask.objects.filter(client=locked).update(region=locked.region, updated_at=now)
    if "case_status" in diff:
        old, new = diff["case_status"]
        locked.case_closed_at = now if new == CaseStatus.CLOSED else None
        # The table is the guard (a concurrent change lost the lock race and is refused here).
        transition_one(
            Client.objects.filter(pk=locked.pk), table=CASE_STATUS_TRANSITIONS, to=new, current=old, field="case_status",
            case_closed_at=locked.case_closed_at, updated_at=now,
        )
    audit_record(
        actor=updated_by, action="client.update", obj=locked, client=locked,
        details={"changes": {field: {"old": _audit_value(old), "new": _audit_value(new)} for field, (old, new) in diff.items()}},
        now=now,
    )
    # Windows are kept for open cases only (compliance.OPEN_CASES): closing or removal ends
    # the upcoming ones, reopening creates them again.
    opened_or_ended = "case_status" in diff and (diff["case_status"][0] in compliance.OPEN_CASES) != (diff["case_status"][1] in compliance.OPEN_CASES)
    if locked.local_time_zone != old_zone or opened_or_ended:
        _client_windows_regenerate(locked, now=now)
    if opened_or_ended and locked.case_status not in compliance.OPEN_CASES:
        # enforcement.appointments builds on this module, so it is imported here.
        from enforcement.appointments import appointments_end_with_case

        appointments_end_with_case(client=locked, by=updated_by, now=now)
    return locked


def _client_windows_regenerate(client: Client, *, now: datetime) -> None:
    # Windows that opened are the record and stay; the window under way keeps its times, and
    # new ones start after it, so the client is never held to two windows at once.
    windows_discard_upcoming(client=client, now=now)
    condition = ReportingCondition.objects.filter(client=client, active=True).first()
    if condition is None:
        return
    under_way_until = ReportingWindow.objects.filter(client=client, opens_at__lte=now, closes_at__gt=now).aggregate(end=Max("closes_at"))["end"]
    if under_way_until and (condition.effective_from is None or condition.effective_from < under_way_until):
        ReportingCondition.objects.filter(pk=condition.pk).update(effective_from=under_way_until)
    windows_materialise(now=now, condition_ids=[condition.pk])


# --- Regions and staff accounts ---------------------------------------------------------------


def _reference_row_save(model, *, row, changes: dict, by: User, action: str, now: datetime) -> tuple:
    """Create (`row` None) or change a row of reference data that admin edits (regions,
    offices), audited with the old and new value of each changed field. Returns (row, the
    changed fields as {field: (old, new)}; every field given when created)."""
    if row is None:
        created = model(**changes)
        created.full_clean()
        created.save()
        audit_record(actor=by, action=f"{action}.create", obj=created, details={k: _audit_value(v) for k, v in changes.items()}, now=now)
        return created, {field: (None, value) for field, value in changes.items()}
    locked = model.objects.select_for_update().get(pk=row.pk)
    diff = {field: (getattr(locked, field), value) for field, value in changes.items() if getattr(locked, field) != value}
    if not diff:
        return locked, {}
    for field, (_old, value) in diff.items():
        setattr(locked, field, value)
    locked.full_clean()
    locked.save(update_fields=list(diff))
    audit_record(
        actor=by, action=f"{action}.update", obj=locked,
        details={"changes": {field: {"old": _audit_value(old), "new": _audit_value(new)} for field, (old, new) in diff.items()}}, now=now,
    )
    return locked, diff


@transaction.atomic
def office_save(*, office: Office | None, changes: dict, by: User, now: datetime | None = None) -> Office:
    """Create an office (`office` None) or change one; audited with the old and new values.
    Offices are never deleted (notices sent name them): one that closes is made inactive."""
    saved, _ = _reference_row_save(Office, row=office, changes=changes, by=by, action="office", now=now or timezone.now())
    return saved


@transaction.atomic
def region_save(*, region: Region | None, changes: dict, by: User, now: datetime | None = None) -> Region:
    """Create a region (`region` None) or change one. Audited; a new time zone regenerates the
    windows not yet open of its clients who have no zone of their own."""
    now = now or timezone.now()
    saved, diff = _reference_row_save(Region, row=region, changes=changes, by=by, action="region", now=now)
    if region is not None and "time_zone" in diff:
        for client in Client.objects.filter(region=saved, time_zone="").select_related("region"):
            _client_windows_regenerate(client, now=now)
    return saved


def staff_account_audit(*, user: User, fields: list[str], created: bool, by: User, now: datetime | None = None):
    """Record a change to a staff account made in admin (who, which fields, the roles now)."""
    return audit_record(
        actor=by, action="staff.create" if created else "staff.update", obj=user,
        details={
            "username": user.get_username(), "fields": sorted(fields), "roles": sorted(user.groups.values_list("name", flat=True)),
            "is_active": user.is_active, "region": user.region_id,
        },
        now=now,
    )


def staff_role_audit(*, group, fields: list[str], created: bool, by: User, now: datetime | None = None):
    """Record a change to a role (a group and its permissions) made in admin."""
    return audit_record(
        actor=by, action="role.create" if created else "role.update", obj=group,
        details={"name": group.name, "fields": sorted(fields), "permissions": sorted(group.permissions.values_list("codename", flat=True))},
        now=now,
    )


# --- Reference photos -----------------------------------------------------------------------

# What to do about a rejected photo; for low quality and unreadable files the pipeline's own
# message names the problem (too small, too dark, blurred, damaged...).
REJECTION_MESSAGES = {
    faces.Outcome.NO_FACE: "No face was found. Take a new photo facing the camera, in good light.",
    faces.Outcome.MULTIPLE_FACES: "More than one face is in the photo. Take a photo of the client alone.",
}


# Why an uploaded image was refused, in the reader's language (biometrics speaks English only).
IMAGE_REJECTIONS = {
    "empty_file": (400, gettext_lazy("The photo is empty.")),
    "not_an_image": (415, gettext_lazy("The file is not a photo (JPEG, PNG or HEIC).")),
    "unsupported_image_type": (415, gettext_lazy("%(format)s photos are not accepted; send a JPEG, PNG or HEIC photo.")),
    "invalid_image": (400, gettext_lazy("The photo could not be read; it may be damaged or incomplete.")),
    "image_too_large": (400, gettext_lazy("The photo has too many pixels; at most %(megapixels)d megapixels are accepted.")),
    "animated_image": (400, gettext_lazy("Animated images are not accepted; send a single photo.")),
}


def _image_rejected(exc: images.ImageRejected, *, field: str) -> DomainError:
    status, template = IMAGE_REJECTIONS[exc.code]
    message = str(template) % exc.params if exc.params else str(template)
    return DomainError(message, code=exc.code, status=status, fields={field: message})


def image_check(data: bytes, *, field: str) -> images.ImageInfo:
    """Inspect uploaded image bytes from the header only (type, pixel cap, structure) before
    anything is stored. Raises DomainError naming `field`, with the reason in plain words."""
    try:
        return images.inspect(data, max_pixels=settings.REPORTIN_IMAGE_MAX_PIXELS)
    except images.ImageRejected as exc:
        raise _image_rejected(exc, field=field) from None


def image_strip_metadata(data: bytes, info: images.ImageInfo, *, field: str) -> bytes:
    """The upload without its metadata (EXIF incl. GPS, XMP, text chunks, HEIC metadata items),
    orientation kept as the only tag; no pixel is decoded (biometrics.images.strip_metadata).
    The web tier stores this; the worker makes the upright JPEG (image_stored_copy)."""
    try:
        return images.strip_metadata(data, info)
    except images.ImageRejected as exc:
        raise _image_rejected(exc, field=field) from None


def image_stored_copy(data: bytes, info: images.ImageInfo, *, field: str) -> bytes:
    """The copy of an uploaded image that is kept (upright, no metadata). Raises DomainError
    naming `field` when the header was fine but the pixels cannot be decoded (a truncated PNG)."""
    try:
        return images.stored_copy(data, info)
    except images.ImageRejected as exc:
        raise _image_rejected(exc, field=field) from None


def reference_photo_add(*, client: Client, data: bytes, uploaded_by: User | None) -> ReferencePhoto:
    """Enrol one reference photo: stored (clean, encrypted) and checked at once. The result is
    `ready` with an encrypted encoding, or `rejected` with the reason in plain words."""
    info = image_check(data, field="image")
    clean = image_stored_copy(data, info, field="image")
    # The same pipeline as a check-in's, with the reference gate (biometrics.faces.enrol).
    # The face analysis runs before the transaction, which then only writes.
    analysis = faces.enrol(clean, max_pixels=settings.REPORTIN_IMAGE_MAX_PIXELS)
    return _reference_photo_store(client=client, clean=clean, analysis=analysis, uploaded_by=uploaded_by)


@transaction.atomic
def _reference_photo_store(*, client: Client, clean: bytes, analysis: faces.Analysis, uploaded_by: User | None) -> ReferencePhoto:
    active = client.reference_photos.filter(active=True).exclude(status=PhotoStatus.REJECTED).count()
    if active >= MAX_REFERENCE_PHOTOS:
        raise Conflict(
            _("A client has at most %(n)d reference photos; deactivate one first.") % {"n": MAX_REFERENCE_PHOTOS},
            code="too_many_reference_photos",
        )
    from django.core.files.base import ContentFile

    photo = ReferencePhoto(
        client=client,
        sha256=hashlib.sha256(clean).hexdigest(),
        phash=analysis.phash,
        width=analysis.width or None,
        height=analysis.height or None,
        face_box=analysis.face_box,
        quality=analysis.quality,
        model_version=faces.MODEL_VERSION,
        uploaded_by=uploaded_by,
    )
    # The image and the encoding are sealed to the photo's id: the row is inserted first (with
    # the image's random name and, for a ready photo, an empty encoding the constraint
    # accepts), then the image is written and the encoding set, in this transaction.
    photo.image.reserve("reference")
    if analysis.outcome == faces.Outcome.OK:
        photo.status = PhotoStatus.READY
        photo.encoding = b""
    else:
        photo.status = PhotoStatus.REJECTED
        photo.rejection_code = analysis.outcome
        photo.rejection_message = REJECTION_MESSAGES.get(analysis.outcome) or analysis.message
    photo.save()
    try:
        photo.image.write(ContentFile(clean))
        if photo.status == PhotoStatus.READY:
            photo.encoding = crypto.encrypt(faces.encoding_to_bytes(analysis.encoding), record=crypto.record_label(photo))
            photo.save(update_fields=["encoding"])
    except BaseException:
        photo.image.delete(save=False)
        raise
    audit_record(
        actor=uploaded_by,
        action="reference_photo.add",
        obj=photo,
        client=client,
        details={"status": photo.status, "rejection_code": photo.rejection_code},
    )
    return photo


def reference_photo_encode(photo: ReferencePhoto) -> faces.Analysis:
    """Run the current face model over a stored reference photo (its clean copy), as at
    enrolment. Nothing is written: see reference_encodings_record."""
    with photo.image.open("rb") as handle:
        data = handle.read()
    return faces.enrol(data, max_pixels=settings.REPORTIN_IMAGE_MAX_PIXELS)


@transaction.atomic
def reference_encodings_record(*, version: str, results: list[tuple[int, faces.Analysis]], now: datetime | None = None) -> dict[str, int]:
    """Keep the encodings that face model `version` made of reference photos (one chunk of
    manage.py reencode_references), encrypted, beside the photos' own. A photo purged or
    already done meanwhile is skipped. Audited once per chunk. Returns counts by outcome."""
    now = now or timezone.now()
    still_ready = set(
        ReferencePhoto.objects.select_for_update().filter(pk__in=[pk for pk, _ in results], status=PhotoStatus.READY)
        .exclude(model_version=version).values_list("pk", flat=True)
    )
    rows = [
        ReferenceEncoding(
            photo_id=pk, model_version=version, outcome=analysis.outcome, created_at=now,
            encoding=b"" if analysis.outcome == faces.Outcome.OK else None,  # sealed once the row has its id
        )
        for pk, analysis in results
        if pk in still_ready
    ]
    done = {row.photo_id for row in ReferenceEncoding.objects.filter(photo_id__in=still_ready, model_version=version)}
    rows = [row for row in rows if row.photo_id not in done]
    ReferenceEncoding.objects.bulk_create(rows)
    # Each encoding is sealed to its own row (crypto.record_label), in this transaction.
    analyses = dict(results)
    sealed = [row for row in rows if row.encoding is not None]
    for row in sealed:
        row.encoding = crypto.encrypt(faces.encoding_to_bytes(analyses[row.photo_id].encoding), record=crypto.record_label(row))
    ReferenceEncoding.objects.bulk_update(sealed, ["encoding"])
    counts: dict[str, int] = {}
    for row in rows:
        counts[row.outcome] = counts.get(row.outcome, 0) + 1
    if rows:
        audit_record(
            actor=None, actor_label="reencode_references", action="reference_photo.reencode", now=now,
            details={"model_version": version, "counts": counts, "ids": [row.photo_id for row in rows]},
        )
    return counts


@transaction.atomic
def reference_photo_set_active(*, photo: ReferencePhoto, active: bool, by: User, now: datetime | None = None) -> bool:
    """Take a reference photo out of comparisons (or back in). Audited. Returns False when
    nothing changed; a deleted (purged) photo cannot come back."""
    now = now or timezone.now()
    query = ReferencePhoto.objects.filter(pk=photo.pk, active=not active)
    if active:
        query = query.exclude(status=PhotoStatus.PURGED)
        if ReferencePhoto.objects.filter(client=photo.client, active=True).exclude(status=PhotoStatus.REJECTED).count() >= MAX_REFERENCE_PHOTOS:
            raise Conflict(
                _("A client has at most %(n)d reference photos; deactivate one first.") % {"n": MAX_REFERENCE_PHOTOS},
                code="too_many_reference_photos",
            )
    if not query.update(active=active, updated_at=now):
        return False
    audit_record(
        actor=by, action="reference_photo.activate" if active else "reference_photo.deactivate", obj=photo, client=photo.client, now=now,
    )
    return True


@transaction.atomic
def recent_reference_add(
    *,
    client: Client,
    checkin_id: int,
    encoding,
    source: str,
    distance: float | None,
    threshold: float | None,
    added_by: User | None,
    now: datetime | None = None,
) -> RecentReference | None:
    """Keep a check-in selfie's encoding as a recent reference, if allowed: the client's
    biometric consent is current, no task about this check-in is open, the encoding is of the
    current model, and it is not there already. Returns None (and adds nothing) otherwise.
    The set is bounded: beyond MAX_RECENT_REFERENCES the oldest active one is retired.
    Enrolment photos are never touched."""
    now = now or timezone.now()
    if source not in RecentReferenceSource.values:
        raise ValueError(f"unknown recent reference source {source!r}")
    # The client row is locked: two check-ins concluding at once cannot both count the set
    # before either adds to it and leave it over the bound.
    Client.objects.select_for_update().filter(pk=client.pk).first()
    if RecentReference.objects.filter(checkin_id=checkin_id).exists():
        return None
    if InvestigationTask.objects.filter(checkin_id=checkin_id).exclude(status=TaskStatus.RESOLVED).exists():
        return None
    if not selectors.consent_allows_remote(client=client):
        return None
    recent = RecentReference.objects.create(
        client=client,
        checkin_id=checkin_id,
        source=source,
        encoding=b"",  # sealed to the new row's id just below, in this transaction
        model_version=faces.MODEL_VERSION,
        distance=distance,
        threshold=threshold,
        added_by=added_by,
        created_at=now,
    )
    recent.encoding = crypto.encrypt(faces.encoding_to_bytes(encoding), record=crypto.record_label(recent))
    recent.save(update_fields=["encoding"])
    retired = list(
        RecentReference.objects.filter(client=client, active=True).order_by("-created_at", "-pk").values_list("pk", flat=True)[MAX_RECENT_REFERENCES:]
    )
    RecentReference.objects.filter(pk__in=retired).update(active=False, retired_at=now)
    audit_record(
        actor=added_by, action="recent_reference.add", obj=recent, client=client, now=now,
        details={"checkin_id": checkin_id, "source": source, "distance": distance, "threshold": threshold, "retired": retired},
    )
    return recent


# --- Conditions -----------------------------------------------------------------------------


@transaction.atomic
def condition_set(*, client: Client, set_by: User | None, now: datetime | None = None, **fields) -> ReportingCondition:
    """Replace the client's active reporting condition with a new one and create its windows.

    Windows that have not opened yet are regenerated; windows that opened are the record and
    stay as they are, including one under way. The new condition takes effect with its first
    window that opens after the change and after the window under way closes, so the client
    is never held to two windows at once."""
    now = now or timezone.now()
    # The UPDATE locks the old row: a materialisation run holding it finishes first, and one
    # that comes after skips it (no longer active).
    replaced = ReportingCondition.objects.filter(client=client, active=True).update(active=False)
    windows_discard_upcoming(client=client, now=now)
    under_way_until = ReportingWindow.objects.filter(client=client, opens_at__lte=now, closes_at__gt=now).aggregate(
        end=Max("closes_at")
    )["end"]
    condition = ReportingCondition(
        client=client, created_by=set_by, active=True, effective_from=under_way_until or (now if replaced else None), **fields
    )
    condition.full_clean()
    condition.save()
    audit_record(
        actor=set_by, action="condition.set", obj=condition, client=client,
        details={"method": condition.method, "schedule": condition.schedule, "replaced": bool(replaced)}, now=now,
    )
    windows_materialise(now=now, condition_ids=[condition.pk])
    return condition


# --- Circumstances -------------------------------------------------------------------------


@transaction.atomic
def circumstances_update(
    *,
    client: Client,
    changes: dict[str, str],
    channel: str,
    checkin_id: int | None = None,
    recorded_by: User | None = None,
    now: datetime | None = None,
) -> list[CircumstanceChange]:
    """Record reported address, employment or family status: each value that differs from the
    current one becomes a CircumstanceChange (old and new value) and the client's current
    value. Nothing is overwritten without a trace. Returns the changes recorded."""
    now = now or timezone.now()
    unknown = set(changes) - set(CircumstanceField.values)
    if unknown:
        raise ValueError(f"not a circumstance: {sorted(unknown)}")
    # Lock the client row: two reports at once must each see the value the other left.
    locked = Client.objects.select_for_update().get(pk=client.pk)
    recorded = []
    for field, value in changes.items():
        old = getattr(locked, field)
        new = value.strip()
        if new == old:
            continue
        recorded.append(
            CircumstanceChange(
                client=locked, field=field, old_value=old, new_value=new, channel=channel,
                checkin_id=checkin_id, recorded_by=recorded_by, recorded_at=now,
            )
        )
        setattr(locked, field, new)
    if not recorded:
        return []
    CircumstanceChange.objects.bulk_create(recorded)
    locked.save(update_fields=[change.field for change in recorded] + ["updated_at"])
    for change in recorded:
        setattr(client, change.field, change.new_value)
    audit_record(
        actor=recorded_by,
        actor_label=None if recorded_by else f"client {client.uci}",
        action="client.circumstances_update",
        obj=locked,
        client=locked,
        details={"fields": [change.field for change in recorded], "channel": channel, "checkin_id": checkin_id},
        now=now,
    )
    return recorded


# --- Consent --------------------------------------------------------------------------------


def consent_text_sha256(title: str, body: str) -> str:
    """The fingerprint of a consent text exactly as shown: title, blank line, body."""
    return hashlib.sha256(f"{title}\n\n{body}".encode()).hexdigest()


@transaction.atomic
def consent_text_publish(
    *, kind: str, language: str, version: str, title: str, body: str, published_by: User | None, now: datetime | None = None
) -> ConsentText:
    """Publish a new version of a consent text; it becomes the current one of its kind and
    language. A published version is never changed: a new wording is a new version. Audited."""
    now = now or timezone.now()
    version, title, body = (version or "").strip(), (title or "").strip(), (body or "").strip()
    errors = {}
    if kind not in ConsentKind.values:
        errors["kind"] = _("Unknown consent kind.")
    if language not in Language.values:
        errors["language"] = _("Unknown language.")
    for field, value in (("version", version), ("title", title), ("body", body)):
        if not value:
            errors[field] = _("This field is required.")
    if errors:
        raise DomainError(next(iter(errors.values())), code="invalid_consent_text", fields=errors)
    if ConsentText.objects.filter(kind=kind, language=language, version=version).exists():
        message = _("This version is published already; give the new wording a new version.")
        raise Conflict(message, code="consent_text_version_exists", fields={"version": message})
    text = ConsentText.objects.create(
        kind=kind, language=language, version=version, title=title, body=body, sha256=consent_text_sha256(title, body), published_at=now
    )
    audit_record(
        actor=published_by, action="consent_text.publish", obj=text,
        details={"kind": kind, "language": language, "version": version, "sha256": text.sha256}, now=now,
    )
    return text


def consent_text_current(*, kind: str, language: str) -> ConsentText:
    text = ConsentText.objects.filter(kind=kind, language=language).order_by("-published_at", "-id").first()
    if text is None:
        raise NotFound(_("There is no consent text for this kind and language."), code="consent_text_not_found")
    return text


@transaction.atomic
def consent_record(
    *,
    client: Client,
    kind: str,
    decision: str,
    text_version: str,
    language: str,
    channel: str,
    recorded_by: User | None = None,
    device_id: int | None = None,
    now: datetime | None = None,
) -> ConsentRecord:
    """Append a consent decision. Granting needs the current text version. Refusing or
    withdrawing either consent (after a grant, or as the first answer) switches the client to
    in-person reporting and opens a `consent_withdrawn` task so that an officer arranges it."""
    now = now or timezone.now()
    if kind not in ConsentKind.values:
        raise DomainError(_("Unknown consent kind."), code="invalid_consent_kind", fields={"kind": _("Unknown consent kind.")})
    if decision not in ConsentDecision.values:
        raise DomainError(_("Unknown decision."), code="invalid_consent_decision", fields={"decision": _("Unknown decision.")})
    text = ConsentText.objects.filter(kind=kind, language=language, version=text_version).first()
    if text is None:
        raise DomainError(
            _("This consent text version does not exist."), code="unknown_text_version", fields={"text_version": _("Unknown version.")}
        )
    if decision == ConsentDecision.GRANTED and text.version != consent_text_current(kind=kind, language=language).version:
        # Consent counts only for the text in force; the person must read the newer one.
        raise Conflict(
            _("A newer version of this consent text has been published; read it before giving consent."),
            code="text_version_outdated",
            fields={"text_version": _("Not the current version.")},
        )
    # Lock the client: two decisions recorded at once must not both see the same "previous".
    Client.objects.select_for_update().filter(pk=client.pk).first()
    previous = ConsentRecord.objects.filter(client=client, kind=kind).order_by("-recorded_at", "-id").first()
    record = ConsentRecord.objects.create(
        client=client,
        kind=kind,
        decision=decision,
        text_version=text.version,
        text_sha256=text.sha256,
        language=language,
        channel=channel,
        recorded_by=recorded_by,
        device_id=device_id,
        recorded_at=now,
    )
    audit_record(
        actor=recorded_by,
        actor_label=None if recorded_by else f"client {client.uci}",
        action="consent.record",
        obj=record,
        client=client,
        details={"kind": kind, "decision": decision, "version": text.version, "channel": channel},
        now=now,
    )
    # Refusing or withdrawing means reporting in person, never a penalty: an officer arranges
    # it. A repeated "no" (nothing changed) needs no second task.
    if decision != ConsentDecision.GRANTED and (previous is None or previous.decision == ConsentDecision.GRANTED):
        switched = ReportingCondition.objects.filter(client=client, active=True, method=ReportingMethod.REMOTE).update(
            method=ReportingMethod.IN_PERSON, updated_at=now
        )
        if switched:
            windows_discard_upcoming(client=client, now=now)
        # Where and when to report instead, as the office is now (a snapshot: the notice is a record).
        office = selectors.office_public(selectors.office_for(client=client), client.preferred_language)
        notice_post(client=client, kind=NoticeKind.REMOTE_OFF, details={"consent": kind, "decision": decision, "office": office}, now=now)
        task_open(
            client=client,
            reason=TaskReason.CONSENT_WITHDRAWN,
            consent_record=record,
            priority=TaskPriority.HIGH,
            evidence={
                "kind": kind, "decision": decision, "condition_switched_to_in_person": bool(switched),
                **({"reference_photos": "deleted once no open task about a check-in needs them; giving the consent again needs a new enrolment"}
                   if kind == ConsentKind.BIOMETRIC else {}),
            },
            now=now,
        )
    if kind == ConsentKind.BIOMETRIC and decision != ConsentDecision.GRANTED:
        reference_photos_withdraw(client=client, actor=recorded_by, now=now)
    if decision != ConsentDecision.GRANTED and kind == ConsentKind.BIOMETRIC:
        # Recent references exist only by this consent: without it they stop being used.
        retired = list(RecentReference.objects.filter(client=client, active=True).values_list("pk", flat=True))
        if retired:
            RecentReference.objects.filter(pk__in=retired).update(active=False, retired_at=now)
            audit_record(
                actor=recorded_by, actor_label=None if recorded_by else f"client {client.uci}", action="recent_reference.retire",
                client=client, details={"ids": retired, "reason": "biometric consent " + decision}, now=now,
            )
    return record


def _open_tasks_needing_photos(client: Client):
    # The task page shows the selfie beside the reference photos: an officer deciding a task
    # about a check-in needs them until the decision is made.
    return InvestigationTask.objects.filter(client=client, status__in=UNRESOLVED_TASK, checkin_id__isnull=False)


def reference_photos_withdraw(*, client: Client, actor: User | None = None, now: datetime | None = None) -> list[int]:
    """Delete the client's reference photos and face encodings once their likeness consent is
    no longer granted (withdrawn or refused), as soon as no open task about a check-in needs
    them (task_close calls this again after each decision). Audited. The rows stay, as
    `purged`, for the match log; giving the consent again needs a new enrolment. Returns the
    ids deleted."""
    now = now or timezone.now()
    latest = ConsentRecord.objects.filter(client=client, kind=ConsentKind.BIOMETRIC).order_by("-recorded_at", "-id").first()
    if latest is None or latest.decision == ConsentDecision.GRANTED or _open_tasks_needing_photos(client).exists():
        return []
    deleted = []
    for photo in ReferencePhoto.objects.select_for_update().filter(client=client).exclude(status=PhotoStatus.PURGED).order_by("pk"):
        if transition(
            ReferencePhoto.objects.filter(pk=photo.pk), table=PHOTO_STATUS_TRANSITIONS, to=PhotoStatus.PURGED,
            image="", encoding=None, active=False, updated_at=now,
        ):
            _file_delete_after_commit(photo.image)
            deleted.append(photo.pk)
    # Encodings of the same photos by other face models are the same biometric data.
    ReferenceEncoding.objects.filter(photo_id__in=deleted).delete()
    if deleted:
        audit_record(
            actor=actor, actor_label=None if actor else "system", action="reference_photo.purge", client=client,
            details={"reason": "likeness_consent_" + latest.decision, "consent_record": latest.pk, "ids": deleted}, now=now,
        )
    return deleted


def _file_delete_after_commit(file_field) -> None:
    """Delete a stored file once the row no longer points to it: a crash in between leaves an
    unreadable orphan file, never a row pointing to nothing."""
    name, storage = file_field.name, file_field.storage
    if name:
        transaction.on_commit(lambda: storage.delete(name))


# --- Activation codes -----------------------------------------------------------------------


def hash_secret(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


# Unambiguous characters only: no 0/O, 1/I/L.
_CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"


def normalise_activation_code(code: str) -> str:
    return "".join(ch for ch in code.upper() if ch.isalnum())


@transaction.atomic
def activation_code_issue(*, client: Client, issued_by: User | None, now: datetime | None = None, ttl_hours: int | None = None) -> tuple[str, ActivationCode]:
    """Issue a single-use activation code. The code itself is returned once and stored hashed;
    earlier unused codes of the client are revoked, and the client's activation lock (failed
    attempts on their UCI, from any address) is cleared: the officer has just seen the person
    (audited as activation_lock.clear)."""
    now = now or timezone.now()
    ttl = ttl_hours or settings.REPORTIN_ACTIVATION_CODE_TTL_HOURS
    ActivationCode.objects.filter(client=client, used_at__isnull=True, revoked_at__isnull=True).update(revoked_at=now)
    code = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(12))
    record = ActivationCode.objects.create(
        client=client, code_hash=hash_secret(code), issued_by=issued_by, issued_at=now, expires_at=now + timedelta(hours=ttl)
    )
    audit_record(actor=issued_by, action="activation_code.issue", obj=record, client=client, details={"expires_at": record.expires_at}, now=now)
    cleared = activation_locks.clear(uci=client.uci, now=now)
    if cleared is not None:
        audit_record(
            actor=issued_by, action="activation_lock.clear", client=client, now=now,
            details={"failures": cleared.failures, "addresses": cleared.addresses, "locked_until": cleared.locked_until, "scope": cleared.scope},
        )
    return f"{code[:4]}-{code[4:8]}-{code[8:]}", record


# --- Windows --------------------------------------------------------------------------------


def windows_materialise(*, now: datetime | None = None, condition_ids: list[int] | None = None) -> int:
    """Create the reporting windows (and their reminders) of every active remote condition
    of an open case, up to REPORTIN_WINDOW_HORIZON_DAYS ahead. Idempotent: run by beat, by
    condition_set (for one condition) and by seed_demo. Returns the number of windows created."""
    now = now or timezone.now()
    hours = settings.REPORTIN_REMINDER_HOURS_BEFORE_CLOSE
    return compliance.materialise(
        now=now,
        until=compliance.horizon_end(now, settings.REPORTIN_WINDOW_HORIZON_DAYS),
        closing_reminder=timedelta(hours=hours) if hours else None,
        condition_ids=condition_ids,
    )


def windows_materialise_step(*, after_id: int = 0, deadline: float | None = None, chunk_size: int = 2_000, now: datetime | None = None) -> tuple[int, int | None]:
    """windows_materialise in resumable steps for the long queue: the conditions after
    `after_id`, until `deadline` (time.monotonic()). Returns (windows created, the condition
    id to continue after, or None when done)."""
    now = now or timezone.now()
    hours = settings.REPORTIN_REMINDER_HOURS_BEFORE_CLOSE
    return compliance.materialise_from(
        now=now,
        until=compliance.horizon_end(now, settings.REPORTIN_WINDOW_HORIZON_DAYS),
        closing_reminder=timedelta(hours=hours) if hours else None,
        after_id=after_id, deadline=deadline, chunk_size=chunk_size,
    )


def windows_discard_upcoming(*, client: Client, now: datetime) -> None:
    """Remove the client's windows that have not opened yet, with their reminders: the
    condition changed, or remote reporting ended. Windows that opened stay: they are the record."""
    ReportingWindow.objects.filter(client=client, status=WindowStatus.OPEN, opens_at__gt=now).delete()


def windows_sweep(*, now: datetime | None = None, client: Client | None = None) -> int:
    """Mark open windows whose deadline (closes_at + grace) is before `now` as missed, each
    with one missed_report task; consecutive misses raise the priority, and
    REPORTIN_MISSES_FOR_SUPERVISOR of them flag the client for a supervisor's attention.
    Safe to run twice or at once (see enforcement.compliance). Returns the tasks opened.

    The full sweep (no `client`) looks only at deadlines since the last completed full sweep
    (less compliance.SWEEP_MARGIN), recorded in SweepMark in the same transaction: a sweep
    that fails records nothing, and the next one covers its stretch too. When nothing is due
    (most minutes), it costs one indexed query outside any transaction
    (compliance.sweep_due). A client's own sweep (at a check-in) looks at all that client's
    windows and leaves the mark alone. The person is told of each missed window (a notice and
    its messages), in the same transaction."""
    now = now or timezone.now()
    due_by = now + timedelta(hours=settings.REPORTIN_TASK_DUE_HOURS)
    flag_at = settings.REPORTIN_MISSES_FOR_SUPERVISOR
    if client is not None:
        return compliance.sweep(now=now, due_by=due_by, flag_at=flag_at, client_id=client.pk)
    since = compliance.sweep_due(now)
    if since is None:
        return 0
    return compliance.sweep(now=now, due_by=due_by, flag_at=flag_at, since=since, move_mark=True)


def window_satisfy(*, window: ReportingWindow, checkin_id: int, contest_upheld: bool = False, now: datetime | None = None) -> bool:
    """Mark a window satisfied by a verified check-in. Returns False (and changes nothing) if
    the window is no longer open or reported, e.g. satisfied by another check-in, or missed.
    A missed window is satisfied only with `contest_upheld`: an officer upheld the person's
    contest of the refusal of `checkin_id`, the report that made it missed (the table allows
    missed -> satisfied for that alone; a late check-in never satisfies a missed window)."""
    now = now or timezone.now()
    sources = [WindowStatus.OPEN, WindowStatus.REPORTED, *([WindowStatus.MISSED] if contest_upheld else [])]
    # Conditional update: of two check-ins verified at once, only one satisfies the window.
    return bool(
        transition(
            ReportingWindow.objects.filter(pk=window.pk, status__in=sources), table=WINDOW_STATUS_TRANSITIONS, to=WindowStatus.SATISFIED,
            satisfied_by_checkin_id=checkin_id, satisfied_at=now,
        )
    )


# No savepoint when nested: its one caller (reportin's checkin_submit) aborts the whole
# check-in on any error, and a savepoint is two more statements on the hottest path.
@transaction.atomic(savepoint=False)
def window_checkin_received(
    *, client: Client, window: ReportingWindow | None, checkin_id: int, captured_at: datetime, received_at: datetime
) -> None:
    """Reportin calls this when it stores a check-in, with the window it counts for (None if
    it counts for none, see selectors.windows_for_capture).

    A check-in that counts marks its window reported, so that the sweep does not call the
    window missed while the selfie is being checked, however long that takes. A check-in
    that comes after a miss is added to the open missed_report task as information."""
    if window is not None:
        if window.status == WindowStatus.OPEN:
            # Conditional: the sweep may have marked the window missed an instant ago.
            if transition(ReportingWindow.objects.filter(pk=window.pk), table=WINDOW_STATUS_TRANSITIONS, to=WindowStatus.REPORTED):
                return
        elif window.status != WindowStatus.MISSED:
            return  # reported, satisfied or excused already: none of them ever becomes open again
        if not ReportingWindow.objects.filter(pk=window.pk, status=WindowStatus.MISSED).exists():
            return
    else:
        # Kept on file, but it counts for no window: the person must not read "accepted" as "done".
        notice_post(client=client, kind=NoticeKind.EXTRA_CHECKIN, checkin_id=checkin_id, details={"captured_at": captured_at.isoformat()}, now=received_at)
    # A window whose deadline passed since the last sweep gets its task now, so the note
    # below finds it instead of arriving a minute before the task.
    windows_sweep(now=received_at, client=client)
    task = (
        InvestigationTask.objects.filter(client=client, reason=TaskReason.MISSED_REPORT, window__opens_at__lte=captured_at)
        .exclude(status=TaskStatus.RESOLVED)
        .select_related("window")
        .order_by("-window__opens_at")
        .first()
    )
    if task is not None:
        TaskNote.objects.create(
            task=task,
            kind=TaskNote.Kind.LATE_CHECKIN,
            text=(
                f"Check-in {checkin_id} arrived after the window's deadline ({task.window.deadline_at:%Y-%m-%d %H:%M} UTC): "
                f"captured {captured_at:%Y-%m-%d %H:%M} UTC, received {received_at:%Y-%m-%d %H:%M} UTC."
            ),
            data={"checkin_id": checkin_id, "captured_at": captured_at.isoformat(), "received_at": received_at.isoformat()},
            created_at=received_at,
        )


@transaction.atomic
def window_excuse(*, window: ReportingWindow, officer: User, reason: str, now: datetime | None = None) -> ReportingWindow:
    """An officer excuses a window (upcoming, under way, reported or missed) with a reason.
    An open missed_report task of the window gets the reason as a note; resolving it stays
    the officer's decision."""
    now = now or timezone.now()
    reason = (reason or "").strip()
    if not reason:
        message = _("Say why the window is excused.")
        raise DomainError(message, code="reason_required", fields={"reason": message})
    locked = ReportingWindow.objects.select_for_update().select_related("client").get(pk=window.pk)
    previous = locked.status
    transition_one(
        ReportingWindow.objects.filter(pk=locked.pk), table=WINDOW_STATUS_TRANSITIONS, to=WindowStatus.EXCUSED, current=previous,
        excused_by=officer, excused_reason=reason, excused_at=now,
    )
    locked.status, locked.excused_by, locked.excused_reason, locked.excused_at = WindowStatus.EXCUSED, officer, reason, now
    audit_record(
        actor=officer, action="window.excuse", obj=locked, client=locked.client,
        details={"reason": reason, "previous_status": previous}, now=now,
    )
    for task in InvestigationTask.objects.filter(window=locked, reason=TaskReason.MISSED_REPORT).exclude(status=TaskStatus.RESOLVED):
        TaskNote.objects.create(task=task, kind=TaskNote.Kind.SYSTEM, author=officer, text=f"Window excused: {reason}", created_at=now)
    return locked


@transaction.atomic
def client_attention_clear(*, client: Client, cleared_by: User, reason: str, now: datetime | None = None) -> bool:
    """A supervisor has looked at a client flagged after repeated misses. Returns False if
    the flag was not set."""
    now = now or timezone.now()
    reason = (reason or "").strip()
    if not reason:
        message = _("Say what was decided.")
        raise DomainError(message, code="reason_required", fields={"reason": message})
    if not Client.objects.filter(pk=client.pk, supervisor_attention=True).update(supervisor_attention=False, updated_at=now):
        return False
    client.supervisor_attention = False
    audit_record(actor=cleared_by, action="client.attention_clear", obj=client, client=client, details={"reason": reason}, now=now)
    return True


# --- Reminders and notices: channels, the outbox, delivery ---------------------------------
# (issue 18: the `channel` helper's section)

NOTIFICATION_MAX_ATTEMPTS = 5


def contact_channels_set(
    *, client: Client, channels: list[dict], language: str, recorded_via: str, recorded_by: User | None = None, now: datetime | None = None
) -> list[ContactChannel]:
    """The person's choice of channels for reminders and notices, each with their consent: the
    exact words they were shown (notifications.consent_text) in `language`. `channels` is the
    whole new choice: [{"channel": "sms", "address": "+16135550123"}, {"channel": "push",
    "push_endpoint": ..., "push_p256dh": ..., "push_auth": ...}, {"channel": "email"}]; a channel
    left out is ended. Reminders already queued follow the choice at once. Empty: email only, as
    before channels could be chosen (a person without an email address then gets none)."""
    now = now or timezone.now()
    wanted = {}
    for item in channels:
        name = item["channel"]
        if name in wanted:
            message = _("Each channel can be chosen once.")
            raise DomainError(message, code="invalid_input", fields={"channels": message})
        wanted[name] = {field: item.get(field, "") or "" for field in ("address", "push_endpoint", "push_p256dh", "push_auth")}
    if NotifyChannel.EMAIL in wanted and not client.email:
        message = _("There is no email address on file; ask your officer to add one, or choose another channel.")
        raise DomainError(message, code="invalid_input", fields={"channels": message})
    with transaction.atomic():
        Client.objects.select_for_update().filter(pk=client.pk).first()  # one change of choice at a time per person
        current = {row.channel: row for row in ContactChannel.objects.filter(client=client, ended_at__isnull=True)}
        kept, added, ended = [], [], []
        for name, row in current.items():
            same = name in wanted and all(getattr(row, field) == value for field, value in wanted[name].items())
            if same:
                kept.append(row)
            else:
                row.ended_at = now
                row.save(update_fields=["ended_at"])
                ended.append(name)
        for name, where in wanted.items():
            if name in current and current[name] in kept:
                continue
            added.append(ContactChannel.objects.create(
                client=client, channel=name, consent_text=notifications.consent_text(name, language), consent_language=language,
                recorded_via=recorded_via, recorded_by=recorded_by, chosen_at=now, **where,
            ))
        before = set(current) or {NotifyChannel.EMAIL}
        after = set(wanted) or {NotifyChannel.EMAIL}
        _notifications_follow_choice(client=client, dropped=before - after, new=after - before, now=now)
        audit_record(
            actor=recorded_by, actor_label=None if recorded_by else f"client {client.uci}", action="contact_channels.set", client=client,
            details={"channels": sorted(wanted), "ended": sorted(ended), "via": recorded_via, "language": language}, now=now,
        )
    return kept + added


def _notifications_follow_choice(*, client: Client, dropped: set[str], new: set[str], now: datetime) -> None:
    # What is queued, read before the dropped channels' rows are cancelled: the new channels
    # get the same messages at the same times.
    queued = set(
        Notification.objects.filter(client=client, status=NotificationStatus.PENDING, send_after__gt=now)
        .values_list("window_id", "notice_id", "appointment_id", "kind", "send_after")
    ) if new else set()
    if dropped:
        Notification.objects.filter(client=client, channel__in=dropped, status=NotificationStatus.PENDING).update(
            status=NotificationStatus.CANCELLED, last_error="the person no longer chose this channel"
        )
    if queued:
        Notification.objects.bulk_create(
            [Notification(client=client, window_id=window_id, notice_id=notice_id, appointment_id=appointment_id, kind=kind,
                          channel=name, send_after=send_after)
             for window_id, notice_id, appointment_id, kind, send_after in queued for name in new],
            ignore_conflicts=True,
        )


def _notice_channels(client: Client) -> list[str]:
    chosen = list(ContactChannel.objects.filter(client=client, ended_at__isnull=True).values_list("channel", flat=True))
    if chosen:
        return chosen
    return [NotifyChannel.EMAIL] if client.email else []


def notice_post(
    *, client: Client, kind: str, window: ReportingWindow | None = None, checkin_id: int | None = None, details: dict | None = None,
    appointment=None, now: datetime | None = None,
) -> Notice:
    """Tell the person something (NoticeKind): a notice for the app's home screen and a message
    on each of their channels, sent at once. One notice per event: a second call for the same
    window or check-in returns the first. `details` must never hold a score or a threshold."""
    now = now or timezone.now()
    try:
        with transaction.atomic():
            notice = Notice.objects.create(
                client=client, kind=kind, window=window, checkin_id=checkin_id, appointment=appointment, details=details or {}, created_at=now
            )
    except IntegrityError:  # the same event told already (unique per window / check-in and kind)
        lookup = {"window": window} if window is not None else {"checkin_id": checkin_id}
        return Notice.objects.get(client=client, kind=kind, **lookup)
    Notification.objects.bulk_create(
        [Notification(client=client, notice=notice, kind=kind, channel=name, send_after=now) for name in _notice_channels(client)]
    )
    return notice


def notice_read(*, client: Client, notice_id: int, now: datetime | None = None) -> Notice:
    """The person has seen a notice: it leaves the home screen (and stays in the list)."""
    now = now or timezone.now()
    notice = Notice.objects.filter(client=client, pk=notice_id).first()
    if notice is None:
        raise NotFound(code="notice_not_found")
    if notice.read_at is None:
        Notice.objects.filter(pk=notice.pk, read_at__isnull=True).update(read_at=now)
        notice.read_at = now
    return notice


def client_language_choose(*, client: Client, language: str, now: datetime | None = None) -> Client:
    """The person chooses their language in the app (issue 18.9): notices, reminders by email,
    SMS and push, and the API's answers without Accept-Language use it from now on. Audited
    with the old and new language; choosing the same one changes nothing."""
    if language not in Language.values:
        message = _("Unknown language.")
        raise DomainError(message, code="invalid_input", fields={"language": message})
    now = now or timezone.now()
    with transaction.atomic():
        locked = Client.objects.select_for_update().get(pk=client.pk)
        old = locked.preferred_language
        if old != language:
            locked.preferred_language = language
            locked.save(update_fields=["preferred_language"])
            audit_record(
                actor=None, actor_label=f"client {locked.uci}", action="client.language", obj=locked, client=locked,
                details={"old": old, "new": language, "via": "app"}, now=now,
            )
    client.preferred_language = language
    return locked


def notifications_due(*, now: datetime):
    """Pending messages due by `now`, in the order they are claimed (read off
    notification_due_order_idx, no sort)."""
    return Notification.objects.filter(status=NotificationStatus.PENDING, send_after__lte=now).order_by("send_after", "pk")


def notifications_stale(*, now: datetime, lease: timedelta):
    """Messages claimed longer than `lease` ago and not sent, oldest claim first (read off
    notification_sending_order_idx)."""
    return Notification.objects.filter(status=NotificationStatus.SENDING, claimed_at__lt=now - lease).order_by("claimed_at", "pk")


def notifications_claim(*, now: datetime, limit: int) -> list[int]:
    """Take up to `limit` due messages for sending (pending -> sending, `claimed_at` = now: the
    claim's token, handed to notifications_deliver); returns their ids."""
    with transaction.atomic():
        # SKIP LOCKED: two claimers at once take different messages, never the same one.
        ids = list(notifications_due(now=now).select_for_update(skip_locked=True).values_list("pk", flat=True)[:limit])
        if ids:
            transition(
                Notification.objects.filter(pk__in=ids, status=NotificationStatus.PENDING),
                table=NOTIFICATION_STATUS_TRANSITIONS, to=NotificationStatus.SENDING, claimed_at=now,
            )
    return ids


def notifications_reclaim(*, now: datetime, lease: timedelta, limit: int) -> list[int]:
    """Messages left in `sending` longer than `lease` (their sender died): taken again with a
    new token (`claimed_at` = now), to be sent only after asking the provider whether it already
    has them. The dead sender's message, if the broker hands it out again, carries the old token
    and finds nothing left to do."""
    with transaction.atomic():
        # SKIP LOCKED + a conditional UPDATE: a live sender finishing a row wins over the reclaim.
        ids = list(notifications_stale(now=now, lease=lease).select_for_update(skip_locked=True).values_list("pk", flat=True)[:limit])
        if ids:
            Notification.objects.filter(pk__in=ids, status=NotificationStatus.SENDING).update(claimed_at=now)
    return ids


def notifications_in_flight() -> int:
    """Messages claimed and not yet sent: the dispatcher claims no more while the notify
    workers have this much in hand, so that none waits in the queue past its lease."""
    return Notification.objects.filter(status=NotificationStatus.SENDING).count()


# What the senders read of a message's row and its client and window (enforcement.notifications:
# text, contact); the notice and appointment, rarer, come whole. Only these columns: the load of
# a chunk was a quarter of a notify worker's CPU, most of it parsing timestamps no sender reads.
_DELIVERY_FIELDS = (
    "id", "client_id", "window_id", "notice_id", "appointment_id", "kind", "channel", "attempts",
    "client__id", "client__uci", "client__given_name", "client__preferred_language", "client__time_zone", "client__region_id", "client__email",
    "client__region__id", "client__region__time_zone",
    "window__id", "window__status", "window__closes_at",
)


def notifications_to_deliver(*, ids: list[int], claimed_at: datetime | None = None) -> list[Notification]:
    """The claimed rows `ids` still `sending` (under the claim `claimed_at`, if given), with all
    that their senders read loaded: nothing a sender thread touches may need another query."""
    mine = Notification.objects.filter(pk__in=ids, status=NotificationStatus.SENDING)
    if claimed_at is not None:
        mine = mine.filter(claimed_at=claimed_at)
    return list(
        mine.select_related("client", "client__region", "window", "notice", "notice__window", "notice__appointment", "notice__appointment__office", "appointment", "appointment__office")
        .only(*_DELIVERY_FIELDS).order_by("pk")
    )


def notifications_deliver(*, ids: list[int], claimed_at: datetime | None = None, now: datetime | None = None, check_provider: bool = False) -> int:
    """Send the claimed messages `ids` through their channels, several at once, outside any
    database transaction (a slow provider holds no lock), and record each outcome as it comes.
    With `check_provider` (a retry after a sender died) the provider is asked first whether it
    already has a message, so that none is sent twice. `claimed_at` is the claim's token: rows
    claimed again since (by notifications_reclaim) are someone else's. Returns the number sent."""
    now = now or timezone.now()
    sender = import_string(settings.REPORTIN_NOTIFICATION_SENDER)
    rows = notifications_to_deliver(ids=ids, claimed_at=claimed_at)
    chosen = {
        (row.client_id, row.channel): row
        for row in ContactChannel.objects.filter(client_id__in={n.client_id for n in rows}, ended_at__isnull=True)
    }
    outcomes, to_send = [], []
    for notification in rows:
        window = notification.window
        if window is not None and (window.status != WindowStatus.OPEN or now >= window.closes_at):
            # extra=None: no attempt was made.
            outcomes.append((notification, NotificationStatus.CANCELLED, f"window {window.status}, closes {window.closes_at:%Y-%m-%d %H:%M} UTC", None))
            continue
        appointment = notification.appointment
        if appointment is not None and (appointment.status != AppointmentStatus.SCHEDULED or now >= appointment.starts_at):
            # A reminder claimed late (an outage), or of an appointment moved or cancelled meanwhile.
            outcomes.append((notification, NotificationStatus.CANCELLED, f"appointment {appointment.status}, starts {appointment.starts_at:%Y-%m-%d %H:%M} UTC", None))
            continue
        notification.contact = notifications.contact(notification, chosen.get((notification.client_id, notification.channel)))
        notification.check_provider = check_provider
        to_send.append(notification)

    limiter = channels.RateLimiter(settings.REPORTIN_CHANNEL_RATES)

    def attempt(notification: Notification):
        limiter.acquire(notification.channel)
        counter = metrics.REMINDERS.labels(notification.channel, "sent")
        try:
            result = notification, NotificationStatus.SENT, "", sender(notification) or ""
        except notifications.Undeliverable as exc:
            counter = metrics.REMINDERS.labels(notification.channel, "undeliverable")
            result = notification, NotificationStatus.CANCELLED, str(exc)[:1000], ""
        except Exception as exc:  # any other sender failure is retried, then recorded
            logger.warning("notification %s: sender failed: %s", notification.pk, exc)
            counter = metrics.REMINDERS.labels(notification.channel, "failed")
            result = notification, NotificationStatus.PENDING, f"{type(exc).__name__}: {exc}"[:1000], getattr(exc, "after_s", None) or 0
        counter.inc()
        return result

    sent = 0
    if to_send:
        # The sender threads take messages from one queue and put outcomes on another (no
        # future per message: at 500,000 a morning their locks cost more than the queues).
        work, done = queue.SimpleQueue(), queue.SimpleQueue()
        for notification in to_send:
            work.put(notification)

        def drain() -> None:
            while True:
                try:
                    notification = work.get_nowait()
                except queue.Empty:
                    return
                try:
                    done.put(attempt(notification))
                except BaseException as exc:  # handed to the caller, which raises it
                    done.put(exc)

        for _ in range(min(len(to_send), settings.REPORTIN_NOTIFY_CONCURRENCY)):
            _sender_pool().submit(drain)
        # Outcomes are written as they come, in small batches: a sender killed midway loses
        # at most the batch not yet written (those rows stay `sending`, and are reclaimed).
        batch, last = [], time.monotonic()
        for _ in range(len(to_send)):
            outcome = done.get()
            if isinstance(outcome, BaseException):
                raise outcome
            batch.append(outcome)
            if len(batch) >= 100 or time.monotonic() - last > 0.5:
                sent += _notifications_record(batch, now=now)
                batch, last = [], time.monotonic()
        outcomes.extend(batch)
    sent += _notifications_record(outcomes, now=now)
    return sent


_pool: ThreadPoolExecutor | None = None
_pool_pid: int | None = None


def _sender_pool() -> ThreadPoolExecutor:
    """The sender threads of this process, kept between chunks with their HTTP connections
    (a forked worker makes its own)."""
    global _pool, _pool_pid
    if _pool is None or _pool_pid != os.getpid():
        _pool = ThreadPoolExecutor(max_workers=settings.REPORTIN_NOTIFY_CONCURRENCY, thread_name_prefix="notify")
        _pool_pid = os.getpid()
    return _pool


def _notifications_record(outcomes: list, *, now: datetime) -> int:
    """Write send outcomes; each row only if still `sending` (a reclaim may have taken it).
    The sent ones, nearly all, in one statement."""
    sent_rows = [(n.pk, extra) for n, status, _reason, extra in outcomes if status == NotificationStatus.SENT]
    # The sent ones in one hand-written UPDATE (sending -> sent, which the table allows: checked
    # here so that a change of the table cannot leave this statement behind).
    assert NotificationStatus.SENDING in sources_of(NOTIFICATION_STATUS_TRANSITIONS, NotificationStatus.SENT)
    sent = 0
    with transaction.atomic():
        if sent_rows:
            table = connection.ops.quote_name(Notification._meta.db_table)
            values = ", ".join(["(%s, %s)"] * len(sent_rows))
            with connection.cursor() as cursor:
                # UPDATE ... FROM (VALUES ...), whose columns both name column1, column2: PostgreSQL, and
                # SQLite since 3.33.
                cursor.execute(
                    f"UPDATE {table} SET status = %s, sent_at = %s, attempts = attempts + 1, last_error = '', "
                    f"provider_reference = v.column2 FROM (VALUES {values}) AS v "
                    f"WHERE {table}.id = v.column1 AND {table}.status = %s",
                    [NotificationStatus.SENT, connection.ops.adapt_datetimefield_value(now), *[item for row in sent_rows for item in row], NotificationStatus.SENDING],
                )
                sent = cursor.rowcount
        for notification, status, reason, extra in outcomes:
            if status == NotificationStatus.SENT:
                continue
            attempts = notification.attempts + (0 if extra is None and status == NotificationStatus.CANCELLED else 1)
            changes = {"attempts": attempts, "last_error": reason, "status": status}
            if status == NotificationStatus.PENDING:
                if attempts < NOTIFICATION_MAX_ATTEMPTS:
                    changes["send_after"] = now + max(timedelta(minutes=2**attempts), timedelta(seconds=extra))
                else:
                    changes["status"] = NotificationStatus.FAILED
            to = changes.pop("status")
            transition(
                Notification.objects.filter(pk=notification.pk, status=NotificationStatus.SENDING),
                table=NOTIFICATION_STATUS_TRANSITIONS, to=to, **changes,
            )
    return sent


def notifications_send(*, now: datetime | None = None, batch_size: int = 100, time_budget_s: float = 45.0) -> int:
    """Claim and send what is due, in this process (the embedded configuration and tests;
    production spreads the work over the notify queue: notifications_dispatch). Returns the
    number sent."""
    now = now or timezone.now()
    started, sent = time.monotonic(), 0
    while time.monotonic() - started < time_budget_s:
        ids = notifications_claim(now=now, limit=batch_size)
        sent += notifications_deliver(ids=ids, claimed_at=now, now=now)
        if len(ids) < batch_size:
            break
    return sent


def notifications_sent_as(*, provider_reference: str):
    """The sent message the provider knows by `provider_reference` (read off
    notification_receipt_idx; an empty reference is no message's)."""
    return Notification.objects.filter(provider_reference=provider_reference, status=NotificationStatus.SENT).exclude(provider_reference="")


def notification_receipt(*, provider_reference: str, delivered: bool, reason: str = "", now: datetime | None = None) -> bool:
    """The provider's delivery receipt for a sent message: delivered to the phone, or failed
    with the provider's reason. False when no sent message has this reference."""
    now = now or timezone.now()
    status = NotificationStatus.DELIVERED if delivered else NotificationStatus.FAILED
    changes = {"delivered_at": now} if delivered else {"last_error": reason[:1000]}
    return bool(
        transition(
            notifications_sent_as(provider_reference=provider_reference),
            table=NOTIFICATION_STATUS_TRANSITIONS, to=status, **changes,
        )
    )


# --- Tasks ----------------------------------------------------------------------------------


UNRESOLVED_TASK = (TaskStatus.OPEN, TaskStatus.IN_PROGRESS)


def task_open(
    *,
    client: Client,
    reason: str,
    window: ReportingWindow | None = None,
    checkin_id: int | None = None,
    consent_record: ConsentRecord | None = None,
    appointment=None,
    priority: int = TaskPriority.NORMAL,
    evidence: dict | None = None,
    now: datetime | None = None,
) -> tuple[InvestigationTask, bool]:
    """Open a task unless one exists for this reason and source. Returns (task, created).

    One open task per problem: when the client already has an open task of this reason, the
    event is added to it as a "further event" note carrying its source (the officer sees it
    on the task page; the task's decision settles it too), and that task is returned.
    Safe under concurrency: the unique constraints decide, not a prior SELECT."""
    now = now or timezone.now()
    source = {"window": window, "checkin_id": checkin_id, "consent_record": consent_record, "appointment": appointment}
    lookup = {key: value for key, value in source.items() if value is not None}
    if len(lookup) != 1:
        raise ValueError("a task has exactly one source: window, checkin_id, consent_record or appointment")
    for _attempt in range(3):
        try:
            with transaction.atomic():
                task = InvestigationTask.objects.create(
                    client=client,
                    region_id=client.region_id,
                    reason=reason,
                    priority=priority,
                    due_by=now + timedelta(hours=settings.REPORTIN_TASK_DUE_HOURS),
                    evidence=evidence or {},
                    created_at=now,
                    **lookup,
                )
        except IntegrityError:
            pass
        else:
            return task, True
        same_source = InvestigationTask.objects.filter(reason=reason, **lookup).first()
        if same_source is not None:
            return same_source, False
        with transaction.atomic():
            # Row lock: an officer resolving the open task at this instant either finishes
            # first (then a new task opens, next attempt) or sees the note.
            open_task = (
                InvestigationTask.objects.select_for_update(of=("self",))
                .filter(client=client, reason=reason, status__in=UNRESOLVED_TASK)
                .first()
            )
            if open_task is not None:
                _task_event_add(open_task, source=lookup, priority=priority, evidence=evidence or {}, now=now)
                return open_task, False
    raise Conflict(_("The task could not be opened; try again."), code="task_open_conflict")


def _task_event_add(task: InvestigationTask, *, source: dict, priority: int, evidence: dict, now: datetime) -> None:
    if "checkin_id" in source:
        text = _("Check-in %(id)d needs review for the same reason.") % {"id": source["checkin_id"]}
    elif "window" in source:
        text = _("The window of %(at)s UTC was missed too.") % {"at": f"{source['window'].opens_at:%Y-%m-%d %H:%M}"}
    elif "appointment" in source:
        text = _("The appointment of %(at)s UTC was missed too.") % {"at": f"{source['appointment'].starts_at:%Y-%m-%d %H:%M}"}
    else:
        text = _("The client said no again (%(decision)s).") % {"decision": source["consent_record"].decision}
    try:
        with transaction.atomic():
            TaskNote.objects.create(task=task, kind=TaskNote.Kind.EVENT, text=text, data=evidence, created_at=now, **source)
    except IntegrityError:
        return  # this event was added already (a re-run, a redelivered message)
    if priority > task.priority:
        InvestigationTask.objects.filter(pk=task.pk).update(priority=priority, updated_at=now)
        task.priority = priority


# --- Triage decisions (officers in admin) -----------------------------------------------------

# Resolutions that answer "is the person in the selfie the client?": only for tasks about a
# check-in. "Escalated" is set by an approved escalation only (four eyes), never directly.
IDENTITY_RESOLUTIONS = frozenset({TaskResolution.IDENTITY_CONFIRMED, TaskResolution.IDENTITY_NOT_CONFIRMED})
# Set by an approved escalation (four eyes) or by merging duplicates, never chosen directly.
OFFICER_EXCLUDED_RESOLUTIONS = frozenset({TaskResolution.ESCALATED, TaskResolution.MERGED})


def _task_lock(task: InvestigationTask) -> InvestigationTask:
    # Row lock: two officers clicking at once decide one after the other, and the second
    # sees the first's decision instead of overwriting it.
    return InvestigationTask.objects.select_for_update(of=("self",)).select_related("client").get(pk=task.pk)


def _require_region(user: User, task: InvestigationTask) -> None:
    if not roles.may_see_region(user, task.client.region_id):
        raise Forbidden(_("This task belongs to another region."), code="other_region")


@transaction.atomic
def task_assign(*, task: InvestigationTask, assignee: User, by: User, now: datetime | None = None) -> InvestigationTask:
    """Assign a task: to oneself ("assign to me"), or to someone else, which is a supervisor's
    reassignment. A task already assigned to another officer is only taken by a supervisor."""
    now = now or timezone.now()
    locked = _task_lock(task)
    _require_region(by, locked)
    reassign = assignee.pk != by.pk or (locked.assignee_id not in (None, by.pk))
    if reassign and not roles.is_supervisor(by):
        raise Forbidden(_("Only a supervisor reassigns tasks."), code="reassign_forbidden")
    if not assignee.is_active or not assignee.is_staff or roles.is_auditor(assignee):
        raise DomainError(_("Tasks go to active officers or supervisors only."), code="invalid_assignee")
    if not roles.may_see_region(assignee, locked.client.region_id):
        raise DomainError(_("This officer works in another region."), code="assignee_other_region")
    previous = locked.assignee
    transition_one(
        InvestigationTask.objects.filter(pk=locked.pk), table=TASK_STATUS_TRANSITIONS, to=TaskStatus.IN_PROGRESS,
        current=locked.status, assignee=assignee, assigned_at=now, updated_at=now,
    )
    locked.assignee, locked.assigned_at, locked.status = assignee, now, TaskStatus.IN_PROGRESS
    audit_record(
        actor=by, action="task.reassign" if reassign else "task.assign", obj=locked, client=locked.client,
        details={"from": previous.get_username() if previous else None, "to": assignee.get_username()}, now=now,
    )
    return locked


@transaction.atomic
def task_blind_answer(*, task: InvestigationTask, officer: User, answer: str, now: datetime | None = None) -> BlindAnswer:
    """Record an officer's first look at a check-in's photos ("same person?"), given before the
    face comparison's figures are shown: once per officer and task, while the task is open."""
    now = now or timezone.now()
    if answer not in SamePerson.values:
        message = _("Say whether it is the same person, or that you can't tell.")
        raise DomainError(message, code="answer_required", fields={"answer": message})
    locked = _task_lock(task)
    _require_region(officer, locked)
    if locked.checkin_id is None:
        raise DomainError(_("Only a task about a check-in has photos to compare."), code="no_photos")
    if locked.status == TaskStatus.RESOLVED:
        raise Conflict(_("This task is resolved."), code="task_resolved")
    try:
        with transaction.atomic():
            row = BlindAnswer.objects.create(task=locked, officer=officer, answer=answer, answered_at=now)
    except IntegrityError:
        raise Conflict(_("You have already given your first look at this task."), code="blind_answer_given") from None
    audit_record(
        actor=officer, action="task.blind_answer", obj=locked, client=locked.client,
        details={"reason": locked.reason, "answer": answer}, now=now,
    )
    return row


# What an officer adds to a task without deciding it (the task page's notes and contact log).
OFFICER_NOTE_KINDS = frozenset({TaskNote.Kind.NOTE, TaskNote.Kind.CONTACT})


@transaction.atomic
def task_note_add(
    *, task: InvestigationTask, author: User, kind: str, text: str, channel: str = "", now: datetime | None = None
) -> TaskNote:
    """Add an officer's note to an open task, or log an attempt to reach the person (`channel`:
    a TaskNote.ContactMethod; `text`: what came of it), without closing the task."""
    now = now or timezone.now()
    text = (text or "").strip()
    if kind not in OFFICER_NOTE_KINDS:
        message = _("Choose a note or a contact attempt.")
        raise DomainError(message, code="invalid_input", fields={"kind": message})
    if kind == TaskNote.Kind.CONTACT and channel not in TaskNote.ContactMethod.values:
        message = _("Say how you tried to reach the person.")
        raise DomainError(message, code="invalid_input", fields={"channel": message})
    if not text:
        message = _("Write the note, or what came of the contact attempt.")
        raise DomainError(message, code="note_required", fields={"text": message})
    if roles.is_auditor(author):
        raise Forbidden(_("Auditors read tasks; they do not add to them."), code="auditor_read_only")
    locked = _task_lock(task)
    _require_region(author, locked)
    if locked.status == TaskStatus.RESOLVED:
        raise Conflict(_("This task is resolved."), code="task_resolved")
    channel = channel if kind == TaskNote.Kind.CONTACT else ""
    note = TaskNote.objects.create(
        task=locked, kind=kind, author=author, text=text, data={"channel": channel} if channel else {}, created_at=now
    )
    audit_record(
        actor=author, action="task.contact_attempt" if channel else "task.note", obj=locked, client=locked.client,
        details={"note_id": note.pk, "channel": channel, "text": text}, now=now,
    )
    return note


@transaction.atomic
def task_close(
    *, task: InvestigationTask, resolution: str, note: str, by: User, now: datetime | None = None
) -> InvestigationTask:
    """Record a person's decision on a task: a resolution and a note saying why, both required.
    Not to be called on its own: reportin.services.task_decide, the one public way to resolve
    a task, calls it and then settles the check-ins the task is about (enforcement cannot see
    check-ins)."""
    now = now or timezone.now()
    note = (note or "").strip()
    if resolution not in TaskResolution.values or resolution in OFFICER_EXCLUDED_RESOLUTIONS:
        message = _("Choose a resolution.")
        raise DomainError(message, code="resolution_required", fields={"resolution": message})
    if not note:
        message = _("Say what you found and why you decided so.")
        raise DomainError(message, code="note_required", fields={"note": message})
    locked = _task_lock(task)
    _require_region(by, locked)
    if resolution in IDENTITY_RESOLUTIONS and locked.checkin_id is None:
        message = _("Identity is confirmed or not for a task about a check-in only.")
        raise DomainError(message, code="resolution_not_applicable", fields={"resolution": message})
    if locked.assignee_id not in (None, by.pk) and not roles.is_supervisor(by):
        raise Forbidden(_("This task is assigned to another officer."), code="assigned_to_another")
    return _task_mark_resolved(locked, resolution=resolution, note=note, by=by, now=now)


def _task_mark_resolved(locked: InvestigationTask, *, resolution: str, note: str, by: User, now: datetime) -> InvestigationTask:
    if locked.assignee_id is None:
        locked.assignee, locked.assigned_at = by, now
    transition_one(
        InvestigationTask.objects.filter(pk=locked.pk), table=TASK_STATUS_TRANSITIONS, to=TaskStatus.RESOLVED, current=locked.status,
        resolution=resolution, resolution_note=note, resolved_by=by, resolved_at=now,
        assignee=locked.assignee, assigned_at=locked.assigned_at, updated_at=now,
    )
    locked.status, locked.resolution, locked.resolution_note = TaskStatus.RESOLVED, resolution, note
    locked.resolved_by, locked.resolved_at = by, now
    audit_record(
        actor=by, action="task.resolve", obj=locked, client=locked.client,
        details={"reason": locked.reason, "resolution": resolution, "note": note}, now=now,
    )
    # Photos kept for this decision after the likeness consent was withdrawn go now.
    reference_photos_withdraw(client=locked.client, actor=by, now=now)
    return locked


@transaction.atomic
def escalation_propose(
    *, task: InvestigationTask, kind: str, reason: str, by: User, now: datetime | None = None
) -> Escalation:
    """Propose an adverse step (e.g. recommend a warrant). Nothing follows until a different
    supervisor signs it off (reportin.services.escalation_decide)."""
    now = now or timezone.now()
    reason = (reason or "").strip()
    if not reason:
        message = _("Say why you recommend this.")
        raise DomainError(message, code="reason_required", fields={"reason": message})
    locked = _task_lock(task)
    _require_region(by, locked)
    if locked.status == TaskStatus.RESOLVED:
        raise Conflict(_("This task is resolved."), code="task_resolved")
    try:
        with transaction.atomic():
            escalation = Escalation.objects.create(
                task=locked, client=locked.client, kind=kind, reason=reason, proposed_by=by, proposed_at=now
            )
    except IntegrityError:
        raise Conflict(_("An escalation of this task already awaits sign-off."), code="escalation_pending") from None
    audit_record(
        actor=by, action="escalation.propose", obj=escalation, client=locked.client,
        details={"task": locked.pk, "kind": kind, "reason": reason}, now=now,
    )
    return escalation


@transaction.atomic
def escalation_sign_off(
    *, escalation: Escalation, approve: bool, note: str, by: User, now: datetime | None = None
) -> Escalation:
    """A supervisor's sign-off (or refusal) of an escalation proposed by someone else. Approval
    resolves the task as escalated; a refusal leaves it open for the officer. Called through
    reportin.services.escalation_decide, which settles the task's check-ins on approval."""
    now = now or timezone.now()
    note = (note or "").strip()
    if not note:
        message = _("Say why.")
        raise DomainError(message, code="note_required", fields={"note": message})
    if not (roles.is_supervisor(by) and by.has_perm("enforcement.approve_escalation")):
        raise Forbidden(_("Only a supervisor signs off escalations."), code="sign_off_forbidden")
    locked = Escalation.objects.select_for_update(of=("self",)).select_related("task", "client").get(pk=escalation.pk)
    if locked.proposed_by_id == by.pk:
        # Four eyes: the database refuses it too (escalation_four_eyes).
        raise Forbidden(_("Another supervisor must sign off an escalation you proposed."), code="four_eyes")
    new = EscalationStatus.APPROVED if approve else EscalationStatus.REJECTED
    transition_one(
        Escalation.objects.filter(pk=locked.pk), table=ESCALATION_STATUS_TRANSITIONS, to=new, current=locked.status,
        decided_by=by, decided_at=now, decision_note=note,
    )
    locked.status, locked.decided_by, locked.decided_at, locked.decision_note = new, by, now, note
    audit_record(
        actor=by, action="escalation.approve" if approve else "escalation.reject", obj=locked, client=locked.client,
        details={"task": locked.task_id, "kind": locked.kind, "note": note, "proposed_by": locked.proposed_by_id}, now=now,
    )
    if approve:
        task = _task_lock(locked.task)
        _task_mark_resolved(
            task, resolution=TaskResolution.ESCALATED,
            note=f"{locked.get_kind_display()}: {locked.reason}\n— {by.get_username()}: {note}", by=by, now=now,
        )
    else:
        TaskNote.objects.create(
            task=locked.task, kind=TaskNote.Kind.SYSTEM, author=by,
            text=f"Escalation not approved by {by.get_username()}: {note}", created_at=now,
        )
    return locked


def biometric_access_record(
    *, viewer: User, client: Client, object_type: str, object_id: int, task: InvestigationTask | None = None,
    ip_address: str | None = None, now: datetime | None = None,
) -> AccessRecord:
    """Who looked at which selfie or reference photo: one record per visit. The same image seen
    again by the same person from the same task (or outside any task) and address within
    REPORTIN_ACCESS_VISIT_MINUTES of the last record written for it is the same visit: nothing
    new is written and that record is returned. Two requests for the same image crossing each
    other may both write (a duplicate, never a view left out)."""
    now = now or timezone.now()
    seen = dict(viewer=viewer, client=client, object_type=object_type, object_id=object_id, task=task, ip_address=ip_address or None)
    minutes = settings.REPORTIN_ACCESS_VISIT_MINUTES
    if minutes:
        window = (now - timedelta(minutes=minutes), now)
        visit = AccessRecord.objects.filter(**seen, viewed_at__range=window).order_by("-viewed_at", "-id").first()
        if visit is not None:
            return visit
    return AccessRecord.objects.create(**seen, viewed_at=now)


@transaction.atomic
def window_reported_not_confirmed(*, window: ReportingWindow, now: datetime | None = None) -> bool:
    """An officer found that the report counted for this window was not the client's: the
    window is missed (it was held as reported while the officer looked)."""
    now = now or timezone.now()
    # Only a reported window: an open one becomes missed through the sweep, with its task.
    return bool(
        transition(
            ReportingWindow.objects.filter(pk=window.pk, status=WindowStatus.REPORTED), table=WINDOW_STATUS_TRANSITIONS,
            to=WindowStatus.MISSED, missed_at=now,
        )
    )
