"""Keyboard and screen readers across the back office (issue 17.9), in a real browser:
axe-core finds no serious or critical violation (WCAG 2.1 A/AA and axe's best practices:
landmarks, contrast, names) on the landing page, the triage queue, a task page, a client's
page and the condition form; the first Tab stop is a skip link that moves the focus to the
content; the triage queue is reached in under 5 Tab stops from the top of every admin page.
Screenshots under test-artifacts/admin_a11y/<run id>/."""

import pytest

from tests import axe, factories
from tests.officer import face_task
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
