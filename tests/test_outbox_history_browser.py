"""The task page's reminder and message history (issue 17.3) in a real browser: it reads as a
table beside the contact details and passes axe-core. Screenshot under
test-artifacts/outbox/<run id>/."""

from datetime import date, time

import pytest
from django.utils import timezone

from enforcement import services
from enforcement.models import ReportingWindow
from tests import axe, factories
from tests.browser import screenshot_folder
from tests.staff_browser import enrol_authenticator, sign_in, staff_page

pytestmark = pytest.mark.browser


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_reminder_history_is_a_table_that_passes_axe(live_server, monkeypatch, capsys, settings, tmp_path):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    artifacts = screenshot_folder("outbox", "reminder history", capsys)
    axe.source()
    settings.EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    settings.EMAIL_FILE_PATH = str(tmp_path)
    settings.GC_NOTIFY_API_KEY = ""
    officer = factories.staff("outbox-officer", region_code="gta")
    secret = enrol_authenticator(officer)
    person = factories.client(email="ana@example.org", given_name="Ana", family_name="Outbox")
    services.contact_channels_set(
        client=person, channels=[{"channel": "email"}, {"channel": "sms", "address": "+14165550199"}], language="en", recorded_via="app",
    )
    factories.condition(
        person, window_start=time(9, 0), window_minutes=480, grace_minutes=60, starts_on=date(2026, 3, 1), ends_on=date(2026, 3, 2),
        now=factories.MONDAY_MORNING,
    )
    services.notifications_send(now=factories.toronto(2026, 3, 2, 9, 1))
    window = ReportingWindow.objects.get(client=person)
    task, _ = services.task_open(client=person, reason="missed_report", window=window, priority=2, now=timezone.now())

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
