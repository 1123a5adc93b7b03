"""The web app in a real browser: headless Chromium (Debian's package, driven by Playwright) with
a fake front camera playing a real face picture and a fake position, against a live server
and a real Celery worker on the configured database.

One walk through the app, as a person would do it: activate, accept both consents, check in
and see the check-in verified once the worker scored it; switch to French; lose the network,
reopen the app (from its service worker), check in, get the network back and see the check-in
sent exactly once (even when the server's first answer is lost on the way back); see a
check-in the server refuses shown and not retried; withdraw a consent in Settings; read the
texts again and refuse both. A screenshot of every step is saved under
test-artifacts/webapp/<run id>/, and the test prints that folder.
"""

import re
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.db import connections
from django.utils import timezone

from enforcement.models import ConsentRecord, ConsentText, InvestigationTask, ReportingCondition, ReportingWindow
from reportin.models import CheckIn, Device
from tests import factories, images
from tests.browser import CHROMIUM, require_chromium, screenshot_folder

TORONTO = {"latitude": 43.6532, "longitude": -79.3832}
WIDTH = 360  # a small phone
TIMEOUT_MS = 30_000
SCORING_TIMEOUT_MS = 120_000

pytestmark = pytest.mark.browser


# Visible text whose contrast with its background is below WCAG AA (4.5:1, or 3:1 for large
# text). The background is the first ancestor's that is not transparent (the app puts no text
# over pictures).
LOW_CONTRAST_TEXT = """() => {
  const rgb = (value) => value.match(/[\\d.]+/g).map(Number);
  const luminance = ([r, g, b]) => {
    const channel = (c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
  };
  const background = (element) => {
    for (let node = element; node; node = node.parentElement) {
      const colour = rgb(getComputedStyle(node).backgroundColor);
      if (colour.length < 4 || colour[3] > 0) return colour.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const low = [];
  for (const element of document.querySelectorAll("body *")) {
    const hasText = [...element.childNodes].some((node) => node.nodeType === 3 && node.textContent.trim());
    if (!hasText || !element.checkVisibility()) continue;
    const style = getComputedStyle(element);
    const [a, b] = [luminance(rgb(style.color)), luminance(background(element))];
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    const size = parseFloat(style.fontSize);
    const large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700);
    if (ratio < (large ? 3 : 4.5)) low.push(`${element.textContent.trim().slice(0, 40)}: ${ratio.toFixed(2)}`);
  }
  return low;
}"""


class Screens:
    """Numbered full-page screenshots, each after checking what every screen must satisfy."""

    def __init__(self, page, folder: Path):
        self.page, self.folder, self.count = page, folder, 0

    def __call__(self, name: str) -> None:
        page = self.page
        # Usable at 360 px: nothing wider than the screen.
        assert page.evaluate("document.documentElement.scrollWidth") <= WIDTH, f"{name}: wider than the screen"
        # Every control has an accessible name (a label, or its own text).
        unnamed = page.evaluate(
            """() => [...document.querySelectorAll('input, textarea, select, button, a[href]')]
                .filter((el) => el.offsetParent !== null)
                .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute('aria-label') && !el.textContent.trim())
                .map((el) => el.outerHTML)"""
        )
        assert unnamed == [], f"{name}: controls without a name: {unnamed}"
        low = page.evaluate(LOW_CONTRAST_TEXT)
        assert low == [], f"{name}: text below WCAG AA contrast: {low}"
        self.count += 1
        page.screenshot(path=self.folder / f"{self.count:02d}-{name}.png", full_page=True)


@pytest.fixture
def artifacts(capsys) -> Path:
    return screenshot_folder("webapp", "web app", capsys)


@pytest.fixture
def phone(tmp_path, monkeypatch):
    """A browser context set up as a phone with a front camera (showing the astronaut) and a fix
    in Toronto; yields (context, page, camera, problems) where problems collects page errors
    and Content-Security-Policy violations."""
    require_chromium()
    from playwright.sync_api import sync_playwright

    # Playwright's synchronous API runs an event loop in this thread, and Django refuses ORM
    # calls while one runs; the test's own queries are plain synchronous ones.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    camera = Camera(tmp_path / "camera.y4m")
    problems = []
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"),  # a fresh user-data dir
            executable_path=str(CHROMIUM),
            headless=True,
            args=[
                "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--disable-quic", "--no-first-run",
                "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                f"--use-file-for-fake-video-capture={camera.path}",
            ],
            viewport={"width": WIDTH, "height": 740},
            is_mobile=True,
            has_touch=True,
            locale="en-CA",
            timezone_id="America/Toronto",
            geolocation={**TORONTO, "accuracy": 25},
            permissions=["geolocation", "camera"],
        )
        context.set_default_timeout(TIMEOUT_MS)
        page = context.pages[0] if context.pages else context.new_page()
        page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
        page.on("console", lambda message: problems.append(f"console: {message.text}") if _is_violation(message.text) else None)
        try:
            yield context, page, camera, problems
        finally:
            context.close()
            # The test's queries, made while Playwright runs, get a database connection of
            # their own that pytest-django never closes (it would keep the test database from
            # being dropped at the end of the run on PostgreSQL).
            connections.close_all()


class Camera:
    """What Chromium's fake front camera shows: a video file, read again each time the app
    starts the camera, so that each check-in can be a new photo. (The same picture twice
    would rightly be taken for a re-sent photo.)"""

    # The astronaut framed differently for each check-in: (height, centre) in the frame.
    FRAMINGS = [(1.0, (0.5, 0.5)), (0.85, (0.35, 0.55)), (0.9, (0.65, 0.5))]

    def __init__(self, path: Path):
        self.path = path
        self.show(0)

    def show(self, framing: int) -> None:
        height, centre = self.FRAMINGS[framing]
        partial = self.path.with_suffix(".part")
        partial.write_bytes(images.y4m(images.astronaut(), height=height, centre=centre))
        partial.replace(self.path)  # never a half-written file for the camera to read


class CheckInPosts:
    """A route handler that counts the check-ins the phone posts (by Idempotency-Key), and can
    lose the server's answer to the next one: the server stores it, the phone hears nothing."""

    def __init__(self):
        self.keys, self.lose_next = [], False

    def __call__(self, route):
        if route.request.method != "POST":
            route.continue_()
            return
        self.keys.append(route.request.headers.get("idempotency-key"))
        if self.lose_next:
            self.lose_next = False
            route.fetch()
            route.abort("connectionreset")
        else:
            route.continue_()


def _is_violation(text: str) -> bool:
    return any(word in text for word in ("Content Security Policy", "Trusted Type", "TrustedScriptURL", "TrustedHTML"))


def _text(page) -> str:
    return " ".join(page.locator("main").inner_text().split())


def _flat(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_activate_consent_check_in_offline_and_withdraw_in_a_real_browser(live_server, celery_worker, phone, artifacts):
    context, page, camera, problems = phone
    # The officer's side: enrolment with the astronaut's portrait as reference photo, a daily
    # condition whose window opened ten minutes ago (local time) for three hours, with a
    # permitted area around Toronto, and an activation code. The scheduler makes the windows.
    client = factories.client(given_name="Alex", family_name="Tremblay")
    factories.reference_photo(client)
    opened = (timezone.now() - timedelta(minutes=10)).astimezone(ZoneInfo(client.local_time_zone))
    factories.condition(
        client, window_start=opened.time().replace(second=0, microsecond=0), window_minutes=180, starts_on=opened.date(),
        area_latitude=TORONTO["latitude"], area_longitude=TORONTO["longitude"], area_radius_km=50,
    )
    window = ReportingWindow.objects.get(client=client, opens_at__lte=timezone.now(), closes_at__gt=timezone.now())
    code, _ = factories.services.activation_code_issue(client=client, issued_by=None)
    shot = Screens(page, artifacts)

    # --- Activation: a wrong date of birth is refused with the server's message, then it works.
    page.goto(f"{live_server.url}/app/")
    page.get_by_role("heading", name="Activate ReportIn").wait_for()
    page.get_by_label("Activation code").fill(code)
    page.get_by_label("UCI (unique client identifier)").fill(client.uci)
    page.get_by_label("Date of birth").fill("1990-01-03")
    page.keyboard.press("Enter")
    page.get_by_role("alert").filter(has_text="is not right").wait_for()
    shot("activation-refused")
    page.get_by_label("Date of birth").fill(client.date_of_birth.isoformat())
    page.keyboard.press("Enter")

    # --- Both consent texts in full, each answered on its own, the in-person way explained.
    for step, kind in enumerate(("app_use", "biometric"), start=1):
        page.get_by_text(f"Consent {step} of 2").wait_for()
        text = ConsentText.objects.filter(kind=kind, language="en").order_by("-published_at").first()
        article = _flat(page.locator("article").inner_text())
        assert text.title in article and _flat(text.body) in article
        assert "report in person at your CBSA office instead" in _text(page)
        shot(f"consent-{kind}")
        page.get_by_role("button", name="I agree").click()
    page.get_by_role("heading", name="Hello, Alex").wait_for()
    assert set(ConsentRecord.objects.filter(client=client).values_list("kind", "decision", "channel")) == {
        ("app_use", "granted", "app"), ("biometric", "granted", "app"),
    }
    assert Device.objects.get(client=client).platform == "web"

    # --- Home: the open window in local time with a countdown.
    page.get_by_text("Your reporting window is open").wait_for()
    home = _text(page)
    assert re.search(r"Closes in 2 h \d\d min", home), home
    assert "Next window: " in home  # tomorrow's
    shot("home")

    # --- Check-in, reached with the keyboard (focus starts on the heading; the next stop is the
    # main action, with a visible focus ring): camera with the oval, a photo, a retake, the fix
    # with its accuracy, a new address.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Check in now"
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") == "solid"
    page.keyboard.press("Enter")
    take = page.get_by_role("button", name="Take photo")
    take.and_(page.locator(":enabled")).wait_for()
    assert page.locator(".camera .oval").is_visible()
    page.wait_for_function("document.querySelector('video').videoWidth > 0")
    shot("camera")
    take.click()
    page.get_by_role("img", name="Your photo for this check-in").wait_for()
    page.get_by_role("button", name="Retake photo").click()
    take.click()
    page.get_by_text("Location found, accurate to within 25 m.").wait_for()
    page.get_by_text("Has anything changed?").click()
    page.get_by_label("Address").fill("12 Queen St W, Toronto")
    shot("photo-preview")
    page.get_by_role("button", name="Send check-in").click()
    page.get_by_text("Your check-in was sent.").wait_for()
    shot("sent")
    page.locator(".badge-verified").wait_for(timeout=SCORING_TIMEOUT_MS)
    assert "Your report was accepted." in _text(page)
    page.get_by_text("You have reported for this window").wait_for()
    shot("verified")
    first = CheckIn.objects.get(client=client)
    assert first.status == "verified" and first.window_id == window.pk
    assert (first.latitude, first.longitude, first.accuracy_m) == (TORONTO["latitude"], TORONTO["longitude"], 25.0)
    assert first.reported_address == "12 Queen St W, Toronto"
    assert ReportingWindow.objects.get(pk=window.pk).status == "satisfied"

    # --- French: the app's words and the server's (Accept-Language) both.
    page.get_by_role("button", name="Français").click()
    page.get_by_role("heading", name="Bonjour, Alex").wait_for()
    assert page.evaluate("document.documentElement.lang") == "fr"
    home = _text(page)
    assert "Vous vous êtes présenté pour cette période" in home
    assert "Votre présentation a été acceptée." in home  # the status text, from the API
    assert "Your" not in home
    shot("home-french")

    # --- Chromium finds the app installable (manifest, icons, service worker in control).
    page.wait_for_function("navigator.serviceWorker.controller !== null")
    devtools = context.new_cdp_session(page)
    assert devtools.send("Page.getAppManifest")["errors"] == []
    assert devtools.send("Page.getInstallabilityErrors")["installabilityErrors"] == []
    devtools.detach()  # while attached, the offline switch below did not reach the page

    # --- Offline: the app opens from its service worker, the check-in waits on the phone.
    context.set_offline(True)
    page.reload()
    page.get_by_role("heading", name="Bonjour, Alex").wait_for()
    page.get_by_text("Vous êtes hors ligne. Les présentations").wait_for()
    camera.show(1)  # another photo: the astronaut framed differently
    page.get_by_role("link", name="Envoyer une présentation de plus").click()  # the window is done
    page.get_by_role("button", name="Prendre la photo").click()  # enabled once the camera runs
    page.get_by_text("Position trouvée, précise à 25 m près.").wait_for()
    shot("offline-photo")
    page.get_by_role("button", name="Envoyer ma présentation").click()
    page.get_by_text("Pas de réseau : votre présentation est gardée").wait_for()
    page.get_by_text("Pas encore envoyée").wait_for()
    shot("offline-waiting")
    page.wait_for_timeout(1500)
    assert CheckIn.objects.filter(client=client).count() == 1
    went_online_at = timezone.now()

    # --- Back online. The server's first answer is lost on the way back (the check-in is
    # stored, the phone hears nothing); the phone sends the same request again and the server
    # answers with the check-in it has: one new row, not two.
    posts = CheckInPosts()
    posts.lose_next = True
    context.route("**/api/v1/check-ins", posts)
    context.set_offline(False)
    page.get_by_text("Vos présentations qui attendaient sur ce téléphone ont été envoyées.").wait_for(timeout=60_000)
    assert page.locator("#outbox-title").count() == 0
    assert len(posts.keys) == 2 and posts.keys[0] == posts.keys[1], posts.keys
    checkins = CheckIn.objects.filter(client=client).order_by("id")
    assert checkins.count() == 2
    second = checkins.last()
    assert second.idempotency_key == posts.keys[0]
    assert second.captured_at < went_online_at < second.received_at  # captured offline, its time kept
    page.locator(".badge-verified").nth(1).wait_for(timeout=SCORING_TIMEOUT_MS)
    shot("offline-sent-once")
    assert CheckIn.objects.filter(client=client).count() == 2

    # --- A check-in the server refuses for good is shown, not retried: made offline, while
    # the person withdraws the biometric consent in person at the office.
    context.set_offline(True)
    camera.show(2)  # and another
    page.get_by_role("link", name="Envoyer une présentation de plus").click()
    page.get_by_role("button", name="Prendre la photo").click()
    page.get_by_text("Position trouvée, précise à 25 m près.").wait_for()
    page.get_by_role("button", name="Envoyer ma présentation").click()
    page.get_by_text("Pas encore envoyée").wait_for()
    factories.services.consent_record(
        client=client, kind="biometric", decision="withdrawn", text_version=text.version, language="fr", channel="in_person",
    )
    posts.keys.clear()  # the tries made offline never left the phone
    context.set_offline(False)
    page.get_by_text("Non acceptée").wait_for()
    refusal = _text(page)
    assert "La présentation à distance exige les deux consentements" in refusal, refusal  # the server's words
    assert "La présentation dans l'application est désactivée" in refusal
    shot("refused-shown")
    page.wait_for_timeout(6000)  # longer than the first retry would wait
    assert len(posts.keys) == 1 and CheckIn.objects.filter(client=client).count() == 2
    assert "Pas de réseau" not in refusal and "ont été envoyées" not in refusal  # no stale or false news
    page.get_by_role("button", name="Supprimer").click()
    page.locator("#outbox-title").wait_for(state="detached")

    # --- Settings: the other consent withdrawn in the app; home then says to report in person.
    page.get_by_role("link", name="Paramètres").click()
    assert "Retiré le" in page.locator("[data-kind=biometric]").inner_text()
    app_use = page.locator("[data-kind=app_use]")
    app_use.get_by_role("button", name="Retirer ce consentement").click()
    shot("withdraw-confirm")
    app_use.get_by_role("button", name="Oui, le retirer").click()
    page.get_by_role("heading", name="La présentation dans l'application est désactivée").wait_for()
    assert "Présentez-vous en personne à votre bureau de l'ASFC" in _text(page)
    assert page.locator("a[href='#/check-in']").count() == 0
    shot("withdrawn")

    # --- Reading the texts again and saying no: recorded, and still a choice without penalty.
    page.get_by_role("button", name="Relire les textes de consentement").click()
    for step in (1, 2):
        page.get_by_text(f"Consentement {step} sur 2").wait_for()
        assert "vous vous présentez plutôt en personne" in _text(page)
        page.get_by_role("button", name="Je refuse").click()
    page.get_by_role("heading", name="La présentation dans l'application est désactivée").wait_for()
    shot("refused")
    latest = {
        kind: ConsentRecord.objects.filter(client=client, kind=kind).order_by("-recorded_at", "-id").first()
        for kind in ("app_use", "biometric")
    }
    assert {kind: (record.decision, record.channel) for kind, record in latest.items()} == {
        "app_use": ("refused", "app"), "biometric": ("refused", "app"),
    }
    # One open task for the officer (one per client and reason): the first consent withdrawn
    # opens it, the second joins it as a further event; a "no" after a "no" changes nothing.
    [task] = InvestigationTask.objects.filter(client=client, reason="consent_withdrawn")
    assert task.notes.filter(kind="event").count() == 1
    assert ReportingCondition.objects.get(client=client, active=True).method == "in_person"

    assert problems == []
