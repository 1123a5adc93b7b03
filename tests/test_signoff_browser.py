"""Four eyes in a real browser (issue 17.6): an officer of the Greater Toronto Area answers the
blind first look on a face non-match task, then recommends an arrest warrant; the escalation
waits. The officer signs out; a supervisor signs in (password and authenticator code), sees the
sign-off waiting on "My work", opens the sign-off inbox and the task from it, answers their own
blind first look, finds the sign-off form with no choice made (and cannot send it so), approves,
and the task is resolved as escalated, the escalation's history and the audit trail showing who
proposed and who signed off; the inbox is empty after. The pages run under the admin's
Content-Security-Policy. Screenshots under test-artifacts/signoff/<run id>/."""

import pytest

from enforcement.models import AuditEvent, BlindAnswer, Escalation, InvestigationTask
from tests import factories
from tests.officer import face_task
from tests.staff_browser import enrol_authenticator, sign_in, sign_out

pytestmark = pytest.mark.browser

TASKS = "/admin/enforcement/investigationtask/"
INBOX = "/admin/sign-offs/"
WHY = "Three missed reports and not at the declared address; the selfie is someone else."
NOTE = "Agreed: the photos are of two different people and the address visit found nobody."


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_supervisor_signs_off_an_escalation_from_the_inbox(live_server, staff_browser, screenshots):
    page, problems = staff_browser
    officer = factories.staff("signoff-officer", region_code="gta")
    supervisor = factories.staff("signoff-supervisor", role="Supervisor", region_code="gta")
    officer_secret, supervisor_secret = enrol_authenticator(officer), enrol_authenticator(supervisor)
    case = face_task(region_code="gta", family_name="Moreau")
    task = case["task"]
    task_page = f"{TASKS}{task.pk}/change/"

    # --- The officer: the blind first look, then the recommendation.
    sign_in(page, live_server.url, officer, officer_secret, next_path=task_page)
    blind = page.locator("#blind-form")
    blind.get_by_label("No, not the same person").check()
    blind.get_by_role("button", name="Record my answer and show the comparison").click()
    page.locator("#decision-words").wait_for()
    page.get_by_text("Recommend an escalation (a supervisor must sign it off)").click()
    escalate = page.locator("#escalate-details form")
    escalate.get_by_label("Recommendation").select_option(label="Recommend an arrest warrant")
    escalate.get_by_label("Why").fill(WHY)
    escalate.get_by_role("button", name="Propose the escalation").click()
    page.get_by_text("Escalation proposed; another supervisor must sign it off.").wait_for()
    decide = page.locator("section.decide")
    assert "Awaiting sign-off: Recommend an arrest warrant, proposed by signoff-officer." in decide.inner_text()
    # Four eyes: the one who proposed is offered no sign-off.
    assert decide.get_by_role("button", name="Record the sign-off").count() == 0
    page.screenshot(path=screenshots / "01-officer-proposed.png", full_page=True)
    escalation = Escalation.objects.get(task=task)
    assert (escalation.status, escalation.kind, escalation.proposed_by) == ("proposed", "warrant_recommendation", officer)
    sign_out(page, live_server.url)

    # --- The supervisor: "My work" counts the sign-off; the inbox lists it.
    sign_in(page, live_server.url, supervisor, supervisor_secret)
    assert page.locator("#figure-signoffs").inner_text() == "Sign-offs waiting for me: 1"
    waiting = page.locator("#my-signoffs li")
    assert waiting.count() == 1 and "Recommend an arrest warrant — MOREAU" in waiting.inner_text()
    page.screenshot(path=screenshots / "02-my-work.png", full_page=True)
    page.locator("#my-signoffs").get_by_role("link", name="The sign-off inbox").click()
    page.wait_for_url(f"{live_server.url}{INBOX}")
    rows = page.locator("#signoff-inbox tbody tr")
    assert rows.count() == 1
    row = rows.first.inner_text()
    for words in ("Recommend an arrest warrant", f"MOREAU, Test ({case['client'].uci})", "Greater Toronto Area", "signoff-officer", WHY, "America/Toronto"):
        assert words in row, (words, row)
    page.screenshot(path=screenshots / "03-inbox.png", full_page=True)

    # --- The task from the inbox: the supervisor's own first look comes before the figures and
    # the sign-off.
    rows.first.get_by_role("link", name=f"Review task {task.pk} and sign off").click()
    page.wait_for_url(f"**{task_page}#decide-title")
    blind = page.locator("#blind-form")
    blind.wait_for()
    assert page.locator("section.decide").count() == 0 and "against threshold" not in page.locator("body").inner_text()
    page.screenshot(path=screenshots / "04-supervisor-blind-look.png", full_page=True)
    blind.get_by_label("No, not the same person").check()
    blind.get_by_role("button", name="Record my answer and show the comparison").click()
    page.locator("#decision-words").wait_for()

    # --- The sign-off form: no choice made in advance, and none sent without one.
    signoff = page.locator('section.decide form[action*="/sign-off/"]')
    approve, refuse = signoff.get_by_label("Approve", exact=True), signoff.get_by_label("Do not approve")
    assert approve.is_checked() is False and refuse.is_checked() is False
    assert signoff.locator("input[name=approve]:checked").count() == 0
    signoff.get_by_label("Note").fill(NOTE)
    posts = []
    page.on("request", lambda request: posts.append(request.url) if request.method == "POST" else None)
    signoff.get_by_role("button", name="Record the sign-off").click()
    assert approve.evaluate("(radio) => radio.validity.valueMissing") is True
    assert posts == [] and page.url.endswith(task_page) and Escalation.objects.get(pk=escalation.pk).status == "proposed"
    signoff.scroll_into_view_if_needed()
    page.screenshot(path=screenshots / "05-signoff-form.png", full_page=True)
    approve.check()
    signoff.get_by_role("button", name="Record the sign-off").click()
    page.get_by_text("Escalation approved.").wait_for()

    # --- The task's state and history on the page.
    status = page.locator("#task-status").inner_text()
    assert "Status: Resolved — Escalated" in status and "assigned to: signoff-supervisor" in status, status
    history = page.locator("section[aria-labelledby=history-title]").inner_text()
    assert f"Recommend an arrest warrant (signoff-officer): {WHY} — Approved (signoff-supervisor: {NOTE})" in history, history
    assert page.locator("section.decide").count() == 0  # resolved: nothing left to decide
    page.screenshot(path=screenshots / "06-signed-off.png", full_page=True)

    # --- The audit trail, as the supervisor reads it: who proposed, who signed off.
    page.goto(f"{live_server.url}/admin/enforcement/auditevent/?q={case['client'].uci}")
    trail = {
        tuple(cells[2:4]) for cells in (
            row.split("\t") for row in page.locator("#result_list tbody tr").all_inner_texts()
        )
    }
    assert {("signoff-officer", "escalation.propose"), ("signoff-supervisor", "escalation.approve"), ("signoff-supervisor", "task.resolve")} <= trail, trail
    page.screenshot(path=screenshots / "07-audit-trail.png", full_page=True)

    # --- Nothing waits any more.
    page.goto(f"{live_server.url}{INBOX}")
    assert page.locator("#signoff-inbox-empty").inner_text() == "No escalation is waiting for your sign-off."

    escalation.refresh_from_db()
    assert (escalation.status, escalation.decided_by, escalation.decision_note) == ("approved", supervisor, NOTE)
    task = InvestigationTask.objects.get(pk=task.pk)
    assert (task.status, task.resolution, task.resolved_by) == ("resolved", "escalated", supervisor)
    approval = AuditEvent.objects.get(action="escalation.approve")
    assert approval.actor == supervisor and approval.details == {
        "task": task.pk, "kind": "warrant_recommendation", "note": NOTE, "proposed_by": officer.pk,
    }
    assert dict(BlindAnswer.objects.filter(task=task).values_list("officer__username", "answer")) == {
        "signoff-officer": "no", "signoff-supervisor": "no",
    }
    assert problems == []
