"""Requests and appointments (issue 18.5): the services behind the client page's actions and
the person's list in the app.

An officer requests an ad-hoc check-in: a one-off reporting window of a chosen length,
opening at once, with no grace period. It is a ReportingWindow without a condition, so the
minute sweep treats it as any other window: missed at its close, with a missed_report task
and a notice to the person.

An appointment (interview, hearing, removal-related meeting, in-person report) has a place,
a time and what to bring; reminders are queued in the outbox 7 days, 1 day and 2 hours
before (those still ahead), on the person's channels. The officer records what happened;
a missed appointment opens a task. An in-person report is recorded attended at once, so that
a person who reports in person has a history that shows it.
"""

from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from enforcement import roles
from enforcement.compliance import OPEN_CASES
from enforcement.errors import DomainError, Forbidden, InvalidTransition
from enforcement.models import (
    APPOINTMENT_STATUS_TRANSITIONS,
    NOTIFICATION_STATUS_TRANSITIONS,
    Appointment,
    AppointmentKind,
    AppointmentStatus,
    CaseStatus,
    Client,
    NoticeKind,
    Notification,
    NotificationKind,
    NotificationStatus,
    Office,
    ReportingWindow,
    TaskReason,
    User,
)
from enforcement.services import _notice_channels, audit_record, notice_post, task_open
from enforcement.transitions import sources_of, transition, transition_one

REQUEST_MINUTES_MIN = 30
REQUEST_MINUTES_MAX = 24 * 60
REMINDERS_BEFORE = (timedelta(days=7), timedelta(days=1), timedelta(hours=2))
# What an officer records after the appointment; "rescheduled" goes through appointment_reschedule.
OUTCOMES = (AppointmentStatus.ATTENDED, AppointmentStatus.MISSED, AppointmentStatus.CANCELLED)


def _invalid(field: str, message: str, code: str = "invalid_input") -> DomainError:
    return DomainError(message, code=code, fields={field: message})


def _require_officer_of(officer: User, client: Client) -> None:
    if not roles.may_see_region(officer, client.region_id) or roles.is_auditor(officer):
        raise Forbidden(_("This client belongs to another region."), code="other_region")


def _require_open_case(client: Client) -> None:
    if client.case_status not in OPEN_CASES:
        raise DomainError(_("This case is closed."), code="case_closed", status=409)


# --- Ad-hoc check-in requests ---------------------------------------------------------------


def checkin_request(*, client: Client, officer: User, minutes: int, now: datetime | None = None) -> ReportingWindow:
    """An officer asks the person to check in now: a window opening at once and closing after
    `minutes` (30 minutes to 24 hours), without grace. The person is told at once, on their
    channels and on the app's home screen."""
    now = now or timezone.now()
    _require_officer_of(officer, client)
    _require_open_case(client)
    if not isinstance(minutes, int) or not REQUEST_MINUTES_MIN <= minutes <= REQUEST_MINUTES_MAX:
        raise _invalid(
            "minutes", _("Choose a length from %(min)d minutes to %(max)d hours.") % {"min": REQUEST_MINUTES_MIN, "max": REQUEST_MINUTES_MAX // 60}
        )
    closes_at = now + timedelta(minutes=minutes)
    with transaction.atomic():
        window = ReportingWindow.objects.create(
            client=client, condition=None, requested_by=officer, opens_at=now, closes_at=closes_at, deadline_at=closes_at, created_at=now
        )
        notice_post(client=client, kind=NoticeKind.CHECKIN_REQUESTED, window=window, details={"closes_at": closes_at.isoformat()}, now=now)
        audit_record(
            actor=officer, action="window.request", obj=window, client=client,
            details={"minutes": minutes, "closes_at": closes_at.isoformat()}, now=now,
        )
    return window


# --- Appointments ---------------------------------------------------------------------------


def _place(*, client: Client, office: Office | None, place: str) -> tuple[Office | None, str]:
    place = (place or "").strip()
    if office is not None and office.region_id != client.region_id:
        raise _invalid("office", _("Choose an office of the client's region."))
    if office is None and not place:
        raise _invalid("place", _("Choose an office or say where the appointment is."))
    return office, place


def _details(appointment: Appointment, change: str) -> dict:
    """What a notice about the appointment says (notifications.notice_text): nothing to read again."""
    return {"appointment_id": appointment.pk, "change": change, "kind": appointment.kind, "starts_at": appointment.starts_at.isoformat()}


def _reminders_queue(appointment: Appointment, *, now: datetime) -> int:
    """The layered reminders still ahead, one per channel the person chose (or email)."""
    channels = _notice_channels(appointment.client)
    rows = [
        Notification(
            client=appointment.client, appointment=appointment, kind=NotificationKind.APPOINTMENT_REMINDER, channel=channel,
            send_after=appointment.starts_at - before,
        )
        for before in REMINDERS_BEFORE
        if appointment.starts_at - before > now
        for channel in channels
    ]
    Notification.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)


def _reminders_cancel(appointment: Appointment) -> None:
    transition(
        Notification.objects.filter(appointment=appointment, status=NotificationStatus.PENDING),
        table=NOTIFICATION_STATUS_TRANSITIONS, to=NotificationStatus.CANCELLED, last_error="the appointment changed",
    )


def _create(
    *, client: Client, officer: User, kind: str, starts_at: datetime, office: Office | None, place: str, bring: str, now: datetime,
    **outcome,
) -> Appointment:
    if kind not in AppointmentKind.values:
        raise _invalid("kind", _("Unknown kind of appointment."))
    if starts_at is None or timezone.is_naive(starts_at):
        raise _invalid("starts_at", _("Give the time of the appointment."))
    office, place = _place(client=client, office=office, place=place)
    return Appointment.objects.create(
        client=client, kind=kind, office=office, place=place, starts_at=starts_at, bring=(bring or "").strip(),
        scheduled_by=officer, created_at=now, **outcome,
    )


def appointment_schedule(
    *, client: Client, officer: User, kind: str, starts_at: datetime, office: Office | None = None, place: str = "",
    bring: str = "", now: datetime | None = None,
) -> Appointment:
    """An officer sets an appointment in the future; the person is told at once and reminded
    7 days, 1 day and 2 hours before."""
    now = now or timezone.now()
    _require_officer_of(officer, client)
    _require_open_case(client)
    if starts_at is not None and not timezone.is_naive(starts_at) and starts_at <= now:
        raise _invalid("starts_at", _("An appointment is set in the future; record a past in-person report as attended."))
    with transaction.atomic():
        appointment = _create(client=client, officer=officer, kind=kind, starts_at=starts_at, office=office, place=place, bring=bring, now=now)
        _reminders_queue(appointment, now=now)
        notice_post(client=client, kind=NoticeKind.APPOINTMENT, appointment=appointment, details=_details(appointment, "scheduled"), now=now)
        audit_record(actor=officer, action="appointment.schedule", obj=appointment, client=client, details=_audit(appointment), now=now)
    return appointment


def _audit(appointment: Appointment) -> dict:
    return {
        "kind": appointment.kind, "starts_at": appointment.starts_at.isoformat(), "office_id": appointment.office_id,
        "place": appointment.place, "status": appointment.status,
    }


def _lock(appointment: Appointment) -> Appointment:
    # Row lock: two officers recording at once decide one after the other; the second gets a 409.
    return Appointment.objects.select_for_update(of=("self",)).select_related("client").get(pk=appointment.pk)


def appointment_record(
    *, appointment: Appointment, officer: User, outcome: str, reason: str = "", now: datetime | None = None
) -> Appointment:
    """The officer records what happened: attended, missed (a task opens) or cancelled (with
    the reason; the person is told). Pending reminders are cancelled."""
    now = now or timezone.now()
    if outcome not in OUTCOMES:
        raise _invalid("outcome", _("Record attended, missed or cancelled."))
    reason = (reason or "").strip()
    if outcome == AppointmentStatus.CANCELLED and not reason:
        raise _invalid("reason", _("Say why the appointment is cancelled."), code="reason_required")
    with transaction.atomic():
        locked = _lock(appointment)
        _require_officer_of(officer, locked.client)
        if outcome != AppointmentStatus.CANCELLED and locked.starts_at > now:
            raise _invalid("outcome", _("Attendance is recorded once the appointment has started."))
        previous = locked.status
        transition_one(
            Appointment.objects.filter(pk=locked.pk), table=APPOINTMENT_STATUS_TRANSITIONS, to=outcome, current=previous,
            reason=reason, recorded_by=officer, recorded_at=now,
        )
        locked.status, locked.reason, locked.recorded_by, locked.recorded_at = outcome, reason, officer, now
        _reminders_cancel(locked)
        audit_record(
            actor=officer, action=f"appointment.{outcome}", obj=locked, client=locked.client,
            details={**_audit(locked), "previous_status": previous, "reason": reason}, now=now,
        )
        if outcome == AppointmentStatus.MISSED:
            task_open(
                client=locked.client, reason=TaskReason.MISSED_APPOINTMENT, appointment=locked,
                evidence={"kind": locked.kind, "starts_at": locked.starts_at.isoformat()}, now=now,
            )
        elif outcome == AppointmentStatus.CANCELLED:
            notice_post(client=locked.client, kind=NoticeKind.APPOINTMENT, appointment=locked, details=_details(locked, "cancelled"), now=now)
    return locked


def appointments_end_with_case(*, client: Client, by: User, now: datetime) -> int:
    """A case that leaves the open statuses (closed, or the person removed) keeps no
    appointment ahead: each one still scheduled to start after `now` is cancelled (the reason
    says the case ended), its reminders with it, audited, and the person told. Called by
    services.client_update inside its transaction. Returns how many were cancelled."""
    reason = _("The case was closed.") if client.case_status == CaseStatus.CLOSED else _("The case ended.")
    ahead = list(Appointment.objects.select_for_update().filter(client=client, status=AppointmentStatus.SCHEDULED, starts_at__gt=now).order_by("pk"))
    for appointment in ahead:
        transition_one(
            Appointment.objects.filter(pk=appointment.pk), table=APPOINTMENT_STATUS_TRANSITIONS, to=AppointmentStatus.CANCELLED,
            current=AppointmentStatus.SCHEDULED, reason=reason, recorded_by=by, recorded_at=now,
        )
        appointment.status, appointment.reason, appointment.recorded_by, appointment.recorded_at = AppointmentStatus.CANCELLED, reason, by, now
        _reminders_cancel(appointment)
        audit_record(
            actor=by, action="appointment.cancelled", obj=appointment, client=client,
            details={**_audit(appointment), "previous_status": AppointmentStatus.SCHEDULED, "reason": reason, "case_status": client.case_status},
            now=now,
        )
        notice_post(client=client, kind=NoticeKind.APPOINTMENT, appointment=appointment, details=_details(appointment, "cancelled"), now=now)
    return len(ahead)


def appointment_reschedule(
    *, appointment: Appointment, officer: User, starts_at: datetime, reason: str, office: Office | None = None, place: str | None = None,
    bring: str | None = None, now: datetime | None = None,
) -> Appointment:
    """Move a scheduled (or missed) appointment to a new time, with the reason: the old one is
    marked rescheduled and points at the new one, which gets its own reminders. The place and
    what to bring stay unless given. Returns the new appointment."""
    now = now or timezone.now()
    reason = (reason or "").strip()
    if not reason:
        raise _invalid("reason", _("Say why the appointment is moved."), code="reason_required")
    with transaction.atomic():
        locked = _lock(appointment)
        _require_officer_of(officer, locked.client)
        if starts_at is not None and not timezone.is_naive(starts_at) and starts_at <= now:
            raise _invalid("starts_at", _("An appointment is set in the future; record a past in-person report as attended."))
        if locked.status not in sources_of(APPOINTMENT_STATUS_TRANSITIONS, AppointmentStatus.RESCHEDULED):
            raise InvalidTransition.for_move(locked.status, AppointmentStatus.RESCHEDULED)
        new = _create(
            client=locked.client, officer=officer, kind=locked.kind, starts_at=starts_at,
            office=office if office is not None or place is not None else locked.office,
            place=place if place is not None else locked.place, bring=bring if bring is not None else locked.bring, now=now,
        )
        previous = locked.status
        transition_one(
            Appointment.objects.filter(pk=locked.pk), table=APPOINTMENT_STATUS_TRANSITIONS, to=AppointmentStatus.RESCHEDULED,
            current=previous, reason=reason, rescheduled_to=new, recorded_by=officer, recorded_at=now,
        )
        _reminders_cancel(locked)
        _reminders_queue(new, now=now)
        notice_post(client=new.client, kind=NoticeKind.APPOINTMENT, appointment=new, details=_details(new, "rescheduled"), now=now)
        audit_record(
            actor=officer, action="appointment.reschedule", obj=locked, client=locked.client,
            details={**_audit(new), "previous_status": previous, "from": locked.starts_at.isoformat(), "reason": reason,
                     "new_appointment_id": new.pk}, now=now,
        )
    return new


def inperson_report_record(
    *, client: Client, officer: User, office: Office | None = None, place: str = "", note: str = "", at: datetime | None = None,
    now: datetime | None = None,
) -> Appointment:
    """The person reported in person: recorded as an attended in-person report, so that their
    history shows it beside their remote check-ins."""
    now = now or timezone.now()
    at = at or now
    _require_officer_of(officer, client)
    if at > now:
        raise _invalid("starts_at", _("An in-person report is recorded once it happened."))
    with transaction.atomic():
        appointment = _create(
            client=client, officer=officer, kind=AppointmentKind.IN_PERSON_REPORT, starts_at=at, office=office, place=place, bring="",
            now=now, status=AppointmentStatus.ATTENDED, reason=(note or "").strip(), recorded_by=officer, recorded_at=now,
        )
        audit_record(actor=officer, action="appointment.in_person_report", obj=appointment, client=client, details=_audit(appointment), now=now)
    return appointment
