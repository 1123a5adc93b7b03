"""Reads of the mobile side that are more than a filter. Time is an argument."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Q, QuerySet

from enforcement import selectors as enforcement_selectors
from enforcement.models import Client, ReportingCondition, ReportingMethod, ReportingWindow, WindowStatus
from reportin.models import CheckIn, CheckInStatus


@dataclass
class Overview:
    consents: dict[str, enforcement_selectors.ConsentState]
    condition: ReportingCondition | None
    current_window: ReportingWindow | None
    next_window: ReportingWindow | None
    pending_actions: list[str]


def client_overview(*, client: Client, now: datetime) -> Overview:
    """What the app shows on its home screen: consent, condition, windows, and what the person
    should do next (codes: give_consent, renew_consent, report_in_person, check_in_now)."""
    consents = enforcement_selectors.consent_states(client=client)
    condition = enforcement_selectors.condition_active(client=client)
    current, upcoming = enforcement_selectors.windows_current_and_next(client=client, now=now)
    actions = []
    if any(state.renewal_needed for state in consents.values()):
        actions.append("renew_consent")
    if any(not state.granted and not state.renewal_needed for state in consents.values()):
        actions.append("give_consent")
    remote = all(state.granted for state in consents.values())
    if condition is not None and (condition.method == ReportingMethod.IN_PERSON or not remote):
        actions.append("report_in_person")
    elif (
        current is not None
        and current.status == WindowStatus.OPEN
        and not CheckIn.objects.filter(client=client, window=current).exists()
    ):
        actions.append("check_in_now")
    return Overview(consents, condition, current, upcoming, actions)


# A check-in still `received` this long after it arrived has lost its message (a broker that
# was down when it was accepted, or restarted without its data), unless the queue is behind:
# the reconciler then leaves it to the queued messages (reportin.scoring.checkins_to_requeue).
RECEIVED_STALE_AFTER = timedelta(minutes=1)


def checkins_to_rescore(*, now: datetime, lease: timedelta) -> QuerySet[CheckIn]:
    """Check-ins left unjudged: received long ago and never claimed, released by an attempt
    that hit a transient error (its retry may be lost), or claimed by an attempt whose lease
    ran out (that attempt is dead: the lease outlasts the task's hard time limit, so a
    check-in still being scored is never included). `lease` is reportin.scoring.SCORING_LEASE."""
    stale = now - RECEIVED_STALE_AFTER
    return CheckIn.objects.filter(
        Q(status=CheckInStatus.RECEIVED, received_at__lt=stale)
        | Q(status=CheckInStatus.SCORING, scoring_started_at__isnull=True, received_at__lt=stale)
        | Q(status=CheckInStatus.SCORING, scoring_started_at__lt=now - lease)
    ).order_by("received_at")
