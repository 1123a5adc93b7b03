"""The web app's screens for the two-way channel (issue 18), in headless Chromium at phone size:
notices on the home screen (read marks them), the in-person screen (office, hours, phone, case
officer, missed windows), the channels in Settings (email, SMS and push, each with its consent
text; push subscribed through the app's service worker), the app in French and in Arabic (right
to left), and "Remove ReportIn from this phone", which stops the token on the server.

Chromium cannot reach a real push service from here, so PushManager.subscribe is the one thing
stood in for: it answers with a subscription of the local push endpoint (tests/push_endpoint.py),
and a notice is then really sent there, encrypted, and decrypted with the subscription's keys.
Screenshots: test-artifacts/webapp-screens/<run id>/."""

import base64
import json
from datetime import timedelta

import pytest
from django.utils import timezone

from enforcement import services
from enforcement.models import AuditEvent, ContactChannel, Notice
from reportin.models import Device
from tests import factories
from tests.browser import screenshot_folder
from tests.conftest import make_reporter
from tests.push_endpoint import PushEndpoint, vapid_keys
from tests.test_office import offices
from tests.test_webapp_browser import Screens, _text, phone  # noqa: F401  (phone: the fixture)

pytestmark = pytest.mark.browser

# PushManager as a push service would answer: the local endpoint's subscription. The key the
# app subscribes with is kept for the test to check.
PUSH_STAND_IN = """(subscription) => {
  window.__subscribeCalls = [];
  let current = null;
  PushManager.prototype.subscribe = function (options) {
    const key = new Uint8Array(options.applicationServerKey);
    window.__subscribeCalls.push({ userVisibleOnly: options.userVisibleOnly, key: Array.from(key) });
    current = { endpoint: subscription.endpoint, toJSON: () => subscription, unsubscribe: async () => { current = null; return true; } };
    return Promise.resolve(current);
  };
  PushManager.prototype.getSubscription = function () { return Promise.resolve(current); };
}"""


@pytest.fixture
def artifacts(capsys):
    return screenshot_folder("webapp-screens", "web app screens", capsys)


def _unb64url(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_notices_office_channels_languages_and_removal_in_a_real_browser(live_server, phone, artifacts, settings):  # noqa: F811
    context, page, _camera, problems = phone
    private, public = vapid_keys()
    settings.REPORTIN_VAPID_PRIVATE_KEY, settings.REPORTIN_VAPID_PUBLIC_KEY = private, public
    offices()
    officer = factories.staff("case-officer")
    officer.first_name, officer.last_name = "Alex", "Martin"
    officer.save()
    reporter = make_reporter(case_officer=officer, given_name="Ana", email="ana@example.org")
    client = reporter.client
    # A window missed two days ago (its notice comes from the sweep), and an officer's decision.
    missed = factories.window(client, opens_at=timezone.now() - timedelta(days=2), minutes=60, grace_minutes=0)
    services.windows_sweep(now=timezone.now())
    services.notice_post(client=client, kind="review_outcome", checkin_id=None, details={
        "confirmed": False, "reason": "face_non_match", "captured_at": (timezone.now() - timedelta(days=1)).isoformat(),
    })
    shot = Screens(page, artifacts)

    with PushEndpoint(vapid_public_key=public) as endpoint:
        subscription = endpoint.subscription()
        context.add_init_script(script=f"({PUSH_STAND_IN})({json.dumps({'endpoint': subscription['push_endpoint'], 'keys': {'p256dh': subscription['push_p256dh'], 'auth': subscription['push_auth']}})})")
        context.grant_permissions(["notifications"], origin=live_server.url)
        page.goto(f"{live_server.url}/app/")
        page.evaluate("(token) => localStorage.setItem('reportin.token', JSON.stringify(token))", reporter.token)
        page.reload()

        # --- Home: both notices, in plain words, with what can be done from them.
        page.get_by_role("heading", name="Hello, Ana").wait_for()
        page.get_by_role("heading", name="You missed a reporting window").wait_for()
        home = _text(page)
        assert "Your check-in was not accepted" in home and "did not clearly show that it was you" in home
        assert "score" not in home.lower() and "threshold" not in home.lower()
        shot("home-notices")
        outcome = page.locator("article", has_text="Your check-in was not accepted")
        outcome.get_by_role("button", name="Got it").click()
        outcome.wait_for(state="detached")
        assert Notice.objects.get(client=client, kind="review_outcome").read_at is not None
        assert Notice.objects.get(client=client, kind="missed_window").read_at is None

        # --- From the missed window's notice to the in-person screen.
        page.locator("article", has_text="You missed a reporting window").get_by_role("link", name="Where to report in person").click()
        page.get_by_role("heading", name="Report in person").wait_for()
        office = _text(page)
        for words in ("Toronto CBSA office", "6900 Airport Rd, Mississauga ON", "Monday to Friday, 8:00 to 16:00", "+1 905-555-0199",
                      "English, French, Spanish", "Alex Martin", "Windows missed lately"):
            assert words in office, words
        assert page.get_by_role("link", name="+1 905-555-0199").get_attribute("href") == "tel:+19055550199"
        assert page.locator("#missed-title + p + ul li").count() == 1 and missed.pk
        shot("office")

        # --- Settings: email, a text message number and notifications on this phone, each
        # with the words agreed to; push subscribed through the service worker with our key.
        page.get_by_role("link", name="Settings").click()
        page.get_by_role("heading", name="Reminders and notices").wait_for()
        assert "by text message (SMS) to the number I gave" in _text(page)
        page.get_by_label("Email").check()
        page.get_by_label("Text message (SMS)").check()
        page.get_by_label("Mobile number").fill("613 555")
        page.get_by_role("button", name="Save my choice").click()
        page.get_by_text("Enter the mobile number with its country code").first.wait_for()
        assert not ContactChannel.objects.filter(client=client).exists()  # nothing saved
        page.get_by_label("Mobile number").fill("+1 613 555 0123")
        page.get_by_label("App notification (web push)").check()
        shot("channels-chosen")
        page.get_by_role("button", name="Save my choice").click()
        page.get_by_role("status").filter(has_text="Your choice was saved.").wait_for()
        chosen = {row.channel: row for row in ContactChannel.objects.filter(client=client, ended_at__isnull=True)}
        assert set(chosen) == {"email", "sms", "push"}
        assert chosen["sms"].address == "+16135550123" and chosen["push"].push_endpoint == endpoint.url
        assert {row.consent_language for row in chosen.values()} == {"en"}
        assert "as notifications on this phone" in chosen["push"].consent_text
        [call] = page.evaluate("window.__subscribeCalls")
        assert call["userVisibleOnly"] is True and bytes(call["key"]) == _unb64url(public)
        shot("channels-saved")
        # A notice now reaches the phone by push: encrypted for the subscription the app saved.
        services.notice_post(client=client, kind="checkin_review", checkin_id=None, details={"captured_at": timezone.now().isoformat()})
        services.notifications_send(now=timezone.now() + timedelta(seconds=1))
        assert [message["payload"]["title"] for message in endpoint.received] == ["An officer will look at your check-in"]

    # --- French: the channels and the in-person screen.
    page.get_by_role("button", name="Français").click()
    page.get_by_role("heading", name="Rappels et avis").wait_for()
    assert "par message texte (SMS)" in _text(page) or "SMS" in _text(page)
    shot("settings-french")
    page.get_by_role("link", name="En personne").click()
    page.get_by_role("heading", name="Se présenter en personne").wait_for()
    assert "Bureau de l'ASFC à Toronto" in _text(page) and "Du lundi au vendredi, de 8 h à 16 h" in _text(page)
    shot("office-french")

    # --- Arabic, right to left: the app's words and the server's.
    page.get_by_role("link", name="Paramètres").click()
    page.get_by_label("العربية").check()
    page.get_by_role("heading", name="الإعدادات").wait_for()
    assert page.evaluate("[document.documentElement.lang, document.documentElement.dir]") == ["ar", "rtl"]
    client.refresh_from_db()
    assert client.preferred_language == "ar"  # the person's language on the server too (SMS, email)
    assert page.evaluate("getComputedStyle(document.querySelector('main')).direction") == "rtl"
    shot("settings-arabic")
    page.get_by_role("link", name="الرئيسية").click()
    page.get_by_role("heading", name="مرحبًا Ana").wait_for()
    assert "فاتتك فترة إبلاغ" in _text(page)  # the notice, from the server in Arabic
    shot("home-arabic")
    page.get_by_role("link", name="الحضور الشخصي").click()
    page.get_by_role("heading", name="الحضور الشخصي").wait_for()
    shot("office-arabic")

    # --- Back to English, then "Remove ReportIn from this phone": the token stops on the server.
    page.get_by_role("button", name="English").click()
    page.get_by_role("link", name="Settings").click()
    page.get_by_role("button", name="Remove ReportIn from this phone").click()
    shot("remove-confirm")
    page.get_by_role("button", name="Yes, remove").click()
    page.get_by_role("heading", name="Activate ReportIn").wait_for()
    assert "ReportIn's data was removed from this phone." in _text(page)
    device = Device.objects.get(pk=reporter.device.pk)
    assert device.revoked_at is not None and device.removed_by_person
    assert AuditEvent.objects.filter(client=client, action="device.remove").count() == 1
    assert page.evaluate("localStorage.getItem('reportin.token')") is None
    assert reporter.api.get("/api/v1/me").status_code == 401
    shot("removed")
    assert problems == []
