"""Triage in a real browser with "save and next" and the keyboard (issue 17.3): an officer of the
Greater Toronto Area filters the queue to missed reports, opens the first, logs a note with
"t" (typing j and k in it moves nowhere), chooses a resolution with "r" and sends it with
Ctrl+Enter ("save and next"), moves with "j" and "k", opens the escalation with "e", and
triages three tasks in the queue's order without going back to the queue; a task of another
reason, filtered out, is left alone. The page runs under the admin's Content-Security-Policy.
Screenshots under test-artifacts/casework/<run id>/."""

from datetime import timedelta

import pytest
from django.utils import timezone

from enforcement.models import InvestigationTask
from tests import factories
from tests.officer import window_task
from tests.staff_browser import enrol_authenticator, sign_in

pytestmark = pytest.mark.browser

TASKS = "/admin/enforcement/investigationtask/"


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_an_officer_triages_three_tasks_with_save_and_next_and_the_keyboard(live_server, staff_browser, screenshots):
    page, problems = staff_browser
    officer = factories.staff("casework-browser-officer", region_code="gta")
    secret = enrol_authenticator(officer)
    now = timezone.now()
    first = window_task(priority=3, created_at=now - timedelta(hours=4), family_name="Alpha")
    elsewhere = window_task(reason="location_outside_area", priority=3, created_at=now - timedelta(hours=3), family_name="Bravo")
    third = window_task(priority=2, created_at=now - timedelta(hours=2), family_name="Charlie")
    second = window_task(priority=3, created_at=now - timedelta(hours=1), family_name="Delta")
    queue = f"{TASKS}?reason__exact=missed_report"
    sign_in(page, live_server.url, officer, secret, next_path=queue)
    page.screenshot(path=screenshots / "01-queue.png", full_page=True)

    page.locator("#result_list a", has_text="Missed report").first.click()
    page.wait_for_url(f"**{TASKS}{first.pk}/change/?_changelist_filters=*")
    assert page.locator("#shortcuts").is_visible()
    # "t": the note field; j and k typed there move nowhere.
    page.keyboard.press("t")
    assert page.evaluate("document.activeElement.id") == "note-text"
    page.keyboard.type("Left a voicemail; will try again. j k")
    assert f"{TASKS}{first.pk}/change/" in page.url
    page.get_by_role("button", name="Add to the task (it stays open)").click()
    page.wait_for_url(f"**{TASKS}{first.pk}/change/?*#notes")
    assert page.locator(".notes-list").inner_text().count("Left a voicemail; will try again. j k") == 1
    page.screenshot(path=screenshots / "02-note-added.png", full_page=True)
    # "r": the resolution; the note; Ctrl+Enter saves and goes to the next task in the queue's order.
    page.keyboard.press("Escape")
    page.locator("body").click(position={"x": 5, "y": 5})
    page.keyboard.press("r")
    assert page.evaluate("document.activeElement.id") == "id_resolution"
    page.select_option("#id_resolution", "contact_made")
    page.locator("#id_note").fill("Reached by phone.")
    page.keyboard.press("Control+Enter")
    page.wait_for_url(f"**{TASKS}{second.pk}/change/?_changelist_filters=*")
    assert "resolved: Contact made." in page.locator(".messagelist").inner_text()
    page.screenshot(path=screenshots / "03-second-task.png", full_page=True)

    # "j" and "k": next and previous without deciding.
    page.keyboard.press("j")
    page.wait_for_url(f"**{TASKS}{third.pk}/change/?_changelist_filters=*")
    page.keyboard.press("k")
    page.wait_for_url(f"**{TASKS}{second.pk}/change/?_changelist_filters=*")
    page.select_option("#id_resolution", "no_action")
    page.locator("#id_note").fill("Reported the next morning at the office.")
    page.get_by_role("button", name="Save and next").click()
    page.wait_for_url(f"**{TASKS}{third.pk}/change/?_changelist_filters=*")

    # "e": the escalation, opened, its first field ready.
    page.keyboard.press("e")
    assert page.locator("#escalate-details").get_attribute("open") is not None
    assert page.evaluate("document.activeElement.id") == "id_kind"
    page.screenshot(path=screenshots / "04-escalation-open.png", full_page=True)
    page.keyboard.press("Escape")
    page.select_option("#id_resolution", "excused")
    page.locator("#id_note").fill("Hospital stay, letter seen.")
    page.keyboard.press("Control+Enter")
    page.wait_for_url(f"**{queue}")
    assert "No more open tasks in this queue." in page.locator(".messagelist").inner_text()
    page.screenshot(path=screenshots / "05-queue-done.png", full_page=True)

    statuses = dict(InvestigationTask.objects.filter(pk__in=[first.pk, second.pk, third.pk, elsewhere.pk]).values_list("pk", "resolution"))
    assert statuses == {first.pk: "contact_made", second.pk: "no_action", third.pk: "excused", elsewhere.pk: ""}
    assert first.notes.filter(kind="note", author=officer).count() == 1
    assert problems == []
