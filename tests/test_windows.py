"""Reporting windows created ahead from conditions, condition edits, excuses."""

from datetime import UTC, date, datetime, time, timedelta

import pytest

from enforcement import compliance, services
from enforcement.errors import DomainError, InvalidTransition
from enforcement.models import AuditEvent, Notification, ReportingWindow, TaskNote
from enforcement.selectors import consent_current_versions
from tests import factories

pytestmark = pytest.mark.django_db

TORONTO = "America/Toronto"
MONDAY_MORNING = factories.MONDAY_MORNING


toronto = factories.toronto


def local_starts(client, zone_name=TORONTO):
    from enforcement.schedule import zone

    return [w.opens_at.astimezone(zone(zone_name)).replace(tzinfo=None) for w in ReportingWindow.objects.filter(client=client).order_by("opens_at")]


def test_setting_a_condition_creates_its_windows_up_to_the_horizon(settings):
    settings.REPORTIN_WINDOW_HORIZON_DAYS = 14
    client = factories.client()
    factories.office_hours(client, now=MONDAY_MORNING)
    starts = local_starts(client)
    # The horizon is 14 days ahead rounded up to midnight UTC: 17 March 00:00 UTC.
    assert starts == [datetime(2026, 3, day, 9, 0) for day in range(2, 17)]
    window = ReportingWindow.objects.filter(client=client).order_by("opens_at").first()
    assert window.status == "open"
    assert window.closes_at - window.opens_at == timedelta(hours=8)
    assert window.deadline_at - window.closes_at == timedelta(hours=1)


def test_windows_get_an_opening_and_a_closing_reminder(settings):
    settings.REPORTIN_REMINDER_HOURS_BEFORE_CLOSE = 2
    client = factories.client()
    factories.office_hours(client, now=MONDAY_MORNING)
    window = ReportingWindow.objects.filter(client=client).order_by("opens_at").first()
    reminders = {n.kind: n.send_after for n in Notification.objects.filter(window=window)}
    assert reminders == {"window_opened": window.opens_at, "window_closing": window.closes_at - timedelta(hours=2)}
    assert Notification.objects.filter(client=client).count() == 2 * ReportingWindow.objects.filter(client=client).count()


def test_materialising_again_creates_nothing_and_the_next_day_adds_one_window():
    client = factories.client()
    factories.office_hours(client, now=MONDAY_MORNING)
    count = ReportingWindow.objects.count()
    assert services.windows_materialise(now=MONDAY_MORNING) == 0
    assert services.windows_materialise(now=MONDAY_MORNING + timedelta(hours=5)) == 0
    assert ReportingWindow.objects.count() == count
    assert services.windows_materialise(now=MONDAY_MORNING + timedelta(days=1)) == 1
    assert local_starts(client)[-1] == datetime(2026, 3, 17, 9, 0)


def test_materialising_in_chunks_reaches_every_condition():
    clients = [factories.client() for _ in range(5)]
    for client in clients:
        factories.office_hours(client, now=MONDAY_MORNING)
    next_day = MONDAY_MORNING + timedelta(days=1)
    created = compliance.materialise(
        now=next_day, until=compliance.horizon_end(next_day, 14), closing_reminder=None, chunk_size=2
    )
    assert created == 5
    assert {local_starts(c)[-1] for c in clients} == {datetime(2026, 3, 17, 9, 0)}


def test_a_first_condition_includes_the_window_under_way():
    client = factories.client()
    factories.office_hours(client, now=toronto(2026, 3, 2, 11, 0))
    assert local_starts(client)[0] == datetime(2026, 3, 2, 9, 0)


def test_a_window_is_never_created_after_it_closed():
    client = factories.client()
    factories.office_hours(client, now=toronto(2026, 3, 2, 17, 30))  # closed at 17:00, deadline 18:00
    assert local_starts(client)[0] == datetime(2026, 3, 3, 9, 0)


def test_editing_a_condition_regenerates_future_windows_and_keeps_past_ones():
    client = factories.client()
    old = factories.office_hours(client, now=MONDAY_MORNING)
    services.windows_sweep(now=toronto(2026, 3, 3, 19, 0))  # 2 and 3 March missed
    tuesday = ReportingWindow.objects.get(client=client, opens_at=toronto(2026, 3, 3, 9, 0))
    services.window_excuse(window=tuesday, officer=factories.staff("o1"), reason="In hospital", now=toronto(2026, 3, 3, 20, 0))
    before = {w.pk: (w.status, w.opens_at, w.closes_at) for w in ReportingWindow.objects.filter(client=client, opens_at__lt=toronto(2026, 3, 4, 12, 0))}

    # Wednesday 12:00, during that day's window: the new schedule is 14:00-16:00.
    edit_time = toronto(2026, 3, 4, 12, 0)
    new = factories.office_hours(client, now=edit_time, window_start=time(14, 0), window_minutes=120)

    kept = {w.pk: (w.status, w.opens_at, w.closes_at) for w in ReportingWindow.objects.filter(client=client, opens_at__lt=edit_time)}
    assert kept == before  # past windows and the one under way, untouched
    assert [s for s, *_ in kept.values()].count("missed") == 1 and [s for s, *_ in kept.values()].count("excused") == 1
    assert not ReportingWindow.objects.filter(condition=old, opens_at__gt=edit_time).exists()
    # Today's 14:00 window would overlap the window under way (until 17:00): it starts tomorrow.
    upcoming = [w.opens_at for w in ReportingWindow.objects.filter(condition=new).order_by("opens_at")]
    assert upcoming[0] == toronto(2026, 3, 5, 14, 0)
    assert all(w.closes_at - w.opens_at == timedelta(hours=2) for w in ReportingWindow.objects.filter(condition=new))
    assert not Notification.objects.filter(window__condition=old, window__opens_at__gt=edit_time).exists()


def test_windows_follow_the_client_time_zone_override():
    client = factories.client(region_code="atlantic", time_zone="America/St_Johns")
    factories.condition(
        client, window_start=time(2, 30), window_minutes=120, starts_on=date(2026, 3, 7), ends_on=date(2026, 3, 9),
        now=datetime(2026, 3, 6, tzinfo=UTC),
    )
    opens = [w.opens_at for w in ReportingWindow.objects.filter(client=client).order_by("opens_at")]
    assert opens == [datetime(2026, 3, 7, 6, 0, tzinfo=UTC), datetime(2026, 3, 8, 6, 0, tzinfo=UTC), datetime(2026, 3, 9, 5, 0, tzinfo=UTC)]


def test_no_windows_for_in_person_reporting_or_closed_cases():
    in_person = factories.client()
    factories.office_hours(in_person, now=MONDAY_MORNING, method="in_person")
    closed = factories.client()
    closed.case_status, closed.case_closed_at = "closed", MONDAY_MORNING
    closed.save()
    factories.office_hours(closed, now=MONDAY_MORNING)
    assert not ReportingWindow.objects.filter(client__in=[in_person, closed]).exists()


def test_withdrawing_consent_removes_the_upcoming_windows():
    client = factories.client()
    factories.office_hours(client, now=MONDAY_MORNING)
    factories.consent_both(client)
    versions = consent_current_versions()
    withdrawn_at = toronto(2026, 3, 2, 12, 0)
    services.consent_record(
        client=client, kind="biometric", decision="withdrawn", text_version=versions["biometric"], language="en",
        channel="app", now=withdrawn_at,
    )
    assert not ReportingWindow.objects.filter(client=client, opens_at__gt=withdrawn_at).exists()
    assert services.windows_materialise(now=withdrawn_at + timedelta(days=1)) == 0


def test_a_condition_only_has_windows_between_its_first_and_last_day():
    client = factories.client()
    factories.office_hours(client, now=MONDAY_MORNING, starts_on=date(2026, 3, 5), ends_on=date(2026, 3, 7))
    assert local_starts(client) == [datetime(2026, 3, day, 9, 0) for day in (5, 6, 7)]


def test_after_an_outage_only_windows_still_open_are_created():
    client = factories.client()
    factories.office_hours(client, now=MONDAY_MORNING)
    three_weeks_later = MONDAY_MORNING + timedelta(days=21, hours=5)  # 23 March, 12:00: that day's window is under way
    services.windows_materialise(now=three_weeks_later)
    starts = local_starts(client)
    assert datetime(2026, 3, 22, 9, 0) not in starts
    assert datetime(2026, 3, 23, 9, 0) in starts


# --- Excuses --------------------------------------------------------------------------------


def first_window(client):
    return ReportingWindow.objects.filter(client=client).order_by("opens_at").first()


def test_an_officer_excuses_a_window_with_a_reason_and_it_is_audited():
    client = factories.client()
    factories.office_hours(client, now=MONDAY_MORNING)
    officer = factories.staff("officer1")
    window = services.window_excuse(window=first_window(client), officer=officer, reason="  Court date  ", now=MONDAY_MORNING)
    assert (window.status, window.excused_reason, window.excused_by, window.excused_at) == ("excused", "Court date", officer, MONDAY_MORNING)
    event = AuditEvent.objects.get(action="window.excuse")
    assert (event.actor, event.client_id, event.details) == (officer, client.pk, {"reason": "Court date", "previous_status": "open"})
    assert services.windows_sweep(now=MONDAY_MORNING + timedelta(days=1)) == 0  # an excused window is never missed


def test_excusing_needs_a_reason_and_changes_nothing_without_one():
    client = factories.client()
    factories.office_hours(client, now=MONDAY_MORNING)
    with pytest.raises(DomainError) as error:
        services.window_excuse(window=first_window(client), officer=factories.staff("officer1"), reason=" ", now=MONDAY_MORNING)
    assert error.value.code == "reason_required"
    assert first_window(client).status == "open"
    assert not AuditEvent.objects.filter(action="window.excuse").exists()


def test_excusing_a_missed_window_notes_it_on_its_task_and_a_satisfied_one_cannot_be_excused():
    client = factories.client()
    factories.office_hours(client, now=MONDAY_MORNING)
    officer = factories.staff("officer1")
    services.windows_sweep(now=toronto(2026, 3, 2, 18, 1))
    missed = first_window(client)
    services.window_excuse(window=missed, officer=officer, reason="Phone broken; reported by phone call", now=MONDAY_MORNING + timedelta(days=1))
    note = TaskNote.objects.get(task__window=missed)
    assert (note.kind, note.author, note.text) == ("system", officer, "Window excused: Phone broken; reported by phone call")
    assert missed.tasks.get().status == "open"  # resolving the task stays the officer's decision

    tuesday = ReportingWindow.objects.filter(client=client).order_by("opens_at")[1]
    services.window_satisfy(window=tuesday, checkin_id=1, now=toronto(2026, 3, 3, 10, 0))
    with pytest.raises(InvalidTransition):
        services.window_excuse(window=tuesday, officer=officer, reason="Late", now=toronto(2026, 3, 3, 11, 0))


def test_a_supervisor_clears_the_attention_flag_with_a_reason(settings):
    client = factories.client()
    supervisor = factories.staff("sup", role="Supervisor", region_code=None)
    client.supervisor_attention = True
    client.save()
    with pytest.raises(DomainError):
        services.client_attention_clear(client=client, cleared_by=supervisor, reason="")
    assert services.client_attention_clear(client=client, cleared_by=supervisor, reason="Spoke to the client; new phone")
    client.refresh_from_db()
    assert not client.supervisor_attention
    assert AuditEvent.objects.get(action="client.attention_clear").details == {"reason": "Spoke to the client; new phone"}
    assert not services.client_attention_clear(client=client, cleared_by=supervisor, reason="again")
