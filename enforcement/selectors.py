"""Reads of the enforcement domain that are more than a filter. Time is an argument."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import BooleanField, Case, OuterRef, Q, Subquery, When

from enforcement.models import (
    Client,
    ConsentDecision,
    ConsentKind,
    ConsentRecord,
    ConsentText,
    InvestigationTask,
    Notification,
    NotificationStatus,
    Office,
    ReportingCondition,
    ReportingMethod,
    ReportingWindow,
    TaskNote,
    TaskStatus,
    WindowStatus,
)


def consent_latest(*, client: Client) -> dict[str, ConsentRecord | None]:
    """The latest consent record of each kind (the current state), or None if never asked."""
    latest: dict[str, ConsentRecord | None] = {kind: None for kind in ConsentKind.values}
    for record in ConsentRecord.objects.filter(client=client).order_by("kind", "-recorded_at", "-id"):
        if latest[record.kind] is None:
            latest[record.kind] = record
    return latest


def consent_current_versions() -> dict[str, str]:
    """The current (newest published) text version of each consent kind."""
    versions: dict[str, str] = {}
    for text in ConsentText.objects.order_by("kind", "-published_at", "-id").only("kind", "version"):
        versions.setdefault(text.kind, text.version)
    return versions


@dataclass(frozen=True)
class ConsentState:
    kind: str
    record: ConsentRecord | None  # the latest decision, None if never asked
    current_version: str | None  # the text version in force

    @property
    def granted(self) -> bool:
        """Granted, to the text in force (a grant of an older version must be renewed)."""
        return (
            self.record is not None
            and self.record.decision == ConsentDecision.GRANTED
            and self.record.text_version == self.current_version
        )

    @property
    def renewal_needed(self) -> bool:
        """Granted once, but the text has changed since."""
        return (
            self.record is not None
            and self.record.decision == ConsentDecision.GRANTED
            and self.record.text_version != self.current_version
        )


def consent_states(*, client: Client) -> dict[str, ConsentState]:
    latest = consent_latest(client=client)
    versions = consent_current_versions()
    return {kind: ConsentState(kind, latest[kind], versions.get(kind)) for kind in ConsentKind.values}


def consent_remote_expressions(client_ref) -> dict[str, Subquery]:
    """For each consent kind, an expression that is true when the client's latest record of
    that kind grants consent to the current version of its text. `client_ref` is the client's
    id or an OuterRef to it, so a caller can fold the test into a query of its own (the
    check-in does: one round trip, see reportin.services.checkin_submit)."""
    expressions = {}
    for kind in ConsentKind.values:
        current = ConsentText.objects.filter(kind=kind).order_by("-published_at", "-id").values("version")[:1]
        latest = (
            ConsentRecord.objects.filter(client_id=client_ref, kind=kind)
            .order_by("-recorded_at", "-id")
            .annotate(ok=Case(When(decision=ConsentDecision.GRANTED, text_version=Subquery(current), then=True), default=False))
            .values("ok")[:1]
        )
        expressions[f"consent_{kind}"] = Subquery(latest, output_field=BooleanField())
    return expressions


def consent_allows_remote(*, client: Client) -> bool:
    """Both consents granted, each to the current version of its text."""
    row = Client.objects.filter(pk=client.pk).annotate(**consent_remote_expressions(OuterRef("pk"))).values(
        *(f"consent_{kind}" for kind in ConsentKind.values)
    ).first()
    return bool(row) and all(row.values())


def condition_active(*, client: Client) -> ReportingCondition | None:
    return ReportingCondition.objects.filter(client=client, active=True).first()


def windows_current_and_next(*, client: Client, now: datetime) -> tuple[ReportingWindow | None, ReportingWindow | None]:
    """The window open at `now` (if any) and the next one to open, of the active condition."""
    # An officer's ad-hoc request (no condition) counts as the active condition's windows do.
    windows = ReportingWindow.objects.filter(Q(condition__active=True) | Q(condition__isnull=True), client=client).exclude(
        status=WindowStatus.EXCUSED
    )
    current = windows.filter(opens_at__lte=now, closes_at__gt=now).order_by("opens_at").first()
    upcoming = windows.filter(opens_at__gt=now, status=WindowStatus.OPEN).order_by("opens_at").first()
    return current, upcoming


# How far the server's clock may trail the moment a window opens when a report arrives for
# it. The phone's clock is the client's to set, so only the server's receipt proves a report
# was not sent before its window opened (issue 14.10: a report sent 5 minutes early, its
# capture time set inside the window, used to count).
WINDOW_RECEIPT_SKEW = timedelta(minutes=1)


def windows_for_capture(*, client_ref, captured_at: datetime, received_at: datetime):
    """The windows a report captured at `captured_at` may count for, first one first: it was
    captured while the window was open, received no earlier than WINDOW_RECEIPT_SKEW before it
    opened, and received before its grace period ended (a phone that was offline may send it
    late). `client_ref` is the client's id or an OuterRef to it."""
    return (
        ReportingWindow.objects.filter(
            client_id=client_ref,
            opens_at__lte=captured_at,
            closes_at__gte=captured_at,
            deadline_at__gte=received_at,
        )
        # An officer's ad-hoc request (no condition) is a remote check-in too.
        .filter(Q(condition__method=ReportingMethod.REMOTE) | Q(condition__isnull=True))
        .filter(opens_at__lte=received_at + WINDOW_RECEIPT_SKEW)
        .exclude(status=WindowStatus.EXCUSED)
        # Scheduled windows never overlap, but an officer's ad-hoc request may overlap a window
        # the person has already reported for: the report then counts for the one still open.
        .order_by(Case(When(status=WindowStatus.OPEN, then=0), default=1), "opens_at")
    )


def task_checkin_ids(*, task: InvestigationTask) -> list[int]:
    """The check-ins a task is about: its own, and those added to it later as events."""
    ids = [task.checkin_id] if task.checkin_id is not None else []
    ids += TaskNote.objects.filter(task=task, kind=TaskNote.Kind.EVENT, checkin_id__isnull=False).order_by("pk").values_list("checkin_id", flat=True)
    return list(dict.fromkeys(ids))


def task_window_ids(*, task: InvestigationTask) -> list[int]:
    """The windows a task is about: its own, and those added to it later as events."""
    ids = [task.window_id] if task.window_id is not None else []
    ids += TaskNote.objects.filter(task=task, kind=TaskNote.Kind.EVENT, window__isnull=False).order_by("pk").values_list("window_id", flat=True)
    return list(dict.fromkeys(ids))


def checkin_task_resolutions(*, checkin_id: int, client: Client) -> set[str] | None:
    """The resolutions of every task about a check-in (its own tasks and those it was added to
    as an event), or None while one of them is still open."""
    tasks = InvestigationTask.objects.filter(client=client).filter(
        Q(checkin_id=checkin_id) | Q(pk__in=TaskNote.objects.filter(kind=TaskNote.Kind.EVENT, checkin_id=checkin_id).values("task_id"))
    )
    rows = list(tasks.values_list("status", "resolution"))
    if any(status != TaskStatus.RESOLVED for status, _ in rows):
        return None
    return {resolution for _, resolution in rows if resolution}


def window_for_capture(*, client: Client, captured_at: datetime, received_at: datetime) -> ReportingWindow | None:
    """The window such a report counts for (windows_for_capture); None means an unscheduled report."""
    return windows_for_capture(client_ref=client.pk, captured_at=captured_at, received_at=received_at).first()


# --- Office and contact (issue 18.6) --------------------------------------------------------


def office_for(*, client: Client) -> Office | None:
    """The office the person reports to in person: their region's main active office (else the
    first by name)."""
    return Office.objects.filter(region_id=client.region_id, active=True).order_by("-main", "name").first()


def office_public(office: Office | None, language: str) -> dict | None:
    """What the person may see of an office, in their language."""
    if office is None:
        return None
    french = language == "fr"
    return {
        "name": (office.name_fr if french else office.name) or office.name,
        "address": office.address,
        "hours": (office.hours_fr if french else office.hours) or office.hours,
        "phone": office.phone,
        "languages": [item.strip() for item in office.languages.split(",") if item.strip()],
    }


def missed_windows_recent(*, client: Client, now: datetime, days: int = 30) -> list[ReportingWindow]:
    """The person's missed windows that opened in the last `days` days, newest first."""
    return list(
        ReportingWindow.objects.filter(client=client, status=WindowStatus.MISSED, opens_at__gte=now - timedelta(days=days))
        .order_by("-opens_at")[:10]
    )


# --- The messages sent to a person (the task page's reminder and message history)

OUTBOX_HISTORY_LENGTH = 20


@dataclass(frozen=True)
class OutboxRow:
    """One message of the person's outbox as staff read it: what it was (a reminder or a
    notice), through which channel, where it stands, when it went (or is due), and why it has
    not reached the person if it has not (the channel's issue, in the provider's words)."""

    notification_id: int
    what: str
    channel: str
    status: str
    status_label: str
    at: datetime  # sent, or (not sent yet) due
    sent: bool
    delivered_at: datetime | None
    attempts: int
    issue: str


def outbox_history(*, client: Client, limit: int = OUTBOX_HISTORY_LENGTH) -> list[OutboxRow]:
    """The person's last `limit` messages (reminders and notices, one row per channel), newest
    first, in one query whatever the length of their history."""
    rows = Notification.objects.filter(client=client).order_by("-send_after", "-id").only(
        "kind", "channel", "status", "send_after", "sent_at", "delivered_at", "attempts", "last_error",
    )[:limit]
    sent = {NotificationStatus.SENT, NotificationStatus.DELIVERED}
    return [
        OutboxRow(
            notification_id=row.pk,
            what=str(row.get_kind_display()),
            channel=str(row.get_channel_display()),
            status=row.status,
            status_label=str(row.get_status_display()),
            at=row.sent_at or row.send_after,
            sent=row.status in sent,
            delivered_at=row.delivered_at,
            attempts=row.attempts,
            # A failure to retry is recorded with its type ("RetryLater: GC Notify 503 ..."):
            # the row already says it is due again, so only the provider's words are shown.
            issue="" if row.status in sent else row.last_error.removeprefix("RetryLater: "),
        )
        for row in rows
    ]
