"""WebAuthn in a real browser: Debian's Chromium with a virtual authenticator (DevTools
protocol `WebAuthn.addVirtualAuthenticator` through Playwright's CDP session) against a live
server. An officer signs in with a password, is sent to the second-factor page before any
admin page, registers a passkey, reaches the page asked for; signs in again and uses the key;
then, with the key gone from the authenticator, is refused."""

import pytest

from backoffice.models import WebAuthnCredential
from enforcement.models import AuditEvent
from tests import factories
from tests.staff_browser import PASSWORD

TARGET = "/admin/enforcement/investigationtask/"

pytestmark = pytest.mark.browser


@pytest.fixture
def browser_with_key(staff_browser):
    """(page, cdp, authenticator id): a staff member's page whose browser has a virtual platform
    authenticator that answers at once (user present and verified)."""
    page, _problems = staff_browser
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    authenticator = cdp.send("WebAuthn.addVirtualAuthenticator", {"options": {
        "protocol": "ctap2", "transport": "internal", "hasResidentKey": True,
        "hasUserVerification": True, "isUserVerified": True, "automaticPresenceSimulation": True,
    }})["authenticatorId"]
    return page, cdp, authenticator


def sign_in(page, base_url: str, username: str):
    page.goto(f"{base_url}/admin/login/?next={TARGET}")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/admin/second-factor/**")


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_an_officer_registers_a_passkey_and_signs_in_with_it_in_a_real_browser(live_server, browser_with_key, screenshots, settings):
    # A key that is not there fails when the browser gives up waiting: not a minute here.
    settings.REPORTIN_WEBAUTHN_TIMEOUT_MS = 10_000
    page, cdp, authenticator = browser_with_key
    officer = factories.staff("key-officer")

    # --- First sign-in: no admin page before a second factor; register a passkey.
    sign_in(page, live_server.url, officer.username)
    assert page.goto(f"{live_server.url}{TARGET}").url.startswith(f"{live_server.url}/admin/second-factor/")
    page.screenshot(path=screenshots / "01-enrol.png", full_page=True)
    page.get_by_label("Name of the key:").fill("Virtual key")
    page.get_by_role("button", name="Register a security key or passkey").click()
    page.wait_for_url(f"**{TARGET}")
    page.get_by_role("heading", name="Triage queue — Greater Toronto Area").wait_for()
    key = WebAuthnCredential.objects.get(user=officer)
    assert key.name == "Virtual key"
    assert len(cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})["credentials"]) == 1
    assert AuditEvent.objects.filter(action="staff.second_factor_enrolled", actor=officer, details__method="webauthn").exists()

    # --- A new browser session: the password alone opens nothing; the key does.
    page.context.clear_cookies()
    sign_in(page, live_server.url, officer.username)
    assert page.goto(f"{live_server.url}/admin/").url.startswith(f"{live_server.url}/admin/second-factor/")
    page.goto(f"{live_server.url}/admin/second-factor/?next={TARGET}")
    page.screenshot(path=screenshots / "02-verify.png", full_page=True)
    page.get_by_role("button", name="Use my security key or passkey").click()
    page.wait_for_url(f"**{TARGET}")
    page.get_by_role("heading", name="Triage queue — Greater Toronto Area").wait_for()
    key.refresh_from_db()
    assert key.last_used_at is not None
    assert AuditEvent.objects.filter(action="staff.second_factor_verified", actor=officer, details__method="webauthn").count() == 1

    # --- The key is gone from the authenticator: refused, and still no admin page.
    cdp.send("WebAuthn.clearCredentials", {"authenticatorId": authenticator})
    page.context.clear_cookies()
    sign_in(page, live_server.url, officer.username)
    page.get_by_role("button", name="Use my security key or passkey").click()
    page.locator("#webauthn-error").wait_for(state="visible", timeout=40_000)
    assert page.locator("#webauthn-error").inner_text().strip()
    page.screenshot(path=screenshots / "03-refused.png", full_page=True)
    assert page.goto(f"{live_server.url}{TARGET}").url.startswith(f"{live_server.url}/admin/second-factor/")
