"""Web Push in the browser (issue 18.1): the payload the server really sends (captured and
decrypted by the local push endpoint) is delivered to the app's service worker in Chromium
through the DevTools protocol's ServiceWorker.deliverPushMessage, and the service worker shows
it as a notification. Chromium cannot reach a real push service here; these are both halves."""

import json
import time
from datetime import date
from datetime import time as clock

import pytest

from enforcement import services
from tests import factories
from tests.browser import CHROMIUM, require_chromium
from tests.push_endpoint import PushEndpoint, vapid_keys

pytestmark = pytest.mark.browser


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_service_worker_shows_the_pushed_reminder(live_server, settings, tmp_path, monkeypatch):
    require_chromium()
    from playwright.sync_api import sync_playwright

    # The server's half: a real reminder, encrypted and signed, received and decrypted.
    private, public = vapid_keys()
    settings.REPORTIN_VAPID_PRIVATE_KEY, settings.REPORTIN_VAPID_PUBLIC_KEY = private, public
    with PushEndpoint(vapid_public_key=public) as endpoint:
        client = factories.client(preferred_language="fr", given_name="Ana")
        services.contact_channels_set(client=client, channels=[endpoint.subscription()], language="fr", recorded_via="app")
        factories.condition(client, window_start=clock(9, 0), window_minutes=480, grace_minutes=60, starts_on=date(2026, 3, 1),
                            ends_on=date(2026, 3, 2), now=factories.MONDAY_MORNING)
        assert services.notifications_send(now=factories.toronto(2026, 3, 2, 9, 1)) == 1
    [received] = endpoint.received
    payload = received["payload"]
    assert payload["title"] == "Votre période de présentation est ouverte"

    # The browser's half: that payload delivered to the app's service worker.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=str(CHROMIUM), headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"],
        )
        try:
            context.grant_permissions(["notifications"], origin=live_server.url)
            page = context.pages[0] if context.pages else context.new_page()
            registrations = []
            cdp = context.new_cdp_session(page)
            cdp.on("ServiceWorker.workerRegistrationUpdated", lambda event: registrations.extend(event["registrations"]))
            cdp.send("ServiceWorker.enable")
            page.goto(f"{live_server.url}/app/")
            page.evaluate("navigator.serviceWorker.ready.then(() => true)")
            deadline = time.monotonic() + 20
            while not any(r["scopeURL"].endswith("/app/") and not r["isDeleted"] for r in registrations) and time.monotonic() < deadline:
                page.wait_for_timeout(100)
            [registration] = [r for r in registrations if r["scopeURL"].endswith("/app/") and not r["isDeleted"]][:1]
            cdp.send("ServiceWorker.deliverPushMessage", {
                "origin": live_server.url, "registrationId": registration["registrationId"], "data": json.dumps(payload),
            })
            shown = []
            deadline = time.monotonic() + 20
            while not shown and time.monotonic() < deadline:
                page.wait_for_timeout(200)
                shown = page.evaluate(
                    "navigator.serviceWorker.ready.then((r) => r.getNotifications())"
                    ".then((all) => all.map((n) => ({title: n.title, body: n.body, tag: n.tag, lang: n.lang, url: n.data.url})))"
                )
        finally:
            context.close()
    assert shown == [{"title": payload["title"], "body": payload["body"], "tag": payload["tag"], "lang": "fr", "url": "/app/"}]
