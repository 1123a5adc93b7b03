"""Enrolment in admin: create the client, upload reference photos with the result at once,
set the condition with a preview of the next five windows in the client's local time, record
in-person consent, issue an activation code (shown once, printable, audited)."""

import re
from datetime import date, timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from PIL import Image

from enforcement import activation_locks, times
from enforcement.models import AuditEvent, Client, ConsentRecord, ReportingCondition
from reportin import services as reportin_services
from tests import factories, images
from tests.qr import qr_decoded

pytestmark = pytest.mark.django_db

CLIENTS = "/admin/enforcement/client/"


@pytest.fixture
def officer(client):
    user = factories.staff("enrolling-officer", region_code="atlantic")
    factories.staff_login(client, user)
    return user


def messages_of(response) -> list[str]:
    return [" ".join(m.split()) for m in re.findall(r'<li class="(?:success|warning|error)">(.*?)</li>', response.content.decode(), re.S)]


def test_an_officer_enrols_a_client_from_start_to_activation_code(client, officer):
    region = factories.region("atlantic")
    created = client.post(f"{CLIENTS}add/", {
        "uci": "31000001", "given_name": "Marie", "family_name": "Arsenault", "date_of_birth": "1988-04-05",
        "country_of_citizenship": "HT", "preferred_language": "fr", "region": region.pk, "time_zone": "America/St_Johns",
        "case_status": "monitored",
    })
    assert created.status_code == 302, created.content.decode()[:2000]
    person = Client.objects.get(uci="31000001")
    assert AuditEvent.objects.filter(action="client.create", actor=officer, client=person).exists()
    page = f"{CLIENTS}{person.pk}/change/"

    # Photos: the result of each upload at once, in words.
    good = client.post(f"{page[:-7]}photos/", {"photo": SimpleUploadedFile("a.jpg", images.jpeg(images.astronaut()))}, follow=True)
    assert any(re.fullmatch(r"Reference photo \d+ is ready for comparisons\.", m) for m in messages_of(good)), messages_of(good)
    bad = client.post(f"{page[:-7]}photos/", {"photo": SimpleUploadedFile("b.jpg", images.jpeg(images.scenery()))}, follow=True)
    assert any("was rejected: No face was found." in m for m in messages_of(bad)), messages_of(bad)
    not_a_photo = client.post(f"{page[:-7]}photos/", {"photo": SimpleUploadedFile("c.gif", b"GIF89a....")}, follow=True)
    assert any("The photo was refused:" in m for m in messages_of(not_a_photo))
    body = bad.content.decode()
    assert body.count("/admin/enforcement/referencephoto/") >= 2 and "status-ready" in body and "status-rejected" in body

    # Condition: a preview first (nothing saved), in the client's local time (Newfoundland).
    fields = {
        "client": person.pk, "method": "remote", "schedule": "weekly", "weekdays": [0, 2], "window_start": "09:30",
        "window_minutes": 120, "grace_minutes": 30, "starts_on": "2030-03-01",
    }
    preview = client.post("/admin/enforcement/reportingcondition/add/", {**fields, "_preview": "1"})
    assert preview.status_code == 200
    text = " ".join(re.sub(r"<[^>]+>", " ", preview.content.decode()).split())
    assert "The next five windows, in the client's local time (America/St_Johns)" in text
    rows = re.findall(r"(Mon|Wed) (2030-03-\d\d) 09:30 (?:Mon|Wed) 2030-03-\d\d 11:30 (?:Mon|Wed) 2030-03-\d\d 12:00", text)
    assert [day for _, day in rows] == ["2030-03-04", "2030-03-06", "2030-03-11", "2030-03-13", "2030-03-18"], text[-1500:]
    assert not ReportingCondition.objects.filter(client=person).exists()
    saved = client.post("/admin/enforcement/reportingcondition/add/", fields)
    assert saved.status_code == 302
    assert ReportingCondition.objects.get(client=person, active=True).window_start.hour == 9
    # The client's page shows the next windows of the condition in force.
    assert "Next windows, in the client's local time (America/St_Johns)" in client.get(page).content.decode()

    # In-person consent: recorded with the officer and the current text version.
    refused = client.post(f"{page[:-7]}consent/", {"kind": "app_use", "decision": "granted", "language": "fr"}, follow=True)
    assert any("Confirm that the client read the text" in m for m in messages_of(refused))
    for kind in ("app_use", "biometric"):
        client.post(f"{page[:-7]}consent/", {"kind": kind, "decision": "granted", "language": "fr", "confirm": "on"})
    records = ConsentRecord.objects.filter(client=person)
    assert set(records.values_list("kind", "decision", "channel", "language", "recorded_by")) == {
        ("app_use", "granted", "in_person", "fr", officer.pk), ("biometric", "granted", "in_person", "fr", officer.pk),
    }

    # Activation code: shown once in the answer, printable, audited; it activates the app.
    assert client.get(f"{page[:-7]}activation-code/").status_code == 302  # never shown by a GET
    issued = client.post(f"{page[:-7]}activation-code/")
    assert issued.status_code == 200 and "no-store" in issued["Cache-Control"]
    body = issued.content.decode()
    code = re.search(r'data-testid="activation-code">([A-Z0-9-]+)<', body).group(1)
    assert re.fullmatch(r"[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4}", code)
    assert "window.print()" in body and "@media print" in body
    assert "Valide une seule fois" in body  # the French half of the sheet, for a French-speaking client
    # The app's address, as text and as a QR code that decodes to it.
    app_url = re.search(r'data-testid="app-url">([^<]+)<', body).group(1)
    assert app_url == "http://testserver/app/"
    svg = re.search(r"<svg[^>]*app-qr.*?</svg>", body, re.S).group(0)
    assert qr_decoded(svg) == app_url
    assert AuditEvent.objects.filter(action="activation_code.issue", actor=officer, client=person).count() == 1
    assert code not in client.get(page).content.decode()
    token, device = reportin_services.device_activate(
        activation_code=code, uci=person.uci, date_of_birth=date(1988, 4, 5), device_name="phone", platform="android",
        client_address="192.0.2.9",
    )
    assert device.client == person and token


def test_a_condition_preview_of_an_in_person_condition_has_no_windows(client, officer):
    person = factories.client(region_code="atlantic")
    response = client.post("/admin/enforcement/reportingcondition/add/", {
        "client": person.pk, "method": "in_person", "schedule": "every_n_days", "interval_days": 7, "window_start": "10:00",
        "window_minutes": 60, "grace_minutes": 0, "starts_on": "2030-01-01", "_preview": "1",
    })
    assert b"No window: in-person reporting" in response.content
    assert not ReportingCondition.objects.filter(client=person).exists()


def test_an_officer_creates_clients_in_their_own_region_only(client, officer):
    response = client.post(f"{CLIENTS}add/", {
        "uci": "31000002", "given_name": "A", "family_name": "B", "date_of_birth": "1990-01-01",
        "country_of_citizenship": "HT", "preferred_language": "en", "region": factories.region("pacific").pk,
        "case_status": "monitored",
    })
    assert response.status_code == 200 and b"Select a valid choice" in response.content
    assert not Client.objects.filter(uci="31000002").exists()


def test_the_thumbnail_of_a_rejected_photo_is_shown_so_the_officer_sees_why(client, officer):
    person = factories.client(region_code="atlantic")
    factories.reference_photo(person, Image.new("RGB", (400, 400), (128, 128, 128)))
    body = client.get(f"{CLIENTS}{person.pk}/change/").content.decode()
    assert "No face was found. Take a new photo facing the camera, in good light." in body


def test_a_preview_of_an_incomplete_schedule_says_what_is_missing(client, officer):
    person = factories.client(region_code="atlantic")
    response = client.post("/admin/enforcement/reportingcondition/add/", {
        "client": person.pk, "method": "remote", "schedule": "every_n_days", "window_start": "10:00",
        "window_minutes": 60, "grace_minutes": 0, "starts_on": "2030-01-01", "_preview": "1",
    })
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["interval_days"] == ["This schedule needs this field."]
    assert b"The next five windows" not in response.content


def test_a_preview_when_replacing_the_active_condition(client, officer):
    person = factories.client(region_code="atlantic")
    factories.condition(person)
    response = client.post("/admin/enforcement/reportingcondition/add/", {
        "client": person.pk, "method": "remote", "schedule": "monthly", "day_of_month": 31,
        "window_start": "10:00", "window_minutes": 60, "grace_minutes": 0, "starts_on": "2031-01-01", "_preview": "1",
    })
    text = " ".join(re.sub(r"<[^>]+>", " ", response.content.decode()).split())
    # Day 31 is the last day of shorter months.
    assert re.findall(r"\w{3} (2031-\d\d-\d\d) 10:00", text) == ["2031-01-31", "2031-02-28", "2031-03-31", "2031-04-30", "2031-05-31"], text[-800:]


def page_text(response) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", response.content.decode()).split())


def test_the_client_page_shows_the_activation_lock_and_a_new_code_clears_it(client, officer):
    person = factories.client(region_code="atlantic")
    page = f"{CLIENTS}{person.pk}/change/"
    assert "activation-lock" not in client.get(page).content.decode()
    now = timezone.now()
    wrong = {"activation_code": "WRONG-CODE-0000", "uci": person.uci, "date_of_birth": person.date_of_birth, "device_name": "p", "platform": "ios"}
    for number in range(2):
        with pytest.raises(reportin_services.DomainError):
            reportin_services.device_activate(**wrong, client_address=f"198.51.100.{number}", now=now)
    assert "2 failed activation attempts in the last day, from 2 addresses (not locked)." in page_text(client.get(page))
    for number in range(activation_locks.FREE_FAILURES[activation_locks.Scope.UCI] - 2):
        with pytest.raises(reportin_services.DomainError):
            reportin_services.device_activate(**wrong, client_address=f"198.51.100.{number % 5}", now=now)
    # In the client's local zone, named (issue 17.8).
    until = times.shown(now + timedelta(minutes=1), "America/Halifax")
    text = page_text(client.get(page))
    assert (
        f"Activation is locked for this UCI from every address until {until}, after 20 failed attempts from 5 addresses." in text
    ), text[-1500:]
    assert "Issuing a new activation code clears the lock." in text

    assert client.post(f"{page[:-7]}activation-code/").status_code == 200
    assert AuditEvent.objects.filter(action="activation_lock.clear", actor=officer, client=person).count() == 1
    assert "activation-lock" not in client.get(page).content.decode()


def test_a_lock_from_some_addresses_only_is_shown_as_such(client, officer):
    person = factories.client(region_code="atlantic")
    wrong = {"activation_code": "WRONG-CODE-0000", "uci": person.uci, "date_of_birth": person.date_of_birth, "device_name": "p", "platform": "ios"}
    for _number in range(5):
        with pytest.raises(reportin_services.DomainError):
            reportin_services.device_activate(**wrong, client_address="198.51.100.9")
    text = page_text(client.get(f"{CLIENTS}{person.pk}/change/"))
    assert "Activation is locked for this UCI from some addresses until" in text and "after 5 failed attempts from 1 address." in text
