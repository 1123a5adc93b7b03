"""Enrolling a client's reporting condition in a real browser (issue 17.5): an officer of the
Greater Toronto Area opens the client's enrolment checklist, sets a weekly Monday, Wednesday
and Friday condition by ticking boxes, centres the permitted area on an office (its
coordinates fill in, and stay editable), previews it in words in Toronto time, saves, and is
back on the checklist with the condition in force. A weekly condition with no day ticked is
refused with a clear message first. axe-core checks the form with its errors and the preview.
Screenshots under test-artifacts/condition/<run id>/."""

import pytest

from enforcement import services
from enforcement.models import ReportingCondition
from tests import axe, factories
from tests.staff_browser import enrol_authenticator, sign_in

pytestmark = pytest.mark.browser


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_an_officer_sets_a_monday_wednesday_friday_condition_by_ticking_boxes(live_server, staff_browser_for_axe, screenshots):
    page, problems = staff_browser_for_axe
    officer = factories.staff("condition-browser-officer", region_code="gta")
    secret = enrol_authenticator(officer)
    office = services.office_save(
        office=None, by=factories.staff("office-admin", role="Supervisor", region_code=None), changes={
            "region": factories.region("gta"), "name": "Toronto CBSA office", "name_fr": "Bureau de l'ASFC à Toronto",
            "address": "6900 Airport Rd, Mississauga ON", "hours": "Monday to Friday, 8:00 to 16:00",
            "hours_fr": "Du lundi au vendredi, de 8 h à 16 h", "phone": "+1 905-555-0199", "latitude": 43.6777, "longitude": -79.6248,
        },
    )
    person = factories.client(region_code="gta", family_name="Okafor", given_name="Ada")
    checklist = f"/admin/enforcement/client/{person.pk}/change/"
    sign_in(page, live_server.url, officer, secret, next_path=checklist)

    # --- From the checklist to the condition form.
    page.locator("#enrolment-condition").get_by_role("link", name="Set the reporting condition").click()
    page.get_by_role("heading", name="Add reporting condition").wait_for()
    form = page.locator("#reportingcondition_form")
    # Only the weekly schedule's field shows: the boxes of the days.
    assert form.locator(".field-weekdays").is_visible() and not form.locator(".field-interval_days").is_visible()

    form.get_by_label("Window opens (local time)").fill("09:00")
    form.get_by_label("Window length (minutes)").fill("480")
    form.get_by_label("Starts on").fill("2030-03-01")
    form.get_by_label("Centre of the permitted area: an office").select_option(label="Toronto CBSA office (Greater Toronto Area)")
    assert form.get_by_label("Permitted area: centre latitude").input_value() == "43.6777"
    assert form.get_by_label("Permitted area: centre longitude").input_value() == "-79.6248"
    form.get_by_label("Permitted area: radius (km)").fill("25")

    # --- No day ticked: refused, in words, nothing saved.
    page.get_by_role("button", name="Preview the next five windows").click()
    page.get_by_text("Tick at least one day of the week.").wait_for()
    page.screenshot(path=screenshots / "01-no-day-ticked.png", full_page=True)
    assert axe.serious_violations(page) == []

    # --- Tick Monday, Wednesday and Friday; preview in words, in Toronto time.
    for day in ("Monday", "Wednesday", "Friday"):
        page.locator("#reportingcondition_form").get_by_label(day, exact=True).check()
    page.get_by_role("button", name="Preview the next five windows").click()
    summary = page.locator("#condition-summary")
    summary.wait_for()
    assert "Mondays, Wednesdays and Fridays, 09:00-17:00 Toronto time" in summary.inner_text()
    assert "Within 25 km of Toronto CBSA office (43.67770, -79.62480)" in summary.inner_text()
    rows = page.locator("#condition-preview tbody tr")
    opens = [row.split("\t")[0] for row in rows.all_inner_texts()]
    assert opens == ["Fri 2030-03-01 09:00", "Mon 2030-03-04 09:00", "Wed 2030-03-06 09:00", "Fri 2030-03-08 09:00", "Mon 2030-03-11 09:00"]
    page.screenshot(path=screenshots / "02-preview.png", full_page=True)
    assert axe.serious_violations(page) == []
    assert not ReportingCondition.objects.filter(client=person).exists()

    # --- Save: back on the checklist, the condition in force, the buttons below the checklist.
    page.locator("#reportingcondition_form").get_by_role("button", name="Save", exact=True).click()
    page.wait_for_url(f"{live_server.url}{checklist}#enrolment-condition")
    message = page.locator(".messagelist")
    assert "Mondays, Wednesdays and Fridays, 09:00-17:00 Toronto time" in message.inner_text()
    section = page.locator("#enrolment-condition")
    assert "Mondays, Wednesdays and Fridays, 09:00-17:00 Toronto time" in section.inner_text()
    checklist_bottom = page.locator("#enrolment").bounding_box()
    buttons_top = page.locator("#client_form .submit-row").last.bounding_box()
    assert checklist_bottom["y"] + checklist_bottom["height"] <= buttons_top["y"]
    page.screenshot(path=screenshots / "03-checklist.png", full_page=True)

    condition = ReportingCondition.objects.get(client=person, active=True)
    assert condition.weekdays == 0b0010101 and condition.created_by_id == officer.pk
    assert (condition.area_latitude, condition.area_longitude, condition.area_radius_km) == (office.latitude, office.longitude, 25)
    assert problems == []
