"""A staff member's browser for the back-office browser tests: headless Debian Chromium driven
by Playwright, signed in with a password and an authenticator code, as a person would. The
tests get it through the fixtures `staff_browser` (under the admin's Content-Security-Policy)
and `staff_browser_for_axe` of tests/conftest.py, and their screenshot folder through
`screenshots`."""

import time
from contextlib import contextmanager

import pyotp
from django.db import connections

from backoffice import services as backoffice_services
from tests.browser import CHROMIUM, require_chromium

TIMEOUT_MS = 30_000
PASSWORD = "test-password-123"  # tests.factories.staff


@contextmanager
def staff_page(*, bypass_csp: bool = False, locale: str = "en-CA"):
    """Yields (page, problems); problems collects script errors. `bypass_csp`: for pages axe-core
    is added to (an inline script the admin's Content-Security-Policy would refuse)."""
    require_chromium()
    from playwright.sync_api import sync_playwright

    problems = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"],
        )
        context = browser.new_context(
            viewport={"width": 1280, "height": 900}, locale=locale, timezone_id="America/Toronto", bypass_csp=bypass_csp,
        )
        context.set_default_timeout(TIMEOUT_MS)
        page = context.new_page()
        page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
        try:
            yield page, problems
        finally:
            context.close()
            browser.close()
            # The test's queries made while Playwright ran have a connection of their own (in
            # Playwright's context) pytest-django never closes; it would keep the test database
            # from being dropped on PostgreSQL.
            connections.close_all()


def enrol_authenticator(user) -> str:
    """The user's authenticator app, enrolled through the real service; answers its secret."""
    secret = backoffice_services.totp_enrol_begin(user=user, session={})
    backoffice_services.totp_verify(user=user, code=pyotp.TOTP(secret).now(), session={})
    return secret


def sign_in(page, base_url: str, user, secret: str | None, next_path: str = "/admin/") -> None:
    """Username and password, then the authenticator's code (`secret`, from enrol_authenticator)
    where the account needs a second factor (those who may see biometric images); `secret` is
    None for one that does not (an auditor)."""
    assert (secret is not None) == backoffice_services.second_factor_required(user), "a second factor exactly where one is asked"
    page.goto(f"{base_url}/admin/login/?next={next_path}")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    if secret is not None:
        # A code is good once: the next step's.
        page.get_by_label("Or enter the 6-digit code from your authenticator app:").fill(pyotp.TOTP(secret).at(time.time() + 30))
        page.get_by_role("button", name="Verify").click()
    page.wait_for_url(f"{base_url}{next_path}*")


def sign_out(page, base_url: str) -> None:
    """The header's "Log out" button, as a person would; the next person signs in after."""
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(f"{base_url}/admin/logout/*")
