"""Reads of the enforcement domain that are more than a filter. Time is an argument."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import OuterRef, Subquery

from enforcement.models import (
    Client,
    ConsentDecision,
    ConsentKind,
    ConsentRecord,
    ConsentText,
    ReportingCondition,
    ReportingMethod,
    ReportingWindow,
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


def consent_allows_remote(*, client: Client) -> bool:
    """Both consents granted, each to the current version of its text. One lean query: it runs
    on every check-in (a person's consent history is a handful of rows)."""
    current = ConsentText.objects.filter(kind=OuterRef("kind")).order_by("-published_at", "-id").values("version")[:1]
    rows = (
        ConsentRecord.objects.filter(client=client)
        .annotate(current_version=Subquery(current))
        .order_by("kind", "-recorded_at", "-id")
        .values_list("kind", "decision", "text_version", "current_version")
    )
    latest = {}
    for kind, decision, version, current_version in rows:
        latest.setdefault(kind, decision == ConsentDecision.GRANTED and version == current_version)
    return all(latest.get(kind, False) for kind in ConsentKind.values)


def condition_active(*, client: Client) -> ReportingCondition | None:
    return ReportingCondition.objects.filter(client=client, active=True).first()


def windows_current_and_next(*, client: Client, now: datetime) -> tuple[ReportingWindow | None, ReportingWindow | None]:
    """The window open at `now` (if any) and the next one to open, of the active condition."""
    windows = ReportingWindow.objects.filter(client=client, condition__active=True).exclude(status=WindowStatus.EXCUSED)
    current = windows.filter(opens_at__lte=now, closes_at__gt=now).order_by("opens_at").first()
    upcoming = windows.filter(opens_at__gt=now, status=WindowStatus.OPEN).order_by("opens_at").first()
    return current, upcoming


# How far the server's clock may trail the moment a window opens when a report arrives for
# it. The phone's clock is the client's to set, so only the server's receipt proves a report
# was not sent before its window opened (issue 14.10: a report sent 5 minutes early, its
# capture time set inside the window, used to count).
WINDOW_RECEIPT_SKEW = timedelta(minutes=1)


def window_for_capture(*, client: Client, captured_at: datetime, received_at: datetime) -> ReportingWindow | None:
    """The window a report captured at `captured_at` counts for: it was captured while the
    window was open, received no earlier than WINDOW_RECEIPT_SKEW before it opened, and
    received before its grace period ended (a phone that was offline may send it late).
    None means an unscheduled report."""
    return (
        ReportingWindow.objects.filter(
            client=client,
            opens_at__lte=captured_at,
            closes_at__gte=captured_at,
            deadline_at__gte=received_at,
            condition__method=ReportingMethod.REMOTE,
        )
        .filter(opens_at__lte=received_at + WINDOW_RECEIPT_SKEW)
        .exclude(status=WindowStatus.EXCUSED)
        .order_by("opens_at")
        .first()
    )
