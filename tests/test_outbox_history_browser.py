"""The task page's reminder and message history (issue 17.3) in a real browser: it reads as a
table beside the contact details and passes axe-core. Screenshot under
test-artifacts/outbox/<run id>/."""

import pytest

from tests import axe, factories
from tests.browser import screenshot_folder
from tests.officer import reminded_task
from tests.staff_browser import enrol_authenticator, sign_in, staff_page

pytestmark = pytest.mark.browser


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_reminder_history_is_a_table_that_passes_axe(live_server, monkeypatch, capsys, settings, tmp_path):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    artifacts = screenshot_folder("outbox", "reminder history", capsys)
    axe.source()
    officer = factories.staff("outbox-officer", region_code="gta")
    secret = enrol_authenticator(officer)
    _person, task = reminded_task(settings, tmp_path)

    with staff_page(bypass_csp=True) as (page, problems):
        sign_in(page, live_server.url, officer, secret)
        page.goto(f"{live_server.url}/admin/enforcement/investigationtask/{task.pk}/change/")
        table = page.locator("table#outbox")
        table.wait_for()
        page.screenshot(path=artifacts / "01-task-page.png", full_page=True)
        table.screenshot(path=artifacts / "02-history.png")
        assert table.locator("tbody tr").count() == 4  # opened and closing, by email and by SMS
        assert "GC_NOTIFY_API_KEY is not set" in table.inner_text()
        assert axe.serious_violations(page) == []
        assert problems == []
