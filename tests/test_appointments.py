"""Requests and appointments (issue 18.5): an officer's ad-hoc check-in request (a one-off
window, told at once, missed like any window), appointments with layered reminders in the
person's language, attendance recorded by the officer (a miss opens a task), in-person reports
on the record, all audited and region-checked; the client page's actions and the person's
GET /api/v1/appointments."""

from datetime import timedelta

import pytest
from django.db.models import Count
from django.utils import timezone

from enforcement import appointments, notifications, services
from enforcement.errors import DomainError, Forbidden, InvalidTransition
from enforcement.models import (
    Appointment,
    AuditEvent,
    InvestigationTask,
    Notice,
    Notification,
    Office,
    ReportingWindow,
)
from tests import factories
from tests.conftest import make_reporter

pytestmark = pytest.mark.django_db


def office(region_code="gta", name="Toronto CBSA office"):
    return Office.objects.create(
        region=factories.region(region_code), name=name, name_fr=f"Bureau {name}", address="1 Front St W, Toronto",
        hours="Mon-Fri 8:30-16:00", hours_fr="lun.-ven. 8 h 30-16 h", phone="416-555-0100", main=True,
    )


def schedule(client, officer, *, now, days=10, kind="interview", **fields):
    fields.setdefault("office", office())
    return appointments.appointment_schedule(
        client=client, officer=officer, kind=kind, starts_at=now + timedelta(days=days), bring="Your passport", now=now, **fields
    )


# --- Ad-hoc check-in requests ---------------------------------------------------------------


def test_a_requested_checkin_opens_a_window_at_once_tells_the_person_and_is_audited():
    reporter = make_reporter(email="ana@example.org")
    officer = factories.staff("req-officer")
    now = timezone.now()
    window = appointments.checkin_request(client=reporter.client, officer=officer, minutes=90, now=now)
    assert window.condition_id is None and window.requested_by == officer and window.adhoc
    assert window.opens_at == now and window.closes_at == now + timedelta(minutes=90) and window.deadline_at == window.closes_at
    notice = Notice.objects.get(client=reporter.client, kind="checkin_requested", window=window)
    assert Notification.objects.filter(notice=notice, channel="email", status="pending", send_after=now).count() == 1
    assert "check in" in notifications.notice_text(notice, "en").subject.lower()
    event = AuditEvent.objects.get(action="window.request")
    assert event.client_id == reporter.client.pk and event.details["minutes"] == 90
    # The app shows it as the current window, and a check-in made now counts for it.
    from enforcement import selectors

    current, _next = selectors.windows_current_and_next(client=reporter.client, now=now + timedelta(minutes=1))
    assert current == window
    later = now + timedelta(minutes=5)
    assert selectors.window_for_capture(client=reporter.client, captured_at=later, received_at=later) == window


@pytest.mark.parametrize("minutes", [0, 29, 24 * 60 + 1, "60"])
def test_a_request_of_a_bad_length_is_refused_and_changes_nothing(minutes):
    reporter = make_reporter()
    officer = factories.staff("req-officer")
    with pytest.raises(DomainError) as raised:
        appointments.checkin_request(client=reporter.client, officer=officer, minutes=minutes)
    assert raised.value.status == 400 and "minutes" in raised.value.fields
    assert not ReportingWindow.objects.filter(client=reporter.client).exists()
    assert not AuditEvent.objects.filter(action="window.request").exists()


def test_an_officer_of_another_region_cannot_request_a_checkin():
    reporter = make_reporter()
    elsewhere = factories.staff("west-officer", region_code="pacific")
    with pytest.raises(Forbidden):
        appointments.checkin_request(client=reporter.client, officer=elsewhere, minutes=60)
    assert not ReportingWindow.objects.filter(client=reporter.client).exists()


def test_a_missed_requested_checkin_opens_a_missed_report_task_and_a_notice():
    reporter = make_reporter()
    officer = factories.staff("req-officer")
    now = timezone.now()
    window = appointments.checkin_request(client=reporter.client, officer=officer, minutes=30, now=now)
    assert services.windows_sweep(now=now + timedelta(minutes=29)) == 0
    assert services.windows_sweep(now=now + timedelta(minutes=31)) == 1
    window.refresh_from_db()
    assert window.status == "missed"
    assert InvestigationTask.objects.get(window=window).reason == "missed_report"
    assert Notice.objects.filter(window=window, kind="missed_window").exists()


# --- Appointments ---------------------------------------------------------------------------


def test_an_appointment_is_told_at_once_and_reminded_7_days_1_day_and_2_hours_before():
    reporter = make_reporter(email="ana@example.org")
    officer = factories.staff("app-officer")
    now = timezone.now()
    appointment = schedule(reporter.client, officer, now=now, days=10)
    assert appointment.status == "scheduled"
    reminders = sorted(Notification.objects.filter(appointment=appointment).values_list("send_after", flat=True))
    starts = appointment.starts_at
    assert reminders == [starts - timedelta(days=7), starts - timedelta(days=1), starts - timedelta(hours=2)]
    notice = Notice.objects.get(client=reporter.client, kind="appointment")
    assert "Your passport" in notifications.notice_text(notice, "en").body
    assert AuditEvent.objects.get(action="appointment.schedule").details["kind"] == "interview"


def test_only_the_reminders_still_ahead_are_queued():
    reporter = make_reporter(email="ana@example.org")
    now = timezone.now()
    appointment = schedule(reporter.client, factories.staff("app-officer"), now=now, days=3)
    starts = appointment.starts_at
    assert sorted(Notification.objects.filter(appointment=appointment).values_list("send_after", flat=True)) == [
        starts - timedelta(days=1), starts - timedelta(hours=2)
    ]


def test_a_reminder_is_written_in_the_persons_language_with_their_local_time_and_what_to_bring():
    reporter = make_reporter(email="ana@example.org", preferred_language="fr")
    now = timezone.now()
    appointment = schedule(reporter.client, factories.staff("app-officer"), now=now, days=10, kind="hearing")
    reminder = Notification.objects.filter(appointment=appointment).select_related("client", "appointment", "appointment__office").first()
    words = notifications.text(reminder)
    assert words.language == "fr"
    assert "Rappel" in words.subject and "Audience" in words.subject
    assert "Bureau Toronto CBSA office" in words.body and "Your passport" in words.body and "America/Toronto" in words.body


@pytest.mark.parametrize(
    "fields, field",
    [
        ({"kind": "party"}, "kind"),
        ({"office": None, "place": "  "}, "place"),
        ({"days": -1}, "starts_at"),
    ],
)
def test_a_bad_appointment_is_refused_and_changes_nothing(fields, field):
    reporter = make_reporter()
    now = timezone.now()
    with pytest.raises(DomainError) as raised:
        schedule(reporter.client, factories.staff("app-officer"), now=now, **fields)
    assert raised.value.status == 400 and field in raised.value.fields
    assert not Appointment.objects.exists() and not Notification.objects.filter(appointment__isnull=False).exists()


def test_an_office_of_another_region_or_an_officer_of_another_region_is_refused():
    reporter = make_reporter()
    now = timezone.now()
    with pytest.raises(DomainError) as raised:
        schedule(reporter.client, factories.staff("app-officer"), now=now, office=office("pacific", "Vancouver office"))
    assert "office" in raised.value.fields
    with pytest.raises(Forbidden):
        schedule(reporter.client, factories.staff("west-officer", region_code="pacific"), now=now)
    assert not Appointment.objects.exists()


def test_attendance_is_recorded_once_and_cancels_the_reminders_left():
    reporter = make_reporter(email="ana@example.org")
    officer = factories.staff("app-officer")
    now = timezone.now()
    appointment = schedule(reporter.client, officer, now=now, days=10)
    with pytest.raises(DomainError):  # not before it starts
        appointments.appointment_record(appointment=appointment, officer=officer, outcome="attended", now=now)
    after = appointment.starts_at + timedelta(hours=1)
    recorded = appointments.appointment_record(appointment=appointment, officer=officer, outcome="attended", now=after)
    assert recorded.status == "attended" and recorded.recorded_by == officer
    assert not Notification.objects.filter(appointment=appointment, status="pending").exists()
    with pytest.raises(InvalidTransition):
        appointments.appointment_record(appointment=appointment, officer=officer, outcome="missed", now=after)
    assert not InvestigationTask.objects.filter(appointment=appointment).exists()
    assert AuditEvent.objects.filter(action="appointment.attended").count() == 1


def test_a_missed_appointment_opens_one_task():
    reporter = make_reporter()
    officer = factories.staff("app-officer")
    now = timezone.now()
    appointment = schedule(reporter.client, officer, now=now, days=2)
    after = appointment.starts_at + timedelta(hours=1)
    appointments.appointment_record(appointment=appointment, officer=officer, outcome="missed", now=after)
    task = InvestigationTask.objects.get(appointment=appointment)
    assert task.reason == "missed_appointment" and task.status == "open" and task.region_id == reporter.client.region_id
    # A second miss while that task is open joins it as a further event.
    second = schedule(reporter.client, officer, now=after, days=2)
    appointments.appointment_record(appointment=second, officer=officer, outcome="missed", now=second.starts_at + timedelta(hours=1))
    assert InvestigationTask.objects.filter(client=reporter.client, reason="missed_appointment").count() == 1
    assert task.notes.filter(kind="event", appointment=second).exists()


def test_reminders_follow_the_persons_new_choice_of_channels():
    reporter = make_reporter(email="ana@example.org")
    now = timezone.now()
    appointment = schedule(reporter.client, factories.staff("app-officer"), now=now, days=10)
    services.contact_channels_set(
        client=reporter.client, channels=[{"channel": "sms", "address": "+16135550123"}], language="en", recorded_via="app", now=now
    )
    by_channel = dict(
        Notification.objects.filter(appointment=appointment).values_list("channel").annotate(n=Count("id"))
    )
    assert by_channel == {"email": 3, "sms": 3}
    assert set(Notification.objects.filter(appointment=appointment, channel="email").values_list("status", flat=True)) == {"cancelled"}


def test_a_rescheduled_appointment_keeps_its_reason_and_gets_new_reminders():
    reporter = make_reporter(email="ana@example.org")
    officer = factories.staff("app-officer")
    now = timezone.now()
    appointment = schedule(reporter.client, officer, now=now, days=10)
    with pytest.raises(DomainError) as raised:
        appointments.appointment_reschedule(appointment=appointment, officer=officer, starts_at=now + timedelta(days=20), reason=" ", now=now)
    assert raised.value.code == "reason_required"
    new = appointments.appointment_reschedule(
        appointment=appointment, officer=officer, starts_at=now + timedelta(days=20), reason="The interpreter is away", now=now
    )
    appointment.refresh_from_db()
    assert appointment.status == "rescheduled" and appointment.reason == "The interpreter is away" and appointment.rescheduled_to == new
    assert new.office_id == appointment.office_id and new.bring == "Your passport" and new.status == "scheduled"
    assert Notification.objects.filter(appointment=appointment, status="cancelled").count() == 3
    assert Notification.objects.filter(appointment=new, status="pending").count() == 3
    assert Notice.objects.filter(kind="appointment", details__change="rescheduled").exists()


def test_a_cancelled_appointment_needs_a_reason_and_tells_the_person():
    reporter = make_reporter(email="ana@example.org")
    officer = factories.staff("app-officer")
    now = timezone.now()
    appointment = schedule(reporter.client, officer, now=now)
    with pytest.raises(DomainError):
        appointments.appointment_record(appointment=appointment, officer=officer, outcome="cancelled", now=now)
    appointments.appointment_record(appointment=appointment, officer=officer, outcome="cancelled", reason="Hearing postponed", now=now)
    notice = Notice.objects.get(kind="appointment", details__change="cancelled")
    assert "cancelled" in notifications.notice_text(notice, "en").subject.lower()


def test_an_in_person_report_is_on_the_record_as_attended():
    reporter = make_reporter()
    officer = factories.staff("app-officer")
    now = timezone.now()
    report = appointments.inperson_report_record(client=reporter.client, officer=officer, office=office(), now=now)
    assert report.kind == "in_person_report" and report.status == "attended" and report.recorded_at == now
    assert AuditEvent.objects.get(action="appointment.in_person_report").client_id == reporter.client.pk
    assert not Notification.objects.filter(appointment=report).exists()


# --- The client page ------------------------------------------------------------------------

CLIENTS = "/admin/enforcement/client/"


def test_every_action_of_the_client_page_goes_through_its_service_and_is_audited(client):
    reporter = make_reporter(email="ana@example.org")
    officer = factories.staff("page-officer")
    place = office()
    factories.staff_login(client, officer)
    page = client.get(f"{CLIENTS}{reporter.client.pk}/change/").content.decode()
    assert 'id="checkin-request-form"' in page and 'id="appointment-schedule-form"' in page and 'id="in-person-report-form"' in page
    url = f"{CLIENTS}{reporter.client.pk}/appointments/"
    posts = [
        ({"op": "request", "minutes": "120"}, "window.request"),
        ({"op": "schedule", "kind": "removal_meeting", "starts_at": "2099-05-04T10:30", "office": place.pk, "bring": "Travel documents"},
         "appointment.schedule"),
        ({"op": "in_person", "office": place.pk, "note": "Came to the counter"}, "appointment.in_person_report"),
    ]
    for data, action in posts:
        answer = client.post(url, data)
        assert answer.status_code == 302 and answer["Location"].endswith("#appointments")
        assert AuditEvent.objects.filter(action=action, actor=officer, client=reporter.client).count() == 1, action
    appointment = Appointment.objects.get(kind="removal_meeting")
    # Typed in the client's local time (Toronto, UTC-4 in May).
    assert appointment.starts_at.isoformat() == "2099-05-04T14:30:00+00:00" and appointment.bring == "Travel documents"
    page = client.get(f"{CLIENTS}{reporter.client.pk}/change/").content.decode()
    assert f'id="appointment-record-{appointment.pk}"' in page and "Travel documents" in page
    moved = client.post(url, {"op": "record", "appointment": appointment.pk, "outcome": "rescheduled", "starts_at": "2099-05-11T10:30",
                              "reason": "Officer away"})
    assert moved.status_code == 302
    assert AuditEvent.objects.filter(action="appointment.reschedule", actor=officer).count() == 1
    new = Appointment.objects.get(kind="removal_meeting", status="scheduled")
    client.post(url, {"op": "record", "appointment": new.pk, "outcome": "cancelled", "reason": "Removal order stayed"})
    assert AuditEvent.objects.filter(action="appointment.cancelled", actor=officer).count() == 1


def test_bad_input_on_the_client_page_records_nothing(client):
    reporter = make_reporter()
    factories.staff_login(client, factories.staff("page-officer"))
    url = f"{CLIENTS}{reporter.client.pk}/appointments/"
    client.post(url, {"op": "request", "minutes": "5"})
    client.post(url, {"op": "schedule", "kind": "hearing", "starts_at": "2099-05-04T10:30", "place": ""})
    client.post(url, {"op": "record", "appointment": "999999", "outcome": "attended"})
    assert not ReportingWindow.objects.filter(client=reporter.client).exists() and not Appointment.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="appointment.").exists()


def test_another_regions_officer_and_an_auditor_cannot_use_the_actions(client):
    reporter = make_reporter()
    url = f"{CLIENTS}{reporter.client.pk}/appointments/"
    factories.staff_login(client, factories.staff("quebec-officer", region_code="quebec"))
    assert client.post(url, {"op": "request", "minutes": "60"}).status_code in (403, 404)
    from enforcement import roles

    factories.staff_login(client, factories.staff("page-auditor", role=roles.AUDITOR, region_code=None))
    page = client.get(f"{CLIENTS}{reporter.client.pk}/change/").content.decode()
    assert 'id="appointments"' in page and 'id="checkin-request-form"' not in page
    assert client.post(url, {"op": "request", "minutes": "60"}).status_code == 403
    assert not ReportingWindow.objects.filter(client=reporter.client).exists()


# --- The person's API -----------------------------------------------------------------------


def test_the_person_sees_their_upcoming_and_recent_appointments_in_their_zone_and_never_anothers():
    reporter = make_reporter()
    other = make_reporter()
    officer = factories.staff("api-officer")
    now = timezone.now()
    coming = schedule(reporter.client, officer, now=now, days=5, kind="hearing")
    report = appointments.inperson_report_record(client=reporter.client, officer=officer, place="Niagara Falls port of entry", now=now)
    schedule(other.client, officer, now=now, days=3)
    answer = reporter.api.get("/api/v1/appointments")
    assert answer.status_code == 200
    body = answer.json()
    assert [a["id"] for a in body["upcoming"]] == [coming.pk] and [a["id"] for a in body["recent"]] == [report.pk]
    shown = body["upcoming"][0]
    assert shown["kind"] == "hearing" and shown["bring"] == "Your passport" and shown["time_zone"] == "America/Toronto"
    assert shown["place"]["name"] == "Toronto CBSA office" and shown["place"]["phone"] == "416-555-0100"
    from datetime import datetime

    assert datetime.fromisoformat(shown["starts_local"]) == coming.starts_at
    assert shown["starts_local"][-6:] in ("-04:00", "-05:00")
    assert body["recent"][0]["place"]["name"] == "Niagara Falls port of entry" and body["recent"][0]["status"] == "attended"
    french = reporter.api.get("/api/v1/appointments", HTTP_ACCEPT_LANGUAGE="fr").json()
    assert french["upcoming"][0]["kind_label"] == "Audience" and french["upcoming"][0]["place"]["name"] == "Bureau Toronto CBSA office"


def test_appointments_need_a_device_token():
    from rest_framework.test import APIClient

    answer = APIClient().get("/api/v1/appointments")
    assert answer.status_code == 401 and "code" in answer.json()["error"]


def test_the_missed_appointment_task_page_shows_the_appointment_and_is_decided_like_any_task(client):
    from reportin import services as reportin_services

    reporter = make_reporter()
    officer = factories.staff("task-officer")
    now = timezone.now()
    appointment = schedule(reporter.client, officer, now=now - timedelta(days=3), days=2)
    appointments.appointment_record(appointment=appointment, officer=officer, outcome="missed", now=now)
    task = InvestigationTask.objects.get(appointment=appointment)
    factories.staff_login(client, officer)
    page = client.get(f"/admin/enforcement/investigationtask/{task.pk}/change/")
    assert page.status_code == 200
    text = page.content.decode()
    assert 'id="task-appointment"' in text and "Toronto CBSA office" in text and "Missed appointment" in text
    reportin_services.task_decide(task=task, resolution="contact_made", note="Called; new interview set.", officer=officer, now=now)
    task.refresh_from_db()
    assert task.status == "resolved"


def test_a_request_during_a_window_already_reported_for_takes_the_next_checkin():
    from enforcement import selectors

    reporter = make_reporter()
    now = timezone.now()
    reported = factories.window(reporter.client, opens_at=now - timedelta(hours=2), minutes=480, status="reported")
    requested = appointments.checkin_request(client=reporter.client, officer=factories.staff("req-officer"), minutes=60, now=now)
    later = now + timedelta(minutes=10)
    assert selectors.window_for_capture(client=reporter.client, captured_at=later, received_at=later) == requested
    assert reported.opens_at < requested.opens_at


def test_a_checkin_sent_through_the_app_counts_for_the_requested_window():
    reporter = make_reporter()
    requested = appointments.checkin_request(client=reporter.client, officer=factories.staff("req-officer"), minutes=60)
    answer = reporter.check_in()
    assert answer.status_code in (201, 202), answer.json()
    requested.refresh_from_db()
    assert requested.status in ("reported", "satisfied")
    assert services.windows_sweep(now=requested.deadline_at + timedelta(minutes=1)) == 0
    assert not Notice.objects.filter(client=reporter.client, kind="extra_checkin").exists()


def test_a_missed_appointment_can_be_given_a_new_time_and_its_task_stays():
    reporter = make_reporter()
    officer = factories.staff("app-officer")
    now = timezone.now()
    appointment = schedule(reporter.client, officer, now=now - timedelta(days=3), days=2)
    appointments.appointment_record(appointment=appointment, officer=officer, outcome="missed", now=now)
    new = appointments.appointment_reschedule(
        appointment=appointment, officer=officer, starts_at=now + timedelta(days=4), reason="Was in hospital", now=now
    )
    appointment.refresh_from_db()
    assert appointment.status == "rescheduled" and appointment.rescheduled_to == new and new.status == "scheduled"
    assert InvestigationTask.objects.get(appointment=appointment).status == "open"
    with pytest.raises(InvalidTransition):  # moved once: the new appointment is the one to move again
        appointments.appointment_reschedule(appointment=appointment, officer=officer, starts_at=now + timedelta(days=5), reason="Again", now=now)
    assert Appointment.objects.count() == 2


def test_closing_the_case_cancels_the_appointments_ahead_and_their_reminders_and_tells_the_person():
    reporter = make_reporter(email="ana@example.org")
    client = reporter.client
    officer = factories.staff("close-officer")
    supervisor = factories.staff("close-supervisor", role="Supervisor")
    now = timezone.now()
    ahead = schedule(client, officer, now=now, days=10)
    past = schedule(client, officer, now=now - timedelta(days=20), days=1, office=ahead.office)  # started 19 days ago
    assert Notification.objects.filter(appointment=ahead, status="pending").count() == 3

    services.client_update(client=client, changes={"case_status": "closed"}, updated_by=supervisor, now=now)

    ahead.refresh_from_db()
    past.refresh_from_db()
    assert (ahead.status, ahead.reason, ahead.recorded_by) == ("cancelled", "The case was closed.", supervisor)
    assert past.status == "scheduled"  # what happened at a past appointment is still the officer's to record
    assert not Notification.objects.filter(appointment=ahead, status="pending").exists()
    assert Notice.objects.filter(client=client, kind="appointment", appointment=ahead, details__change="cancelled").exists()
    event = AuditEvent.objects.get(action="appointment.cancelled", object_id=str(ahead.pk))
    assert event.actor == supervisor and event.details["case_status"] == "closed"
    # Reopening does not bring it back: a new appointment is scheduled if one is needed.
    services.client_update(client=client, changes={"case_status": "monitored"}, updated_by=supervisor, now=now)
    ahead.refresh_from_db()
    assert ahead.status == "cancelled"
