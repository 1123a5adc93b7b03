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
    Office,
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


def window_for_capture(*, client: Client, captured_at: datetime, received_at: datetime) -> ReportingWindow | None:
    """The window a report captured at `captured_at` counts for: it was captured while the
    window was open and arrived before its grace period ended (a phone that was offline may
    send it late). None means an unscheduled report."""
    return (
        ReportingWindow.objects.filter(
            client=client,
            opens_at__lte=captured_at,
            closes_at__gte=captured_at,
            deadline_at__gte=received_at,
            condition__method=ReportingMethod.REMOTE,
        )
        .exclude(status=WindowStatus.EXCUSED)
        .order_by("opens_at")
        .first()
    )


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
