"""The reporting-condition form for people (issue 17.5): days of the week as boxes to tick,
the permitted area centred on an office (or coordinates typed in) with a radius, the schedule
in words in the client's local time, Save back to the client's enrolment checklist, which
sits above the client form's buttons; clear messages for what is wrong, nothing saved."""

import re
from datetime import date, time

import pytest
from django.utils import translation

from enforcement import condition_words, services
from enforcement.models import AuditEvent, Office, ReportingCondition
from tests import factories

pytestmark = pytest.mark.django_db

ADD = "/admin/enforcement/reportingcondition/add/"
MON_WED_FRI = [0, 2, 4]


@pytest.fixture
def officer(client):
    user = factories.staff("condition-officer", region_code="gta")
    factories.staff_login(client, user)
    return user


@pytest.fixture
def office():
    admin = factories.staff("office-admin", role="Supervisor", region_code=None)
    return services.office_save(
        office=None, by=admin, changes={
            "region": factories.region("gta"), "name": "Toronto CBSA office", "name_fr": "Bureau de l'ASFC à Toronto",
            "address": "6900 Airport Rd, Mississauga ON", "hours": "Monday to Friday, 8:00 to 16:00",
            "hours_fr": "Du lundi au vendredi, de 8 h à 16 h", "phone": "+1 905-555-0199", "latitude": 43.6777, "longitude": -79.6248,
        },
    )


def weekly(person, **overrides) -> dict:
    fields = {
        "client": person.pk, "method": "remote", "schedule": "weekly", "weekdays": MON_WED_FRI, "window_start": "09:00",
        "window_minutes": 480, "grace_minutes": 60, "starts_on": "2030-03-01",
    }
    fields.update(overrides)
    return {name: value for name, value in fields.items() if value is not None}


def text_of(response) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", response.content.decode()).split())


def errors_of(response) -> dict:
    return {name: list(errors) for name, errors in response.context["adminform"].form.errors.items()}


def test_the_form_offers_the_days_as_boxes_to_tick_and_the_offices_as_centres(client, officer, office):
    person = factories.client(region_code="gta")
    body = client.get(f"{ADD}?client={person.pk}").content.decode()
    boxes = re.findall(r'<input type="checkbox" name="weekdays" value="(\d)"[^>]*>', body)
    assert boxes == ["0", "1", "2", "3", "4", "5", "6"]
    assert re.findall(r'<input type="checkbox" name="weekdays" value="\d" id="id_weekdays_\d">\s*(\w+)</label>', body) == [
        "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday",
    ]
    offices = re.search(r'<select name="area_office".*?</select>', body, re.S).group(0)
    option = re.search(rf'<option value="{office.pk}"[^>]*>', offices).group(0)
    assert 'data-latitude="43.6777"' in option and 'data-longitude="-79.6248"' in option
    assert 'name="area_latitude"' in body and 'name="area_longitude"' in body  # shown and editable
    assert "/static/enforcement/condition_form.js" in body
    assert f'href="/admin/enforcement/client/{person.pk}/change/#enrolment-condition"' in body  # the way back


def test_ticking_monday_wednesday_and_friday_previews_in_words_then_saves_back_to_the_checklist(client, officer, office):
    person = factories.client(region_code="gta")
    preview = client.post(ADD, {**weekly(person, area_office=office.pk, area_radius_km="25"), "_preview": "1"})
    assert preview.status_code == 200
    text = text_of(preview)
    assert "Mondays, Wednesdays and Fridays, 09:00-17:00 Toronto time" in text
    assert "Within 25 km of Toronto CBSA office (43.67770, -79.62480)" in text
    # The office's coordinates are filled in, and left editable.
    assert re.search(r'name="area_latitude" value="43.6777"', preview.content.decode())
    assert not ReportingCondition.objects.filter(client=person).exists()

    saved = client.post(ADD, weekly(person, area_office=office.pk, area_radius_km="25"))
    assert saved.status_code == 302
    assert saved["Location"] == f"/admin/enforcement/client/{person.pk}/change/#enrolment-condition"
    condition = ReportingCondition.objects.get(client=person, active=True)
    assert condition.weekdays == 0b0010101
    assert (condition.area_latitude, condition.area_longitude, condition.area_radius_km) == (43.6777, -79.6248, 25)
    assert AuditEvent.objects.filter(action="condition.set", actor=officer, client=person).count() == 1

    page = client.get(saved["Location"])
    text = text_of(page)
    assert (
        f"The reporting condition of {person} is saved: Mondays, Wednesdays and Fridays, 09:00-17:00 Toronto time." in text
    )
    assert "Within 25 km of Toronto CBSA office" in page.content.decode()
    # The checklist sits above the client form's buttons, inside the page's main form area.
    body = page.content.decode()
    assert body.index('id="enrolment-condition"') < body.index('class="submit-row"') < body.index('id="enrolment-photo-form"')


def test_typed_coordinates_win_over_the_office_chosen(client, officer, office):
    person = factories.client(region_code="gta")
    saved = client.post(ADD, weekly(person, area_office=office.pk, area_latitude="43.7001", area_longitude="-79.4163", area_radius_km="2.5"))
    assert saved.status_code == 302
    condition = ReportingCondition.objects.get(client=person, active=True)
    assert (condition.area_latitude, condition.area_longitude, condition.area_radius_km) == (43.7001, -79.4163, 2.5)
    assert "Within 2.5 km of 43.70010, -79.41630" in text_of(client.get(saved["Location"]))


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"weekdays": None}, "weekdays", "Tick at least one day of the week."),
        ({"weekdays": ["7"]}, "weekdays", "Select a valid choice. 7 is not one of the available choices."),
        ({"area_latitude": "95", "area_longitude": "-79.4", "area_radius_km": "5"}, "area_latitude", "A latitude is between -90 and 90 degrees."),
        ({"area_latitude": "43.7", "area_longitude": "-200", "area_radius_km": "5"}, "area_longitude", "A longitude is between -180 and 180 degrees."),
        ({"area_latitude": "43.7", "area_radius_km": "5"}, "area_longitude", "Give both the latitude and the longitude of the centre."),
        ({"area_latitude": "43.7", "area_longitude": "-79.4"}, "area_radius_km", "Give the radius of the permitted area around its centre."),
        ({"area_radius_km": "5"}, "area_office", "Choose an office or type the coordinates of the centre of the permitted area."),
        ({"area_latitude": "43.7", "area_longitude": "-79.4", "area_radius_km": "0"}, "area_radius_km", "The radius is more than 0 and at most 1000 km."),
        ({"ends_on": "2030-02-01"}, "ends_on", "The end date is before the start date."),
    ],
)
def test_a_wrong_condition_says_what_is_wrong_and_saves_nothing(client, officer, overrides, field, message):
    person = factories.client(region_code="gta")
    response = client.post(ADD, weekly(person, **overrides))
    assert response.status_code == 200
    assert errors_of(response)[field] == [message]
    assert message in response.content.decode().replace("&#x27;", "'")
    assert not ReportingCondition.objects.filter(client=person).exists()


def test_an_office_of_another_region_is_not_offered(client, officer, office):
    other = services.office_save(
        office=None, by=factories.staff("admin-2", role="Supervisor", region_code=None), changes={
            "region": factories.region("quebec"), "name": "Montréal office", "name_fr": "Bureau de Montréal", "address": "1 rue X",
            "hours": "9-5", "hours_fr": "9 h-17 h", "phone": "+1 514-555-0100", "latitude": 45.5, "longitude": -73.56,
        },
    )
    person = factories.client(region_code="gta")
    offices = re.search(r'<select name="area_office".*?</select>', client.get(ADD).content.decode(), re.S).group(0)
    assert f'<option value="{other.pk}"' not in offices and "Toronto CBSA office" in offices
    response = client.post(ADD, weekly(person, area_office=other.pk, area_radius_km="5"))
    assert "area_office" in errors_of(response)
    assert not ReportingCondition.objects.filter(client=person).exists()


def test_the_days_ticked_for_another_schedule_are_not_kept(client, officer):
    person = factories.client(region_code="gta")
    assert client.post(ADD, weekly(person, schedule="every_n_days", interval_days="2")).status_code == 302
    assert ReportingCondition.objects.get(client=person, active=True).weekdays == 0


def test_the_checklist_forms_sit_above_the_buttons_and_still_post_to_their_own_views(client, officer):
    person = factories.client(region_code="gta")
    body = client.get(f"/admin/enforcement/client/{person.pk}/change/").content.decode()
    main_form_end = body.index("</form>", body.index('id="client_form"'))
    # Every field of the checklist names its own form, which comes after the client form (forms cannot nest).
    for form_id, action in (
        ("enrolment-photo-form", "photos/"), ("enrolment-consent-form", "consent/"), ("enrolment-activation-form", "activation-code/"),
    ):
        assert body.index(f'form="{form_id}"') < body.index('class="submit-row"') < main_form_end
        start = body.index(f'<form id="{form_id}"')
        assert start > main_form_end and f'action="/admin/enforcement/client/{person.pk}/{action}"' in body[start:start + 300]
    assert re.search(r'<input type="file" name="photo"[^>]*form="enrolment-photo-form"', body)
    assert re.search(r'<select name="kind"[^>]*form="enrolment-consent-form"', body)


def test_the_summary_names_days_times_and_zone_in_both_languages():
    condition = ReportingCondition(
        method="remote", schedule="weekly", weekdays=0b0010101, window_start=time(9, 0), window_minutes=480,
    )
    assert condition_words.condition_summary(condition, "America/Toronto") == "Mondays, Wednesdays and Fridays, 09:00-17:00 Toronto time"
    with translation.override("fr"):
        assert condition_words.condition_summary(condition, "America/Toronto") == "Les lundis, mercredis et vendredis, 09:00-17:00 heure de Toronto"
    condition.weekdays, condition.window_minutes = 0b1000000, 20 * 60
    assert condition_words.condition_summary(condition, "America/St_Johns") == "Sundays, 09:00-05:00 the next day St Johns time"
    condition.weekdays = 127
    assert condition_words.condition_summary(condition, "America/Vancouver").startswith("Every day, ")
    condition.schedule, condition.interval_days, condition.starts_on = "every_n_days", 3, date(2030, 3, 1)
    condition.window_minutes = 60
    assert condition_words.condition_summary(condition, "America/Halifax") == "Every 3 days from 2030-03-01, 09:00-10:00 Halifax time"
    with translation.override("fr"):
        assert condition_words.condition_summary(condition, "America/Halifax") == "Tous les 3 jours à partir du 2030-03-01, 09:00-10:00 heure de Halifax"
    condition.schedule, condition.day_of_month, condition.method = "monthly", 15, "in_person"
    assert condition_words.condition_summary(condition, "America/Halifax") == "In person: on day 15 of each month, 09:00-10:00 Halifax time"


def test_the_form_speaks_french_to_a_french_speaking_officer(client, officer, office):
    person = factories.client(region_code="gta")
    body = client.get(f"{ADD}?client={person.pk}", HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert 'role="group" aria-label="Jours de la semaine"' in body
    assert re.findall(r'id="id_weekdays_\d">\s*(\w+)</label>', body)[:3] == ["lundi", "mardi", "mercredi"]
    assert "Centre de la zone permise : un bureau" in body and "Zone permise" in body
    refused = client.post(ADD, weekly(person, weekdays=None), HTTP_ACCEPT_LANGUAGE="fr")
    assert "Cochez au moins un jour de la semaine." in refused.content.decode()
    saved = client.post(ADD, weekly(person), HTTP_ACCEPT_LANGUAGE="fr", follow=True)
    assert "Les lundis, mercredis et vendredis, 09:00-17:00 heure de Toronto" in text_of(saved)


def test_a_supervisor_gives_an_office_its_coordinates_in_admin_audited(client):
    supervisor = factories.staff("office-supervisor", role="Supervisor", region_code=None)
    factories.staff_login(client, supervisor)
    fields = {
        "region": factories.region("gta").pk, "name": "Scarborough office", "name_fr": "Bureau de Scarborough", "address": "1 Main St",
        "hours": "9-5", "hours_fr": "9 h-17 h", "phone": "+1 416-555-0101", "active": "on",
    }
    assert client.post("/admin/enforcement/office/add/", {**fields, "latitude": "95", "longitude": "-79.2"}).status_code == 200
    assert client.post("/admin/enforcement/office/add/", {**fields, "latitude": "43.7764", "longitude": "-79.2318"}).status_code == 302
    office = Office.objects.get(name="Scarborough office")
    assert (office.latitude, office.longitude) == (43.7764, -79.2318)
    event = AuditEvent.objects.get(action="office.create", actor=supervisor)
    assert (event.details["latitude"], event.details["longitude"]) == ("43.7764", "-79.2318")
