"""Reads of the enforcement domain that are more than a filter. Time is an argument."""

from datetime import datetime

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


def consent_allows_remote(*, client: Client) -> bool:
    """Both consents granted, each to the current version of its text."""
    latest = consent_latest(client=client)
    versions = consent_current_versions()
    return all(
        record is not None and record.decision == ConsentDecision.GRANTED and record.text_version == versions.get(kind)
        for kind, record in latest.items()
    )


def condition_active(*, client: Client) -> ReportingCondition | None:
    return ReportingCondition.objects.filter(client=client, active=True).first()


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
