"""An auditor verifies the audit chain from the accountability dashboard in a real browser
(issue 17.7): signed in with a password (auditors see no biometric image: no second factor is
asked), the auditor opens the dashboard (the chain never verified yet), presses "Verify the
audit trail now", and reads the result and its time, with its zone, on the page; the
verification is kept, and the request is itself an event of the audit trail, found there by
the auditor. The pages run under the
admin's Content-Security-Policy. Screenshots under test-artifacts/auditor/<run id>/."""

import re

import pytest
from django.conf import settings

from enforcement import times
from enforcement.models import AuditEvent, AuditVerification
from tests import factories
from tests.officer import window_task
from tests.staff_browser import sign_in

pytestmark = pytest.mark.browser

DASHBOARD = "/admin/accountability/"


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_an_auditor_verifies_the_audit_chain_from_the_dashboard(live_server, staff_browser, screenshots):
    page, problems = staff_browser
    auditor = factories.staff("browser-auditor", role="Auditor", region_code=None)
    window_task(family_name="Lefebvre")  # a client, a condition, a window and a task: events of the chain

    # No second factor is asked: an auditor sees no biometric image.
    sign_in(page, live_server.url, auditor, None, next_path=DASHBOARD)
    page.get_by_role("heading", name="Accountability dashboard").wait_for()
    verification = page.locator("#audit-verification")
    assert "never run yet" in verification.inner_text()
    page.screenshot(path=screenshots / "01-dashboard-never-verified.png", full_page=True)
    before = AuditEvent.objects.count()

    page.get_by_role("button", name="Verify the audit trail now").click()
    message = page.locator(".messagelist .success")
    message.wait_for()
    # The request is an event of the chain, verified with the others.
    assert message.inner_text() == f"Audit trail intact: {before + 1} events verified."
    kept = AuditVerification.objects.get()
    assert (kept.ok, kept.events_checked, kept.broken_seq, kept.problem) == (True, before + 1, None, "")
    request = AuditEvent.objects.get(action="audit.verify_request")
    assert (request.actor, request.details) == (auditor, {"events": before, "on_worker": False})
    # The result and its time, with the zone named (an auditor without a region: the site's zone).
    shown = verification.inner_text()
    when = times.shown(kept.checked_at, settings.TIME_ZONE)
    assert re.fullmatch(
        rf"Audit trail verification: intact \({re.escape(when)}; {before + 1} events, \d+ published heads compared\)", shown.strip()
    ), (shown, when)
    assert "never run yet" not in shown
    page.screenshot(path=screenshots / "02-dashboard-verified.png", full_page=True)

    # The request, in the audit trail the dashboard links to.
    page.get_by_role("link", name="Audit trail").click()
    page.get_by_role("heading", name="Select audit event to view").wait_for()
    page.get_by_role("link", name="audit.verify_request").click()
    page.wait_for_url("**/admin/enforcement/auditevent/?action=audit.verify_request&*")
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 1
    cells = rows.first.inner_text().split("\t")
    assert cells[0] == str(request.seq) and cells[2:4] == ["browser-auditor", "audit.verify_request"], cells
    page.screenshot(path=screenshots / "03-audit-trail.png", full_page=True)
    assert problems == []
