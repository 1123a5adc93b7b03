"""The officer workspace in a real browser: headless Chromium (Debian's package, driven by
Playwright: no browser is downloaded) against a live server on the configured database
(PostgreSQL in CI).

An officer of the Greater Toronto Area logs in, opens the triage queue, opens a face
non-match task, sees the selfie and the reference photo load (status 200, a non-zero natural
size, each recorded in the access log), resolves it as identity confirmed and sees it leave
the open queue (the check-in verified, its window satisfied); then types the URL of a Quebec
task and is refused. Screenshots of the queue and the task page are saved under
test-artifacts/officer/<run id>/, and the test prints that folder.
"""

import re

import pytest

from enforcement.models import AccessRecord, BlindAnswer, InvestigationTask, ReportingWindow
from reportin.models import CheckIn
from tests import factories
from tests.officer import face_task, window_task
from tests.staff_browser import enrol_authenticator, sign_in

pytestmark = pytest.mark.browser


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_an_officer_resolves_a_face_non_match_in_a_real_browser(live_server, staff_browser, screenshots):
    page, problems = staff_browser
    officer = factories.staff("browser-officer", region_code="gta")
    secret = enrol_authenticator(officer)
    case = face_task(region_code="gta", family_name="Tremblay")
    task = case["task"]
    assert case["match"].decision == "non_match"
    elsewhere = window_task(region_code="quebec", family_name="Lavoie")

    images = {}  # url -> status of every biometric image the browser fetched

    def record(response):
        if re.search(r"/(selfie|reference/\d+)/(\?face=1)?$", response.url):
            images[response.url] = response.status

    page.on("response", record)

    # --- Log in as the officer: password, then the authenticator app's code (enrolled beforehand;
    # security keys are tested in test_staff_webauthn_browser).
    sign_in(page, live_server.url, officer, secret, next_path="/admin/enforcement/investigationtask/")

    # --- The queue: the region's open tasks, the face non-match among them, counts per reason.
    page.get_by_role("heading", name="Triage queue — Greater Toronto Area").wait_for()
    queue = page.locator("#result_list")
    row = queue.locator("tr", has_text=case["client"].uci)
    row.wait_for()
    assert "Face does not match" in row.inner_text()
    assert "Lavoie" not in queue.inner_text()  # Quebec's task is not in this officer's queue
    assert "Face does not match: 1" in page.locator("#reason-counts").inner_text()
    page.screenshot(path=screenshots / "01-queue.png", full_page=True)

    # --- The task page: both photos load, and first the question, without the figures (the
    # blind first look, issue 17.4).
    row.get_by_role("link", name="Face does not match").click()
    blind = page.locator("#blind-form")
    blind.wait_for()
    assert page.locator("#decision-words").count() == 0 and page.locator("#resolve-form").count() == 0
    assert "against threshold" not in page.locator("body").inner_text()
    selfie, reference = page.locator("img#selfie"), page.locator("img.reference")
    assert reference.count() == 1
    for img in (selfie, reference.first):
        img.wait_for()
        page.wait_for_function("(img) => img.complete", arg=img.element_handle())
        size = img.evaluate("(img) => [img.naturalWidth, img.naturalHeight]")
        assert size[0] > 0 and size[1] > 0, size
    assert sorted(images.values()) == [200, 200], images
    assert AccessRecord.objects.filter(viewer=officer, task=task).count() == 2
    page.screenshot(path=screenshots / "02-blind-look.png", full_page=True)
    blind.get_by_label("Yes, the same person").check()
    blind.get_by_role("button", name="Record my answer and show the comparison").click()

    # --- Then the figures, below the photos, and the decision.
    page.locator("#decision-words").wait_for()
    assert re.search(r"distance \d\.\d\d against threshold \d\.\d\d: not a match", page.locator("#decision-words").inner_text())
    assert "Your first look, before the figures: Yes, the same person" in page.locator("#blind-answer").inner_text()
    assert BlindAnswer.objects.get(task=task, officer=officer).answer == "yes"
    for img in (page.locator("img#selfie"), page.locator("img.reference").first):
        page.wait_for_function("(img) => img.complete && img.naturalWidth > 0", arg=img.element_handle())
    assert "Map links are off" in page.locator("body").inner_text()  # (off by default: REPORTIN_MAP_URL)
    page.screenshot(path=screenshots / "02-task.png", full_page=True)

    # --- Resolve as identity confirmed: back in the queue, the task has left it.
    decision = page.locator("#resolve-form")
    decision.get_by_label("Resolution").select_option("identity_confirmed")
    decision.get_by_label("Note").fill("Same person as the reference photo; glasses and a beard since enrolment.")
    decision.get_by_role("button", name="Resolve").click()
    page.get_by_text(f"Task {task.pk} resolved: Identity confirmed.").wait_for()
    assert page.url.endswith("/admin/enforcement/investigationtask/")
    assert page.locator("#result_list tr", has_text=case["client"].uci).count() == 0
    page.screenshot(path=screenshots / "03-queue-after.png", full_page=True)
    task.refresh_from_db()
    assert (task.status, task.resolution, task.resolved_by_id) == ("resolved", "identity_confirmed", officer.pk)
    assert CheckIn.objects.get(pk=case["checkin"].pk).status == "verified"
    assert ReportingWindow.objects.get(pk=case["window"].pk).status == "satisfied"

    # --- A task of another region, by URL: refused, and nothing of it shown.
    response = page.goto(f"{live_server.url}/admin/enforcement/investigationtask/{elsewhere.pk}/change/")
    assert response.status == 403
    assert "Lavoie" not in page.content() and elsewhere.client.uci not in page.content()
    page.screenshot(path=screenshots / "04-other-region-refused.png", full_page=True)
    assert InvestigationTask.objects.get(pk=elsewhere.pk).status == "open"

    assert problems == []
