"""The web app's server side: its page and headers, service worker, manifest, icons, and the
rules its files must keep (no code or files from other sites, every word in both languages).
The app itself is exercised in a real browser by test_webapp_browser.py."""

import io
import json
import re
import shutil
from html.parser import HTMLParser

import pytest
from django.test import Client
from PIL import Image

from enforcement.models import CircumstanceField, ConsentDecision, ConsentKind
from reportin import webapp
from reportin.models import CheckInStatus

APP_FILES = sorted(path for path in webapp.APP_STATIC.iterdir() if path.is_file())


@pytest.fixture
def browser():
    return Client(HTTP_HOST="localhost")


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def _service_worker_config(text: str) -> dict:
    return json.loads(re.search(r"^const CONFIG = (\{.*\});$", text, re.M).group(1))


def test_app_page_has_a_strict_content_security_policy_and_no_inline_code(browser):
    response = browser.get("/app/")
    assert response.status_code == 200
    policy = dict(part.strip().split(" ", 1) for part in response["Content-Security-Policy"].split(";"))
    assert policy["default-src"] == "'self'"
    assert policy["script-src"] == "'self'" and policy["style-src"] == "'self'"
    assert policy["connect-src"] == "'self'" and policy["frame-ancestors"] == "'none'"
    assert policy["require-trusted-types-for"] == "'script'"
    assert "unsafe" not in response["Content-Security-Policy"]
    assert response["Permissions-Policy"].startswith("camera=(self), geolocation=(self), microphone=()")

    parser = _Tags()
    parser.feed(response.content.decode())
    scripts = [attrs for tag, attrs in parser.tags if tag == "script"]
    assert scripts == [{"type": "module", "src": "/static/reportin/app/app.js"}]
    assert not [tag for tag, _ in parser.tags if tag == "style"]
    inline = [(tag, name) for tag, attrs in parser.tags for name in attrs if name == "style" or name.startswith("on")]
    assert inline == []


def test_app_address_without_slash_leads_to_the_app(browser):
    response = browser.get("/app")
    assert response.status_code == 301 and response["Location"] == "/app/"


# (django_db: each answer's close ends a request, and Django then tidies the database
# connections a test before may have left open.)
@pytest.mark.django_db
def test_service_worker_is_served_from_the_app_folder_and_lists_every_file(browser):
    response = browser.get("/app/sw.js")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/javascript")
    assert response["Cache-Control"] == "no-cache"
    assert "Content-Security-Policy" in response
    config = _service_worker_config(response.content.decode())
    assert re.fullmatch(r"[0-9a-f]{16}", config["version"])
    assert config["shell"] == "/app/"
    assert {f"/static/reportin/app/{path.name}" for path in APP_FILES} <= set(config["assets"])
    for asset in config["assets"]:
        answer = browser.get(asset)
        assert answer.status_code == 200, asset
        answer.close()


def test_service_worker_version_changes_when_an_app_file_changes(monkeypatch, tmp_path):
    copy = tmp_path / "app"
    shutil.copytree(webapp.APP_STATIC, copy)
    monkeypatch.setattr(webapp, "APP_STATIC", copy)
    assets = webapp._assets()
    before = webapp._version(assets)
    assert webapp._version(assets) == before
    (copy / "app.css").write_text((copy / "app.css").read_text() + "\n/* changed */\n")
    assert webapp._version(assets) != before


def test_manifest_describes_an_installable_app_with_its_icons(browser):
    response = browser.get("/app/manifest.webmanifest")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/manifest+json"
    manifest = json.loads(response.content)
    assert (manifest["start_url"], manifest["scope"], manifest["display"]) == ("/app/", "/app/", "standalone")
    assert manifest["name"] == "ReportIn" and manifest["short_name"]
    sizes = {(icon["sizes"], icon["purpose"]) for icon in manifest["icons"]}
    assert {("192x192", "any"), ("512x512", "any"), ("192x192", "maskable"), ("512x512", "maskable")} <= sizes
    for icon in manifest["icons"]:
        answer = browser.get(icon["src"])
        assert answer.status_code == 200 and answer["Content-Type"] == "image/png"
        image = Image.open(io.BytesIO(answer.content))
        assert f"{image.width}x{image.height}" == icon["sizes"] and image.format == "PNG"


def test_icons_come_only_in_the_sizes_the_app_uses(browser):
    assert browser.get("/app/icon-180.png").status_code == 200
    assert browser.get("/app/icon-64.png").status_code == 404


def test_app_files_load_nothing_from_other_sites():
    sources = [*APP_FILES, *webapp.TEMPLATES.glob("app*")]
    for path in sources:
        text = path.read_text()
        assert not re.search(r"(https?:)?//[a-z0-9-]+\.[a-z]", text, re.I), f"{path.name} names another site"
        for module in re.findall(r"""^import .* from "([^"]+)";$""", text, re.M):
            assert module.startswith("./"), f"{path.name} imports {module}"


def test_every_word_of_the_app_is_in_english_and_french():
    strings = json.loads((webapp.APP_STATIC / "strings.json").read_text())
    assert set(strings) == {"en", "fr", "es", "pa", "hi", "ht", "ar"}
    assert set(strings["en"]) == set(strings["fr"])
    # The other languages may lag behind (a missing word is shown in English, and listed by
    # manage.py translations_check), but never say a word English does not have, and fill in
    # the same values.
    for language, words in strings.items():
        assert set(words) <= set(strings["en"]), (language, set(words) - set(strings["en"]))
        for key, text in words.items():
            english = strings["en"][key]
            assert english.strip() and text.strip(), (language, key)
            assert set(re.findall(r"\{\w+\}", english)) == set(re.findall(r"\{\w+\}", text)), (language, key)

    code = "\n".join(path.read_text() for path in APP_FILES if path.suffix == ".js")
    code = re.sub(r"^\s*//.*$", "", code, flags=re.M)
    # Keys written out in t(...) calls (first argument, or either branch of a ternary there),
    # and the countdown's labels.
    used = {key for call in re.findall(r"\bt\(([^()]*)", code) for key in re.findall(r'(?:^|[?:]\s*)"(\w+)"', call)}
    used |= set(re.findall(r'label = "(\w+)"', code))
    # Keys the app puts together from values the API sends.
    used |= {f"status_{status}" for status in CheckInStatus.values}
    used |= {f"consent_kind_{kind}" for kind in ConsentKind.values}
    used |= {f"consent_state_{decision}" for decision in ConsentDecision.values}
    used |= {f"{field}_label" for field in CircumstanceField.values}
    used |= set(re.findall(r"""\w+: "((?:camera|location)_\w+)",""", code))
    missing = sorted(used - set(strings["en"]))
    assert missing == []
    # And no word is left over that nothing shows.
    unused = [key for key in strings["en"] if key not in used and f'"{key}"' not in code]
    assert unused == []


def test_browser_test_fails_without_chromium_where_a_browser_is_required(monkeypatch, tmp_path):
    from tests import browser

    monkeypatch.setattr(browser, "CHROMIUM", tmp_path / "no-chromium")
    monkeypatch.setenv("REPORTIN_REQUIRE_BROWSER", "1")
    with pytest.raises(pytest.fail.Exception, match="REPORTIN_REQUIRE_BROWSER"):
        browser.require_chromium()
    monkeypatch.delenv("REPORTIN_REQUIRE_BROWSER")
    with pytest.raises(pytest.skip.Exception, match="apt-get install chromium"):
        browser.require_chromium()
