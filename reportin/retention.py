"""The end of a person's data: what retention deletes and when (purge_expired), and everything
held about a person, gathered for a subject access request (export_client).

Retention deletes images and face encodings first. The rows that describe what happened go
later, each class after its own period (README, "Row retention"): a check-in and its match
figures once its selfie is gone and REPORTIN_RETAIN_CHECKIN_DAYS have passed (never while an
open task needs it), finished notifications to people, messages between the person and the
officers, and biometric access records after the legal
period. Tasks, consent records and audit events stay: they are what an auditor needs to check
a decision years later.
"""

import json
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, models, transaction
from django.db.models import Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from biometrics import faces
from enforcement import crypto
from enforcement.models import (
    AccessRecord,
    ActivationCode,
    Appointment,
    AuditEvent,
    BlindAnswer,
    CaseStatus,
    CircumstanceChange,
    Client,
    ConsentRecord,
    ContactChannel,
    Escalation,
    ExportJob,
    InvestigationTask,
    Message,
    Notice,
    Notification,
    NotificationStatus,
    PhotoStatus,
    RecentReference,
    ReferenceEncoding,
    ReferencePhoto,
    ReportingCondition,
    ReportingWindow,
    TaskNote,
    TaskReason,
    TaskStatus,
)
from enforcement.services import audit_record
from reportin.models import CheckIn, CheckInStatus, Device, FaceMatch, LivenessChallenge, LivenessFrame

# --- Retention ------------------------------------------------------------------------------

SELFIES = "selfies"
REFERENCE_PHOTOS = "reference_photos"
REJECTED_PHOTOS = "rejected_photos"
EXPORTS = "exports"
CHECKIN_ROWS = "checkin_rows"
NOTIFICATIONS = "notifications"
MESSAGES = "messages"
ACCESS_RECORDS = "access_records"
# Images first: a check-in row goes only after its selfie.
DATA_CLASSES = (SELFIES, REFERENCE_PHOTOS, REJECTED_PHOTOS, EXPORTS, CHECKIN_ROWS, NOTIFICATIONS, MESSAGES, ACCESS_RECORDS)
# Deleted a batch per transaction rather than an item per transaction.
ROW_CLASSES = (CHECKIN_ROWS, NOTIFICATIONS, MESSAGES, ACCESS_RECORDS)
SETTLED = (CheckInStatus.VERIFIED, CheckInStatus.REJECTED, CheckInStatus.REVIEWED)
FINISHED_MESSAGES = (NotificationStatus.SENT, NotificationStatus.DELIVERED, NotificationStatus.FAILED, NotificationStatus.CANCELLED)


def _open_tasks():
    return InvestigationTask.objects.exclude(status=TaskStatus.RESOLVED)


def selfies_due(*, now: datetime):
    """Check-ins whose selfie has outlived REPORTIN_RETAIN_SELFIE_DAYS since the check-in was
    settled (verified, rejected or reviewed: its last change), and that no open task needs: not the
    check-in of an open task, not a check-in in the window of an open task, and no selfie of a
    client with an open possible-replay task (any earlier selfie may be the evidence)."""
    cutoff = now - timedelta(days=settings.REPORTIN_RETAIN_SELFIE_DAYS)
    open_tasks = _open_tasks()
    return (
        CheckIn.objects.filter(status__in=[CheckInStatus.VERIFIED, CheckInStatus.REJECTED, CheckInStatus.REVIEWED], updated_at__lt=cutoff)
        .exclude(selfie="")
        .exclude(pk__in=open_tasks.filter(checkin_id__isnull=False).values("checkin_id"))
        .exclude(window_id__in=open_tasks.filter(window__isnull=False).values("window_id"))
        .exclude(client_id__in=open_tasks.filter(reason=TaskReason.POSSIBLE_REPLAY).values("client_id"))
    )


def reference_photos_due(*, now: datetime):
    """Reference photos (image and encoding) of cases closed more than
    REPORTIN_RETAIN_REFERENCE_DAYS ago, when the client has no open task."""
    cutoff = now - timedelta(days=settings.REPORTIN_RETAIN_REFERENCE_DAYS)
    return (
        ReferencePhoto.objects.exclude(status=PhotoStatus.PURGED)
        .filter(client__case_status=CaseStatus.CLOSED, client__case_closed_at__lt=cutoff)
        .exclude(client_id__in=_open_tasks().values("client_id"))
    )


def rejected_photos_due(*, now: datetime):
    """Rejected reference photos uploaded more than REPORTIN_RETAIN_REJECTED_PHOTO_DAYS ago."""
    cutoff = now - timedelta(days=settings.REPORTIN_RETAIN_REJECTED_PHOTO_DAYS)
    return ReferencePhoto.objects.filter(status=PhotoStatus.REJECTED, created_at__lt=cutoff)


def exports_due(*, now: datetime):
    """Files of auditors' background CSV exports written more than REPORTIN_RETAIN_EXPORT_DAYS ago."""
    cutoff = now - timedelta(days=settings.REPORTIN_RETAIN_EXPORT_DAYS)
    return ExportJob.objects.exclude(file="").filter(created_at__lt=cutoff)


def checkin_rows_due(*, now: datetime):
    """Check-ins settled more than REPORTIN_RETAIN_CHECKIN_DAYS ago whose selfie (and liveness
    frames) are already deleted and that no open task needs (as for selfies: the check-in of an
    open task, or one in the window of an open task). Their match figures go with them."""
    cutoff = now - timedelta(days=settings.REPORTIN_RETAIN_CHECKIN_DAYS)
    open_tasks = _open_tasks()
    return (
        CheckIn.objects.filter(status__in=SETTLED, updated_at__lt=cutoff, selfie="")
        .exclude(pk__in=LivenessFrame.objects.exclude(image="").values("checkin_id"))
        .exclude(pk__in=open_tasks.filter(checkin_id__isnull=False).values("checkin_id"))
        .exclude(window_id__in=open_tasks.filter(window__isnull=False).values("window_id"))
    )


def notifications_due(*, now: datetime):
    """Messages to people that are done (sent, delivered, failed or cancelled), created more
    than REPORTIN_RETAIN_NOTIFICATION_DAYS ago."""
    cutoff = now - timedelta(days=settings.REPORTIN_RETAIN_NOTIFICATION_DAYS)
    return Notification.objects.filter(status__in=FINISHED_MESSAGES, created_at__lt=cutoff)


def messages_due(*, now: datetime):
    """Messages between the person and the officers (with their attachments) written more than
    REPORTIN_RETAIN_MESSAGE_DAYS ago, unless an open task needs them: the task the message went
    to, or an open task about the same check-in or missed window."""
    cutoff = now - timedelta(days=settings.REPORTIN_RETAIN_MESSAGE_DAYS)
    open_tasks = _open_tasks()
    return (
        Message.objects.filter(created_at__lt=cutoff)
        .exclude(task_id__in=open_tasks.values("pk"))
        .exclude(checkin_id__in=open_tasks.filter(checkin_id__isnull=False).values("checkin_id"))
        .exclude(window_id__in=open_tasks.filter(window__isnull=False).values("window_id"))
    )


def access_records_due(*, now: datetime):
    """Biometric access records older than the legal period (REPORTIN_RETAIN_ACCESS_RECORD_DAYS)."""
    return AccessRecord.objects.filter(viewed_at__lt=now - timedelta(days=settings.REPORTIN_RETAIN_ACCESS_RECORD_DAYS))


DUE = {
    SELFIES: selfies_due,
    REFERENCE_PHOTOS: reference_photos_due,
    REJECTED_PHOTOS: rejected_photos_due,
    EXPORTS: exports_due,
    CHECKIN_ROWS: checkin_rows_due,
    NOTIFICATIONS: notifications_due,
    MESSAGES: messages_due,
    ACCESS_RECORDS: access_records_due,
}


def purge_plan(*, now: datetime, limit: int | None = None) -> dict[str, list[int]]:
    """The ids due for deletion in each data class (at most `limit` of each, oldest ids first)."""
    return {
        data_class: list(due(now=now).order_by("pk").values_list("pk", flat=True)[:limit])
        for data_class, due in DUE.items()
    }


def _append_only_delete(sql_function: str, params: list, *, sqlite_delete) -> None:
    """Delete rows of an append-only table through the one path its trigger allows (reportin
    migration 0010): a SECURITY DEFINER function on PostgreSQL, which applies its own rule
    again; on SQLite (development) the flag its triggers honour, for this transaction only."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT {sql_function}", params)
        return
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("INSERT OR IGNORE INTO append_only_flush (id) VALUES (1)")
        sqlite_delete()
        cursor.execute("DELETE FROM append_only_flush")


def _checkin_rows_purge(ids: list[int], *, now: datetime) -> list[int]:
    with transaction.atomic():
        ids = list(checkin_rows_due(now=now).select_for_update().filter(pk__in=ids).order_by("pk").values_list("pk", flat=True))
        if not ids:
            return []
        _append_only_delete(
            "reportin_retention_delete_facematches(%s::bigint[])", [ids],
            sqlite_delete=lambda: FaceMatch.objects.filter(checkin_id__in=ids, checkin__selfie="")._raw_delete(connection.alias),
        )
        LivenessFrame.objects.filter(checkin_id__in=ids).delete()
        CheckIn.objects.filter(pk__in=ids).delete()
    return ids


def _notifications_purge(ids: list[int], *, now: datetime) -> list[int]:
    with transaction.atomic():
        ids = list(notifications_due(now=now).select_for_update().filter(pk__in=ids).order_by("pk").values_list("pk", flat=True))
        Notification.objects.filter(pk__in=ids).delete()
    return ids


def _messages_purge(ids: list[int], *, now: datetime) -> list[int]:
    """Messages are written once (enforcement 0025): the database lets them go only through
    its retention path (reportin 0012), which applies the age rule again. Attachment files are
    deleted once the rows are."""
    before = now - timedelta(days=settings.REPORTIN_RETAIN_MESSAGE_DAYS)
    with transaction.atomic():
        due = messages_due(now=now).select_for_update().filter(pk__in=ids).order_by("pk")
        rows = list(due.values_list("pk", "attachment"))
        ids = [pk for pk, _ in rows]
        if ids:
            _append_only_delete(
                "reportin_retention_delete_messages(%s::bigint[], %s)", [ids, before],
                sqlite_delete=lambda: Message.objects.filter(pk__in=ids, created_at__lt=before)._raw_delete(connection.alias),
            )
            storage = Message._meta.get_field("attachment").storage
            for name in [name for _, name in rows if name]:
                transaction.on_commit(lambda name=name: storage.delete(name))
    return ids


def _access_records_purge(ids: list[int], *, now: datetime) -> list[int]:
    before = now - timedelta(days=settings.REPORTIN_RETAIN_ACCESS_RECORD_DAYS)
    with transaction.atomic():
        ids = list(access_records_due(now=now).filter(pk__in=ids).order_by("pk").values_list("pk", flat=True))
        if ids:
            _append_only_delete(
                "reportin_retention_delete_accessrecords(%s::bigint[], %s)", [ids, before],
                sqlite_delete=lambda: AccessRecord.objects.filter(pk__in=ids, viewed_at__lt=before)._raw_delete(connection.alias),
            )
    return ids


ROW_BATCH = 500  # rows deleted per transaction


@dataclass
class PurgeResult:
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(DATA_CLASSES, 0))


def _delete_file_after_commit(file_field) -> None:
    """Delete the stored file once the row no longer points to it: a crash in between leaves
    an unreadable orphan file, never a row pointing to nothing."""
    name, storage = file_field.name, file_field.storage
    if name:
        transaction.on_commit(lambda: storage.delete(name))


def _selfie_purge(pk: int, *, now: datetime) -> bool:
    with transaction.atomic():
        checkin = selfies_due(now=now).select_for_update().filter(pk=pk).first()
        if checkin is None:  # settled again, or an open task appeared since the plan was made
            return False
        _delete_file_after_commit(checkin.selfie)
        CheckIn.objects.filter(pk=pk).update(selfie="")
        # A liveness check-in's frames are pictures of the person like its selfie: they go with it.
        for frame in LivenessFrame.objects.filter(checkin_id=pk).exclude(image=""):
            _delete_file_after_commit(frame.image)
        LivenessFrame.objects.filter(checkin_id=pk).update(image="")
        return True


def _photo_purge(pk: int, *, due, recent_too: bool = False) -> bool:
    """Purge one reference photo; with `recent_too` (a closed case's photos), also the face
    encodings of the client's recent references (selfie encodings kept as references), which
    are biometric data of the same kind and fall under the same rule."""
    with transaction.atomic():
        photo = due.select_for_update().filter(pk=pk).first()
        if photo is None:
            return False
        now = timezone.now()
        _delete_file_after_commit(photo.image)
        ReferencePhoto.objects.filter(pk=pk).update(image="", encoding=None, status=PhotoStatus.PURGED, active=False, updated_at=now)
        ReferenceEncoding.objects.filter(photo_id=pk).delete()  # the same photo encoded by other models
        if recent_too:
            RecentReference.objects.filter(client_id=photo.client_id).exclude(encoding=b"").update(
                encoding=b"", active=False, retired_at=Coalesce("retired_at", Value(now))
            )
        return True


def _export_purge(pk: int, *, now: datetime) -> bool:
    with transaction.atomic():
        job = exports_due(now=now).select_for_update().filter(pk=pk).first()
        if job is None:
            return False
        _delete_file_after_commit(job.file)
        ExportJob.objects.filter(pk=pk).update(file="")
        return True


def purge_expired(*, now: datetime | None = None, plan: dict[str, list[int]] | None = None, progress=None) -> PurgeResult:
    """Delete what the retention rules say is due, one item per transaction (each re-checked
    under a row lock), and record one audit event per data class with the ids deleted.
    `progress(advance)` is called after each item."""
    now = now or timezone.now()
    plan = plan if plan is not None else purge_plan(now=now)
    result = PurgeResult()
    purgers = {
        SELFIES: lambda pk: _selfie_purge(pk, now=now),
        REFERENCE_PHOTOS: lambda pk: _photo_purge(pk, due=reference_photos_due(now=now), recent_too=True),
        REJECTED_PHOTOS: lambda pk: _photo_purge(pk, due=rejected_photos_due(now=now)),
        EXPORTS: lambda pk: _export_purge(pk, now=now),
    }
    days = {
        SELFIES: settings.REPORTIN_RETAIN_SELFIE_DAYS,
        REFERENCE_PHOTOS: settings.REPORTIN_RETAIN_REFERENCE_DAYS,
        REJECTED_PHOTOS: settings.REPORTIN_RETAIN_REJECTED_PHOTO_DAYS,
        EXPORTS: settings.REPORTIN_RETAIN_EXPORT_DAYS,
    }
    batch_purgers = {
        CHECKIN_ROWS: lambda ids: _checkin_rows_purge(ids, now=now),
        NOTIFICATIONS: lambda ids: _notifications_purge(ids, now=now),
        MESSAGES: lambda ids: _messages_purge(ids, now=now),
        ACCESS_RECORDS: lambda ids: _access_records_purge(ids, now=now),
    }
    days.update({
        CHECKIN_ROWS: settings.REPORTIN_RETAIN_CHECKIN_DAYS,
        NOTIFICATIONS: settings.REPORTIN_RETAIN_NOTIFICATION_DAYS,
        MESSAGES: settings.REPORTIN_RETAIN_MESSAGE_DAYS,
        ACCESS_RECORDS: settings.REPORTIN_RETAIN_ACCESS_RECORD_DAYS,
    })
    for data_class in DATA_CLASSES:
        deleted = []
        ids = plan.get(data_class, [])
        if data_class in ROW_CLASSES:
            for start in range(0, len(ids), ROW_BATCH):
                deleted += batch_purgers[data_class](ids[start:start + ROW_BATCH])
                if progress:
                    progress(len(ids[start:start + ROW_BATCH]))
            ids = []
        for pk in ids:
            if purgers[data_class](pk):
                deleted.append(pk)
            if progress:
                progress(1)
        result.counts[data_class] = len(deleted)
        if deleted:
            audit_record(
                actor=None,
                actor_label="retention",
                action="retention.purge",
                details={"data_class": data_class, "retention_days": days[data_class], "count": len(deleted), "ids": deleted},
                now=now,
            )
    return result


# --- Subject access -------------------------------------------------------------------------

# Secrets that are not the person's data and would only help an attacker.
EXPORT_EXCLUDED_FIELDS = {"token_hash", "code_hash", "request_fingerprint", "prev_hash", "hash"}


def _row(instance: models.Model) -> dict:
    data = {}
    for model_field in instance._meta.concrete_fields:
        if model_field.attname in EXPORT_EXCLUDED_FIELDS:
            continue
        value = getattr(instance, model_field.attname)
        if isinstance(model_field, models.FileField):
            value = value.name or None
        elif isinstance(model_field, models.BinaryField):
            value = None  # encodings are exported decoded, below
        data[model_field.attname] = value
    return data


def client_records(client: Client) -> dict[str, models.QuerySet]:
    """Every record held about the client, by model label. Rows of other people are never in
    these querysets: each filters on this client directly or through its parent row."""
    checkins = CheckIn.objects.filter(client=client)
    tasks = InvestigationTask.objects.filter(client=client)
    querysets = [
        Client.objects.filter(pk=client.pk),
        ReportingCondition.objects.filter(client=client),
        ReportingWindow.objects.filter(client=client),
        ReferencePhoto.objects.filter(client=client),
        ReferenceEncoding.objects.filter(photo__client=client),
        RecentReference.objects.filter(client=client),
        ConsentRecord.objects.filter(client=client),
        CircumstanceChange.objects.filter(client=client),
        ActivationCode.objects.filter(client=client),
        Notification.objects.filter(client=client),
        Notice.objects.filter(client=client),
        Message.objects.filter(client=client),
        Appointment.objects.filter(client=client),
        ContactChannel.objects.filter(client=client),
        tasks,
        TaskNote.objects.filter(task__in=tasks),
        BlindAnswer.objects.filter(task__in=tasks),
        Escalation.objects.filter(client=client),
        AccessRecord.objects.filter(client=client),
        AuditEvent.objects.filter(client=client),
        Device.objects.filter(client=client),
        checkins,
        FaceMatch.objects.filter(checkin__in=checkins),
        LivenessChallenge.objects.filter(client=client),
        LivenessFrame.objects.filter(checkin__in=checkins),
    ]
    return {qs.model._meta.label_lower: qs.order_by("pk") for qs in querysets}


def _encoding_list(photo: ReferencePhoto | RecentReference) -> list[float] | None:
    if not photo.encoding:
        return None
    return [round(float(x), 6) for x in faces.encoding_from_bytes(crypto.decrypt_for(photo, photo.encoding))]


def client_export(*, client: Client, out, exported_by: str) -> dict[str, int]:
    """Write a zip of everything held about the client to the binary file `out`: `data.json`
    (every record, by model) and the images, decrypted (`selfies/<check-in id>.jpg`,
    `reference_photos/<photo id>.jpg`). Audited. Returns the number of records per model."""
    records = client_records(client)
    counts: dict[str, int] = {}
    data: dict[str, list[dict]] = {}
    images: list[tuple[str, object]] = []
    for label, queryset in records.items():
        rows = []
        for instance in queryset.iterator(chunk_size=500):
            row = _row(instance)
            if isinstance(instance, (RecentReference, ReferenceEncoding)):
                row["encoding"] = _encoding_list(instance)
            if isinstance(instance, ReferencePhoto):
                row["encoding"] = _encoding_list(instance)
                if instance.image:
                    row["image_file"] = f"reference_photos/{instance.pk}.jpg"
                    images.append((row["image_file"], instance.image))
            elif isinstance(instance, CheckIn) and instance.selfie:
                row["selfie_file"] = f"selfies/{instance.pk}.jpg"
                images.append((row["selfie_file"], instance.selfie))
            elif isinstance(instance, LivenessFrame) and instance.image:
                row["image_file"] = f"liveness_frames/{instance.pk}.jpg"
                images.append((row["image_file"], instance.image))
            elif isinstance(instance, Message) and instance.attachment:
                row["attachment_file"] = f"messages/{instance.pk}.{'pdf' if instance.attachment_kind == 'pdf' else 'jpg'}"
                images.append((row["attachment_file"], instance.attachment))
            rows.append(row)
        data[label] = rows
        counts[label] = len(rows)

    document = {
        "format": "reportin-subject-access/1",
        "generated_at": timezone.now(),
        "uci": client.uci,
        "note": "Everything ReportIn holds about this person. Images are decrypted copies.",
        "counts": counts,
        "records": data,
    }
    missing = []
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("data.json", json.dumps(document, cls=DjangoJSONEncoder, indent=2, ensure_ascii=False))
        for name, file_field in images:
            try:
                with file_field.open("rb") as handle:
                    archive.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), handle.read())
            except (FileNotFoundError, crypto.DecryptionError):
                missing.append(name)
        if missing:
            archive.writestr("missing.txt", "Files recorded but not readable:\n" + "\n".join(missing) + "\n")
    audit_record(
        actor=None,
        actor_label=exported_by,
        action="client.export",
        obj=client,
        client=client,
        details={"counts": counts, "images": len(images) - len(missing), "missing_images": missing},
    )
    return counts

