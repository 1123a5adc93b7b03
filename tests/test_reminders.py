"""Reminders: outbox records made with the windows, sent through a pluggable sender whose
default writes through Django's email backend."""

import email
import email.policy
import stat
from datetime import date, time, timedelta
from pathlib import Path

import pytest
from django.conf import settings as django_settings

from enforcement import services
from enforcement.models import Notification, ReportingWindow
from tests import factories
from tests.conftest import wait_for

local = factories.toronto
MONDAY_MORNING = factories.MONDAY_MORNING
OPENS = local(2026, 3, 2, 9, 0)
CLOSES = local(2026, 3, 2, 17, 0)


@pytest.fixture
def mail_dir(settings, tmp_path):
    settings.EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    settings.EMAIL_FILE_PATH = str(tmp_path)
    settings.REPORTIN_REMINDER_HOURS_BEFORE_CLOSE = 2
    return tmp_path


def mails(folder: Path) -> list[str]:
    """The messages the file backend wrote, oldest first, as text with decoded headers."""
    out = []
    for path in sorted(folder.glob("*.log"), key=lambda p: p.stat().st_mtime_ns):
        message = email.message_from_string(path.read_text(), policy=email.policy.default)
        out.append(f"To: {message['To']}\nSubject: {message['Subject']}\n\n{message.get_content()}")
    return out


def reminded_client(email="person@example.org", language="en", **condition):
    client = factories.client(email=email, preferred_language=language, given_name="Ana")
    fields = {"window_start": time(9, 0), "window_minutes": 480, "grace_minutes": 60, "starts_on": date(2026, 3, 1),
              "ends_on": date(2026, 3, 2), "now": MONDAY_MORNING}
    fields.update(condition)
    factories.condition(client, **fields)
    return client


@pytest.mark.django_db
def test_reminders_reach_the_client_through_the_email_backend_when_due(mail_dir):
    reminded_client()
    assert services.notifications_send(now=OPENS - timedelta(seconds=1)) == 0
    assert mails(mail_dir) == []

    assert services.notifications_send(now=OPENS + timedelta(minutes=1)) == 1
    [opened] = mails(mail_dir)
    assert "To: person@example.org" in opened
    assert "Subject: Your reporting window is open" in opened
    assert "Hello Ana," in opened
    assert "closes on March 2, 2026, 5 p.m. (America/Toronto time)" in opened

    assert services.notifications_send(now=CLOSES - timedelta(hours=2)) == 1
    # The new message (two files written within one file-system clock tick share an mtime,
    # so their order on disk says nothing).
    [closing] = [message for message in mails(mail_dir) if message != opened]
    assert "Subject: Your reporting window closes soon" in closing
    assert services.notifications_send(now=CLOSES - timedelta(hours=1)) == 0  # nothing sent twice
    assert list(Notification.objects.values_list("status", "sent_at")) == [
        ("sent", OPENS + timedelta(minutes=1)), ("sent", CLOSES - timedelta(hours=2)),
    ]


@pytest.mark.django_db
def test_reminders_are_written_in_the_clients_language(mail_dir):
    reminded_client(language="fr")
    services.notifications_send(now=OPENS)
    [opened] = mails(mail_dir)
    assert "Subject: Votre période de présentation est ouverte" in opened
    assert "Bonjour Ana," in opened
    assert "2 mars 2026 17:00" in opened


@pytest.mark.django_db
def test_no_closing_reminder_once_the_client_has_reported(mail_dir):
    client = reminded_client()
    window = ReportingWindow.objects.get(client=client)
    services.window_checkin_received(client=client, window=window, checkin_id=5, captured_at=OPENS, received_at=OPENS)
    assert services.notifications_send(now=CLOSES - timedelta(hours=1)) == 0
    assert mails(mail_dir) == []
    assert set(Notification.objects.values_list("status", flat=True)) == {"cancelled"}


@pytest.mark.django_db
def test_a_reminder_found_after_its_window_closed_is_cancelled_not_sent(mail_dir):
    reminded_client()
    assert services.notifications_send(now=CLOSES + timedelta(minutes=1)) == 0
    assert mails(mail_dir) == []
    assert set(Notification.objects.values_list("status", flat=True)) == {"cancelled"}


@pytest.mark.django_db
def test_a_client_without_an_email_address_is_not_retried(mail_dir):
    reminded_client(email="")
    assert services.notifications_send(now=OPENS) == 0
    notification = Notification.objects.get(kind="window_opened")
    assert (notification.status, notification.last_error, notification.attempts) == ("cancelled", "the client has no email address", 1)


sent_by_test_sender: list[tuple[str, str]] = []


def recording_sender(notification):
    sent_by_test_sender.append((notification.client.uci, notification.kind))


def broken_sender(notification):
    raise ConnectionRefusedError("mail server down")


@pytest.mark.django_db
def test_the_sender_is_pluggable(settings):
    settings.REPORTIN_NOTIFICATION_SENDER = "tests.test_reminders.recording_sender"
    client = reminded_client()
    sent_by_test_sender.clear()
    assert services.notifications_send(now=OPENS) == 1
    assert sent_by_test_sender == [(client.uci, "window_opened")]


@pytest.mark.django_db
def test_a_failing_sender_is_retried_later_then_given_up(settings):
    settings.REPORTIN_NOTIFICATION_SENDER = "tests.test_reminders.broken_sender"
    reminded_client(window_minutes=1440, grace_minutes=0, starts_on=date(2026, 3, 2))  # long enough for every retry
    now = OPENS
    for attempt in range(1, 6):
        assert services.notifications_send(now=now) == 0
        notification = Notification.objects.get(kind="window_opened")
        assert notification.attempts == attempt
        assert notification.last_error == "ConnectionRefusedError: mail server down"
        if attempt < 5:
            assert (notification.status, notification.send_after) == ("pending", now + timedelta(minutes=2**attempt))
            assert services.notifications_send(now=notification.send_after - timedelta(seconds=1)) == 0  # not before its time
            now = notification.send_after
    assert notification.status == "failed"


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_real_worker_sends_due_reminders_into_the_mail_folder(celery_worker):
    from django.utils import timezone

    from enforcement.tasks import notifications_send

    client = factories.client(email="worker-test@example.org")
    factories.condition(client, starts_on=timezone.localdate() - timedelta(days=1))  # a day-long window under way
    assert Notification.objects.filter(client=client, kind="window_opened", send_after__lte=timezone.now()).exists()
    folder = Path(django_settings.EMAIL_FILE_PATH)
    before = set(folder.glob("*.log")) if folder.is_dir() else set()
    notifications_send.delay()

    def new_mail():
        if not folder.is_dir():
            return None
        # Within two hours of the window's end the "closes soon" reminder is due too: look for
        # the opening one among them, whatever the hour the test runs at.
        return [
            text for text in (p.read_text() for p in set(folder.glob("*.log")) - before)
            if "worker-test@example.org" in text and "Subject: Your reporting window is open" in text
        ]

    wait_for(new_mail, timeout=60, message=f"a reminder in {folder} (worker log:\n{celery_worker.log()})")
    # The worker's mails name the person: readable by the owner only (issue 14, item 13).
    written = [p for p in set(folder.glob("*.log")) - before if "worker-test@example.org" in p.read_text()]
    assert {stat.S_IMODE(p.stat().st_mode) for p in written} == {0o600}
    sent = wait_for(
        lambda: Notification.objects.filter(client=client, kind="window_opened", status="sent").first(), timeout=30,
        message="the reminder recorded as sent",
    )
    assert sent.sent_at is not None


def appointment_for(client, *, days: int = 10, now=MONDAY_MORNING):
    from enforcement import appointments
    from enforcement.models import Office

    office = Office.objects.create(
        region=client.region, name="Toronto office", name_fr="Bureau de Toronto", address="1 Front St W", hours="Mon-Fri 8-16",
        hours_fr="lun.-ven. 8 h-16 h", phone="416-555-0100",
    )
    officer = factories.staff(f"reminder-officer-{client.pk}")
    return appointments.appointment_schedule(
        client=client, officer=officer, kind="interview", starts_at=now + timedelta(days=days), office=office,
        bring="Passport", now=now,
    ), officer


@pytest.mark.django_db
def test_appointment_reminders_reach_the_person_7_days_1_day_and_2_hours_before_in_their_language(mail_dir):
    client = factories.client(email="person@example.org", preferred_language="fr", given_name="Ana")
    appointment, _officer = appointment_for(client)
    services.notifications_send(now=MONDAY_MORNING)  # the notice that it was set
    told = len(mails(mail_dir))
    assert told == 1
    for before in (timedelta(days=7), timedelta(days=1), timedelta(hours=2)):
        assert services.notifications_send(now=appointment.starts_at - before - timedelta(seconds=1)) == 0
        assert services.notifications_send(now=appointment.starts_at - before) == 1
    reminders = mails(mail_dir)[told:]
    assert len(reminders) == 3
    # Set at 07:00 on 2 March (EST), ten days ahead: 08:00 local once daylight time began on 8 March.
    assert all("Subject: Rappel : Entrevue le 12 mars 2026 08:00" in message for message in reminders)
    assert all("Bureau de Toronto, 1 Front St W" in message and "Passport" in message for message in reminders)


@pytest.mark.django_db
def test_a_cancelled_appointment_is_not_reminded_and_a_late_reminder_is_dropped(mail_dir):
    from enforcement import appointments

    client = factories.client(email="person@example.org", given_name="Ana")
    appointment, officer = appointment_for(client, days=3)
    appointments.appointment_record(appointment=appointment, officer=officer, outcome="cancelled", reason="Postponed", now=MONDAY_MORNING)
    assert not Notification.objects.filter(appointment=appointment, status="pending").exists()
    other, _ = appointment_for(factories.client(email="b@example.org"), days=3)
    # The sender was down until after the appointment began: its reminders are cancelled, not sent.
    services.notifications_send(now=other.starts_at + timedelta(minutes=5))
    assert set(Notification.objects.filter(appointment=other).values_list("status", flat=True)) == {"cancelled"}
