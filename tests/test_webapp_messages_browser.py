"""The web app's Messages and Appointments screens (issue 18.4, 18.5) in headless Chromium at
360 px, against a live server: the person writes to the officer and sees it listed, attaches a
photo (the scikit-image astronaut, cropped and saved as a JPEG), receives an officer's message
(sent through enforcement.messages.message_send_by_officer) with the unread count in the menu,
and marks it read (the read mark checked in the database); appointments set and recorded
through enforcement.appointments are listed with when, where, what to bring and what became
of them, and read again offline from the copy kept on the phone. Once in English, once in
French. Every screenshot is checked for width, names and contrast (tests.test_webapp_browser.Screens);
they go to test-artifacts/webapp-screens/<run id>/."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from enforcement import appointments, messages
from enforcement.models import Message, Notice
from tests import factories, images
from tests.browser import screenshot_folder
from tests.conftest import make_reporter
from tests.test_office import offices
from tests.test_webapp_browser import Screens, _text, phone  # noqa: F401  (phone: the fixture)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

TORONTO = ZoneInfo("America/Toronto")


@pytest.fixture
def artifacts(capsys):
    return screenshot_folder("webapp-screens", "web app messages and appointments", capsys)


def photo_file(tmp_path):
    """A photo a person might send: the astronaut's upper half, as a phone's JPEG."""
    picture = images.astronaut().crop((0, 0, 512, 300))
    path = tmp_path / "photo-of-the-letter.jpg"
    path.write_bytes(images.jpeg(picture))
    return path


def set_up(*, language="en"):
    """A person (Ana) of the GTA with a case officer, and their appointments: an interview at
    the Toronto office in three days at 14:30 their time, a hearing two days ago they attended,
    and an in-person report last week they missed."""
    main_office = offices()
    officer = factories.staff("case-officer")
    officer.first_name, officer.last_name = "Alex", "Martin"
    officer.save()
    reporter = make_reporter(case_officer=officer, given_name="Ana", email="ana@example.org", preferred_language=language)
    client = reporter.client
    now = timezone.now()
    in_three_days = (now.astimezone(TORONTO) + timedelta(days=3)).date()
    starts = datetime(in_three_days.year, in_three_days.month, in_three_days.day, 14, 30, tzinfo=TORONTO)
    interview = appointments.appointment_schedule(
        client=client, officer=officer, kind="interview", starts_at=starts, office=main_office, bring="Your passport and this letter",
    )
    earlier = now - timedelta(days=9)
    hearing = appointments.appointment_schedule(
        client=client, officer=officer, kind="hearing", starts_at=now - timedelta(days=2), place="Immigration Division, 74 Victoria St, Toronto",
        now=earlier,
    )
    appointments.appointment_record(appointment=hearing, officer=officer, outcome="attended", now=now - timedelta(days=2, hours=-1))
    report = appointments.appointment_schedule(
        client=client, officer=officer, kind="in_person_report", starts_at=now - timedelta(days=7), office=main_office, now=earlier,
    )
    appointments.appointment_record(appointment=report, officer=officer, outcome="missed", now=now - timedelta(days=6))
    # The notices of the appointments set are read: home then shows only what the test adds.
    for notice in Notice.objects.filter(client=client):
        assert reporter.api.post(f"/api/v1/notices/{notice.pk}/read").status_code in (200, 204)
    return reporter, officer, interview


def open_app(page, live_server, reporter):
    page.goto(f"{live_server.url}/app/")
    page.evaluate("(token) => localStorage.setItem('reportin.token', JSON.stringify(token))", reporter.token)
    page.reload()


def test_messages_and_appointments_in_a_real_browser(live_server, phone, artifacts, tmp_path):  # noqa: F811
    context, page, _camera, problems = phone
    reporter, officer, interview = set_up()
    client = reporter.client
    shot = Screens(page, artifacts)
    open_app(page, live_server, reporter)
    page.get_by_role("heading", name="Hello, Ana").wait_for()

    # --- Write to the officer: listed once sent, and kept as written.
    page.get_by_role("link", name="Messages", exact=True).click()
    page.get_by_role("heading", name="Messages with your officer").wait_for()
    assert "No messages yet." in _text(page)
    shot("messages-empty")
    page.get_by_role("button", name="Send").click()  # nothing written: said beside the box, nothing sent
    page.get_by_text("Write a message first.").wait_for()
    assert not Message.objects.filter(client=client).exists()
    page.get_by_label("Write to your officer").fill("Hello, can I move Thursday's interview to the afternoon?")
    page.get_by_role("button", name="Send").click()
    page.get_by_role("status").filter(has_text="Your message was sent to your officer.").wait_for()
    mine = page.locator("li.message-mine")
    assert mine.count() == 1 and "can I move Thursday's interview" in mine.inner_text() and "You ·" in mine.inner_text()
    [sent] = Message.objects.filter(client=client)
    assert (sent.direction, sent.body, sent.attachment_kind) == ("to_officer", "Hello, can I move Thursday's interview to the afternoon?", "")
    shot("message-sent")

    # --- A photo attached (the astronaut): stored as a photo, and said so in the list.
    page.get_by_label("Write to your officer").fill("Here is the letter I got.")
    page.get_by_label("Photo or PDF (optional)").set_input_files(photo_file(tmp_path))
    page.get_by_role("button", name="Send").click()
    page.locator("li.message", has_text="Here is the letter I got.").wait_for()
    newest = page.locator("li.message").first
    assert "Here is the letter I got." in newest.inner_text() and "Photo attached" in newest.inner_text()
    with_photo = Message.objects.get(client=client, body="Here is the letter I got.")
    assert with_photo.attachment_kind == "photo" and with_photo.attachment_size > 0
    shot("message-with-photo")

    # --- The officer answers: the menu counts it when the app is opened; read, then marked read.
    answer = messages.message_send_by_officer(client=client, officer=officer, body="Yes: 15:00 on Thursday works. Bring the letter.")
    page.reload()
    page.get_by_role("link", name="Messages (1 new)").wait_for()
    shot("unread-in-menu")
    page.get_by_role("link", name="Messages (1 new)").click()
    page.get_by_role("heading", name="Messages with your officer").wait_for()
    theirs = page.locator(f'li[data-message="{answer.pk}"]')
    assert "Your officer ·" in theirs.inner_text() and "15:00 on Thursday works" in theirs.inner_text()
    assert page.locator("li.message").count() == 3
    assert theirs.get_by_text("New", exact=True).count() == 1  # unread, said in words
    shot("officer-message-unread")
    theirs.get_by_role("button", name="Mark as read").click()
    theirs.get_by_text("The message was marked as read.").wait_for()
    answer.refresh_from_db()
    assert answer.read_at is not None
    assert theirs.get_by_text("New", exact=True).count() == 0
    assert Notice.objects.get(client=client, kind="message", details__message_id=answer.pk).read_at is not None
    page.get_by_role("link", name="Messages", exact=True).wait_for()  # the menu no longer counts it
    assert page.get_by_role("link", name="Messages (1 new)").count() == 0
    shot("officer-message-read")

    # --- Appointments: upcoming with when, where and what to bring; recent with what happened.
    page.get_by_role("link", name="Appointments").click()
    page.get_by_role("heading", name="Your appointments").wait_for()
    upcoming = page.locator("section", has=page.get_by_role("heading", name="Coming up"))
    recent = page.locator("section", has=page.get_by_role("heading", name="Recent"))
    assert upcoming.locator("li").count() == 1 and recent.locator("li").count() == 2
    coming = upcoming.locator("li").inner_text()
    for words in ("Interview", "Toronto CBSA office", "6900 Airport Rd, Mississauga ON", "Monday to Friday, 8:00 to 16:00",
                  "+1 905-555-0199", "Your passport and this letter", "2:30"):
        assert words in coming, words
    assert upcoming.locator("time").get_attribute("datetime").startswith(interview.starts_at.astimezone(ZoneInfo("UTC")).strftime("%Y-%m-%dT%H:%M"))
    assert upcoming.get_by_role("link", name="+1 905-555-0199").get_attribute("href") == "tel:+19055550199"
    assert upcoming.get_by_role("heading", name="Interview", level=3).count() == 1
    past = recent.inner_text()
    assert "Hearing" in past and "Immigration Division, 74 Victoria St, Toronto" in past and "Attended" in past
    assert "In-person report" in past and "Missed" in past  # the outcome in words, not only a colour
    assert "reminded 7 days, 1 day and 2 hours before" in _text(page)
    shot("appointments")

    # --- Offline: the list kept from the last visit, with when it was fetched.
    context.set_offline(True)
    page.get_by_role("link", name="Home").click()
    page.get_by_role("heading", name="Hello, Ana").wait_for()
    page.get_by_role("link", name="Appointments").click()
    page.get_by_role("heading", name="Your appointments").wait_for()
    page.get_by_text("You are offline: this is what the app knew at").wait_for()
    assert "Toronto CBSA office" in _text(page) and "Your passport and this letter" in _text(page)
    shot("appointments-offline")
    context.set_offline(False)

    # --- A new appointment's notice leads to the screen.
    page.get_by_role("link", name="Home").click()
    appointments.appointment_reschedule(
        appointment=interview, officer=officer, starts_at=interview.starts_at + timedelta(hours=1), reason="The person asked for later.",
    )
    page.reload()
    moved = page.locator("article", has_text="Appointment moved")
    moved.wait_for()
    shot("home-appointment-notice")
    moved.get_by_role("link", name="See my appointments").click()
    page.get_by_role("heading", name="Your appointments").wait_for()
    assert "3:30" in page.locator("section", has=page.get_by_role("heading", name="Coming up")).inner_text()
    assert "Rescheduled" in page.locator("section", has=page.get_by_role("heading", name="Recent")).inner_text()
    shot("appointments-moved")
    assert problems == []


def test_messages_and_appointments_in_french(live_server, phone, artifacts, tmp_path):  # noqa: F811
    context, page, _camera, problems = phone
    reporter, officer, _interview = set_up(language="fr")
    client = reporter.client
    shot = Screens(page, artifacts)
    open_app(page, live_server, reporter)
    page.get_by_role("heading", name="Hello, Ana").wait_for()
    page.get_by_role("button", name="Français").click()
    page.get_by_role("heading", name="Bonjour, Ana").wait_for()

    page.get_by_role("link", name="Messages", exact=True).click()
    page.get_by_role("heading", name="Messages avec votre agent").wait_for()
    page.get_by_label("Écrire à votre agent").fill("Bonjour, voici la photo de la lettre.")
    page.get_by_label("Photo ou PDF (facultatif)").set_input_files(photo_file(tmp_path))
    page.get_by_role("button", name="Envoyer").click()
    page.locator("li.message", has_text="voici la photo de la lettre").wait_for()
    assert "Votre message a été envoyé à votre agent." in _text(page)
    assert "Photo jointe" in page.locator("li.message").first.inner_text()
    assert Message.objects.get(client=client).attachment_kind == "photo"
    shot("fr-message-sent")

    answer = messages.message_send_by_officer(client=client, officer=officer, body="Merci, c'est bien reçu.")
    page.reload()
    page.get_by_role("link", name="Messages (non lus : 1)").click()
    page.get_by_role("heading", name="Messages avec votre agent").wait_for()
    theirs = page.locator(f'li[data-message="{answer.pk}"]')
    assert "Votre agent ·" in theirs.inner_text()
    shot("fr-officer-message")
    theirs.get_by_role("button", name="Marquer comme lu").click()
    theirs.get_by_text("Le message a été marqué comme lu.").wait_for()
    answer.refresh_from_db()
    assert answer.read_at is not None

    page.get_by_role("link", name="Rendez-vous").click()
    page.get_by_role("heading", name="Vos rendez-vous").wait_for()
    text = _text(page)
    for words in ("À venir", "Récents", "Entrevue", "Bureau de l'ASFC à Toronto", "Du lundi au vendredi, de 8 h à 16 h", "À apporter",
                  "Your passport and this letter", "Présent", "Manqué", "14 h 30"):
        assert words in text, words
    shot("fr-appointments")
    assert problems == []
