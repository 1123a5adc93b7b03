"""Keyboard and screen readers across the back office (issue 17.9), in a real browser:
axe-core finds no serious or critical violation (WCAG 2.1 A/AA and axe's best practices:
landmarks, contrast, names) on the landing page, the triage queue, a task page, a client's
page and the condition form; the first Tab stop is a skip link that moves the focus to the
content; the triage queue is reached in under 5 Tab stops from the top of every admin page.
The same holds for a supervisor's pages (the sign-off inbox, the workload by officer), the
case view of one person's open tasks, and the auditors' accountability dashboard.
Screenshots under test-artifacts/admin_a11y/<run id>/."""

from datetime import timedelta

import pytest
from django.utils import timezone

from enforcement import roles, services
from tests import axe, factories
from tests.officer import face_task, window_task
from tests.staff_browser import enrol_authenticator, sign_in

pytestmark = pytest.mark.browser

QUEUE = "/admin/enforcement/investigationtask/"


def from_the_top(page, url: str) -> None:
    """Load the page and put the keyboard at its top (an add form focuses its first field on
    load; a person starting from the top has the skip link next)."""
    page.goto(url)
    page.evaluate(
        """() => { const top = document.createElement("span"); top.tabIndex = -1; top.id = "test-top";
                   document.body.prepend(top); top.focus(); }"""
    )


def tab_stops_to(page, url: str, href_end: str, limit: int = 10) -> int | None:
    """How many Tab presses from the top of the page focus a link whose href ends so."""
    from_the_top(page, url)
    for stops in range(1, limit + 1):
        page.keyboard.press("Tab")
        href = page.evaluate("() => document.activeElement && document.activeElement.getAttribute('href')")
        if href and href.split("?")[0].endswith(href_end):
            return stops
    return None


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_admin_pages_pass_axe_and_the_keyboard_reaches_the_queue(live_server, staff_browser_for_axe, screenshots):
    page, problems = staff_browser_for_axe
    axe.source()  # fetched (or skipped) before anything else
    officer = factories.staff("a11y-officer", region_code="gta")
    secret = enrol_authenticator(officer)
    case = face_task(region_code="gta", family_name="Tremblay")
    person = case["client"]
    # Before signing in: the login page.
    page.goto(f"{live_server.url}/admin/login/")
    page.screenshot(path=screenshots / "00-login.png", full_page=True)
    assert axe.serious_violations(page) == []
    sign_in(page, live_server.url, officer, secret)

    pages = {
        "landing": "/admin/",
        "queue": QUEUE,
        "task": f"{QUEUE}{case['task'].pk}/change/",
        "client": f"/admin/enforcement/client/{person.pk}/change/",
        "condition-form": f"/admin/enforcement/reportingcondition/add/?client={person.pk}",
    }
    found, stops, landmarks, skips = {}, {}, {}, {}
    for number, (name, path) in enumerate(pages.items(), start=1):
        page.goto(f"{live_server.url}{path}")
        page.locator("main#content-start").wait_for()
        page.screenshot(path=screenshots / f"{number:02d}-{name}.png", full_page=True)
        found[name] = axe.serious_violations(page)

        # Landmarks a screen reader lists, and the keyboard's way in.
        landmarks[name] = [page.locator(tag).count() >= 1 for tag in ("header", "nav", "main")]
        stops[name] = tab_stops_to(page, f"{live_server.url}{path}", QUEUE)
        from_the_top(page, f"{live_server.url}{path}")
        page.keyboard.press("Tab")
        skip = page.evaluate("() => [document.activeElement.className, document.activeElement.getAttribute('href')]")
        page.keyboard.press("Enter")
        skips[name] = [*skip, page.evaluate("() => document.activeElement.id")]
    print(found, stops, landmarks, skips)
    assert found == {name: [] for name in pages}, found
    assert landmarks == {name: [True, True, True] for name in pages}, landmarks
    assert skips == {name: ["skip-to-content-link", "#content-start", "content-start"] for name in pages}, skips
    assert all(count is not None and count < 5 for count in stops.values()), stops
    assert problems == []


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_supervisors_pages_the_case_view_and_the_dashboard_pass_axe(live_server, staff_browser_for_axe, screenshots):
    page, problems = staff_browser_for_axe
    axe.source()
    supervisor = factories.staff("a11y-supervisor", role=roles.SUPERVISOR, region_code="gta")
    officer = factories.staff("a11y-officer", region_code="gta")
    secret = enrol_authenticator(supervisor)
    # One person with two open tasks (the case view), one of them assigned to the officer and
    # proposed for escalation by them (the inbox, the workload), another person's task overdue.
    first = window_task(family_name="Nakamura")
    window = factories.window(first.client, opens_at=timezone.now() - timedelta(hours=3), minutes=60)
    second, _ = services.task_open(client=first.client, reason="location_outside_area", window=window)
    services.task_assign(task=first, assignee=officer, by=officer)
    services.escalation_propose(task=first, kind="case_review", reason="Two misses in a week; the address is uncertain.", by=officer)
    window_task(family_name="Okonkwo", created_at=timezone.now() - timedelta(days=5))
    sign_in(page, live_server.url, supervisor, secret)

    pages = {
        "signoff-inbox": ("/admin/sign-offs/", "#signoff-inbox tbody tr"),
        "workload": ("/admin/workload/", "#workload tbody tr[data-officer=a11y-officer]"),
        "case-view": (f"{QUEUE}{first.pk}/case/", f"input[name=tasks][value='{second.pk}']"),
        "task-to-sign-off": (f"{QUEUE}{first.pk}/change/", "input[name=approve]"),
        "accountability-dashboard": ("/admin/accountability/", "#audit-verify"),
    }
    found, skips = {}, {}
    for number, (name, (path, content)) in enumerate(pages.items(), start=10):
        page.goto(f"{live_server.url}{path}")
        page.locator("main#content-start").wait_for()
        page.locator(content).first.wait_for()  # the page shows what it is for, not an empty state
        page.screenshot(path=screenshots / f"{number:02d}-{name}.png", full_page=True)
        found[name] = axe.serious_violations(page)
        from_the_top(page, f"{live_server.url}{path}")
        page.keyboard.press("Tab")
        page.keyboard.press("Enter")
        skips[name] = page.evaluate("() => document.activeElement.id")
    print(found)
    assert found == {name: [] for name in pages}, found
    assert skips == {name: "content-start" for name in pages}, skips
    assert tab_stops_to(page, f"{live_server.url}/admin/workload/", QUEUE) < 5
    assert problems == []


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_sign_off_forms_note_label_names_its_own_field(live_server, staff_browser):
    page, problems = staff_browser
    supervisor = factories.staff("a11y-label-supervisor", role=roles.SUPERVISOR, region_code="gta")
    officer = factories.staff("a11y-label-officer", region_code="gta")
    secret = enrol_authenticator(supervisor)
    task = window_task(family_name="Quispe")
    services.escalation_propose(task=task, kind="case_review", reason="The address is uncertain.", by=officer)
    sign_in(page, live_server.url, supervisor, secret, next_path=f"{QUEUE}{task.pk}/change/")
    signoff = page.locator('section.decide form[action*="/sign-off/"]')
    # Clicking the label moves the focus to the field it names, as a person expects.
    signoff.locator("label", has_text="Note").click()
    assert page.evaluate("() => document.activeElement.form.action").split("?")[0].endswith("/sign-off/")
    assert page.evaluate("() => document.activeElement.id") == "id_signoff_note"
    assert signoff.get_by_label("Note").count() == 1
    assert problems == []
