"""Messages between the person and the officers of their case (issue 18.4): the services that
write them, and the person's answer to a notice (explain a missed window, contest a result),
which opens or updates a task with their words.

Written once, then only marked read. Every message writes an audit event with ids and
lengths, never its words. An officer's message tells the person through a notice on their
channels that a message is waiting; the words stay in the app.
"""

from datetime import datetime

from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from biometrics import images
from enforcement import roles
from enforcement.errors import DomainError, Forbidden, NotFound
from enforcement.models import (
    AttachmentKind,
    Client,
    InvestigationTask,
    Message,
    MessageDirection,
    Notice,
    NoticeKind,
    ReportingWindow,
    TaskNote,
    TaskReason,
    User,
    WindowStatus,
)
from enforcement.services import UNRESOLVED_TASK, audit_record, image_check, image_stored_copy, notice_post, task_open

MAX_BODY_CHARS = 2000
# A PDF is kept as sent (a letter, a doctor's note): a few pages, not a book.
PDF_MAX_BYTES = 5 * 1024 * 1024
# `about` names what a person's message answers: "notice:41", "window:77" or "check_in:5012".
ABOUT_KINDS = ("notice", "window", "check_in")


def _invalid(field: str, message: str, *, code: str = "invalid_input", status: int = 400) -> DomainError:
    return DomainError(message if code != "invalid_input" else _("Some fields are missing or not valid."),
                       code=code, status=status, fields={field: message})


def _clean_body(body: str) -> str:
    body = (body or "").strip()
    if not body:
        raise _invalid("body", _("Write a message."))
    if len(body) > MAX_BODY_CHARS:
        raise _invalid("body", _("A message has at most %(n)d characters.") % {"n": MAX_BODY_CHARS})
    if "\x00" in body:
        raise _invalid("body", _("The message holds characters that cannot be kept."))
    return body


def attachment_clean(data: bytes) -> tuple[str, bytes]:
    """(kind, the bytes to keep) of an attachment: a photo through the same header checks as a
    selfie, kept as the selfie's stored copy (an upright JPEG without its metadata segments;
    any other photo decoded once and saved as such a JPEG); or a PDF, checked by its header,
    end marker and size, kept as sent. Anything else is refused (415)."""
    if not data:
        raise _invalid("attachment", _("The file is empty."), code="empty_file")
    if data.startswith(b"%PDF-"):
        if len(data) > PDF_MAX_BYTES:
            message = _("A PDF is at most %(mb)d MB.") % {"mb": PDF_MAX_BYTES // (1024 * 1024)}
            raise _invalid("attachment", message, code="attachment_too_large", status=413)
        if b"%%EOF" not in data[-1024:]:
            raise _invalid("attachment", _("The PDF is incomplete or damaged."), code="invalid_pdf")
        return AttachmentKind.PDF, data
    if images.sniff_format(data) is None:
        raise _invalid("attachment", _("Attach a photo (JPEG, PNG, HEIC or WEBP) or a PDF."), code="unsupported_attachment", status=415)
    info = image_check(data, field="attachment")
    return AttachmentKind.PHOTO, image_stored_copy(data, info, field="attachment")


def _store(message: Message, attachment: tuple[str, bytes] | None) -> Message:
    """Insert the row and, sealed to it, its attachment, in the caller's transaction."""
    if attachment is not None:
        message.attachment_kind, data = attachment
        message.attachment_size = len(data)
        message.attachment.reserve("message")
    message.save()
    if attachment is not None:
        try:
            message.attachment.write(ContentFile(data))
        except BaseException:
            message.attachment.delete(save=False)
            raise
    return message


def _details(message: Message) -> dict:
    details = {"direction": message.direction, "length": len(message.body), "attachment": message.attachment_kind or None}
    if message.attachment_size:
        details["attachment_bytes"] = message.attachment_size
    for name in ("notice_id", "window_id", "checkin_id", "task_id"):
        if getattr(message, name) is not None:
            details[name] = getattr(message, name)
    return details


# --- The person ------------------------------------------------------------------------------


def about_resolve(*, client: Client, about: str) -> tuple[Notice | None, ReportingWindow | None, int | None]:
    """(notice, window, check-in id) that `about` names, for this client only: a notice about a
    window or a check-in, a missed window, or a check-in the person was told about. Anything
    else, another person's included, is the same 400 (no id is confirmed to exist)."""
    kind, _sep, number = (about or "").partition(":")
    if kind not in ABOUT_KINDS or not number.isdigit() or len(number) > 18:
        raise _invalid("about", _("Name what you answer as notice:<id>, window:<id> or check_in:<id>."), code="invalid_about")
    pk = int(number)
    unknown = _invalid("about", _("There is nothing of yours with this reference to answer."), code="invalid_about")
    if kind == "notice":
        notice = Notice.objects.filter(client=client, pk=pk).select_related("window").first()
        if notice is None or (notice.window_id is None and notice.checkin_id is None):
            raise unknown
        return notice, notice.window, notice.checkin_id
    if kind == "window":
        window = ReportingWindow.objects.filter(client=client, pk=pk).first()
        if window is None:
            raise unknown
        if window.status != WindowStatus.MISSED:
            raise _invalid("about", _("Only a missed window can be explained."), code="invalid_about")
        return None, window, None
    # A check-in the person was told about (kept, under review, decided): enforcement knows
    # check-ins only through what it recorded about them.
    if not Notice.objects.filter(client=client, checkin_id=pk).exists():
        raise unknown
    return None, None, pk


def _answer_task(*, client: Client, window: ReportingWindow | None, checkin_id: int | None, now: datetime) -> InvestigationTask:
    """The task that takes the person's words: the unresolved task about this window or
    check-in (its own, or one it was added to as a further event); else a task "the person
    explains or contests" about it, through task_open: a new one, or the person's open one
    with this window or check-in added as a further event (so that its decision, "excused"
    say, settles it too)."""
    source = {"window": window} if window is not None else {"checkin_id": checkin_id}
    unresolved = InvestigationTask.objects.filter(client=client, status__in=UNRESOLVED_TASK)
    task = (
        unresolved.filter(**source).order_by("created_at").first()
        or unresolved.filter(**{f"notes__{key}": value for key, value in source.items()}, notes__kind=TaskNote.Kind.EVENT).first()
    )
    if task is None:
        task, _created = task_open(client=client, reason=TaskReason.PERSON_ANSWER, now=now, **source)
    return task


def message_send_by_person(
    *, client: Client, device_id: int | None, body: str, attachment: bytes | None = None, about: str | None = None,
    now: datetime | None = None,
) -> Message:
    """The person writes to their officers from the app. With `about` (a notice, a missed window
    or a check-in of theirs) it explains or contests, and their words go to a task."""
    now = now or timezone.now()
    body = _clean_body(body)
    notice = window = checkin_id = None
    if about:
        notice, window, checkin_id = about_resolve(client=client, about=about)
    cleaned = attachment_clean(attachment) if attachment is not None else None
    with transaction.atomic():
        task = None
        if window is not None or checkin_id is not None:
            task = _answer_task(client=client, window=window, checkin_id=checkin_id, now=now)
        message = _store(
            Message(client=client, direction=MessageDirection.TO_OFFICER, body=body, device_id=device_id, notice=notice,
                    window=window, checkin_id=checkin_id, task=task, created_at=now),
            cleaned,
        )
        if task is not None:
            TaskNote.objects.create(
                task=task, kind=TaskNote.Kind.PERSON, text=body, data={"message_id": message.pk}, created_at=now,
                window=window, checkin_id=checkin_id,
            )
        audit_record(
            actor=None, actor_label=f"client {client.uci}", action="message.send", obj=message, client=client,
            details={**_details(message), "device_id": device_id}, now=now,
        )
    return message


# --- Officers --------------------------------------------------------------------------------


def message_send_by_officer(
    *, client: Client, officer: User, body: str, attachment: bytes | None = None, task: InvestigationTask | None = None,
    now: datetime | None = None,
) -> Message:
    """An officer of the client's region (or a supervisor) writes to the person; the person is
    told on their channels that a message is waiting (a notice, without the words)."""
    now = now or timezone.now()
    if not roles.may_see_region(officer, client.region_id) or roles.is_auditor(officer):
        raise Forbidden(_("This client belongs to another region."), code="other_region")
    if task is not None and task.client_id != client.pk:
        raise _invalid("task", _("This task is about another client."))
    body = _clean_body(body)
    cleaned = attachment_clean(attachment) if attachment is not None else None
    with transaction.atomic():
        message = _store(
            Message(client=client, direction=MessageDirection.TO_PERSON, body=body, author=officer, task=task, created_at=now),
            cleaned,
        )
        notice_post(client=client, kind=NoticeKind.MESSAGE, details={"message_id": message.pk}, now=now)
        audit_record(actor=officer, action="message.send", obj=message, client=client, details=_details(message), now=now)
    return message


# --- Read marks ------------------------------------------------------------------------------


def message_mark_read(*, client: Client, message_id: int, reader: User | None = None, now: datetime | None = None) -> Message:
    """A message is read by the side it was written to: the person (`reader` None) reads the
    officers' messages, an officer of the region the person's. Marked once; the notice that
    announced an officer's message leaves the person's home screen with it."""
    now = now or timezone.now()
    if reader is not None and not roles.may_see_region(reader, client.region_id):
        raise Forbidden(_("This client belongs to another region."), code="other_region")
    direction = MessageDirection.TO_PERSON if reader is None else MessageDirection.TO_OFFICER
    message = Message.objects.filter(client=client, pk=message_id, direction=direction).first()
    if message is None:
        raise NotFound(code="message_not_found")
    if message.read_at is not None:
        return message
    with transaction.atomic():
        # Conditional: two phones (or officers) reading at once mark it, and audit it, once.
        if Message.objects.filter(pk=message.pk, read_at__isnull=True).update(read_at=now):
            if reader is None:
                Notice.objects.filter(client=client, kind=NoticeKind.MESSAGE, details__message_id=message.pk, read_at__isnull=True).update(read_at=now)
            audit_record(
                actor=reader, actor_label=None if reader is not None else f"client {client.uci}", action="message.read",
                obj=message, client=client, details={"direction": message.direction}, now=now,
            )
    message.refresh_from_db(fields=["read_at"])
    return message


def unread_count(*, client: Client, direction: str) -> int:
    return Message.objects.filter(client=client, direction=direction, read_at__isnull=True).count()
