"""Languages (issue 18.9): English and French, plus Spanish, Punjabi, Hindi, Haitian Creole and
Arabic. The person's language is used for notices, reminders by SMS and the consent texts; a
word not translated yet is shown in English, and `manage.py translations_check` lists it."""

import io
import json
from datetime import date, time

import pytest
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from enforcement import notifications, services
from enforcement.models import AuditEvent, Notice
from tests import factories
from tests.conftest import make_reporter
from tests.gcnotify import API_KEY, TEMPLATES, GCNotify

pytestmark = pytest.mark.django_db

NUMBER = "+16135550123"


def check(*args) -> str:
    out = io.StringIO()
    call_command("translations_check", *args, stdout=out)
    return out.getvalue()


@pytest.mark.parametrize("language", ["fr", "es", "pa", "hi", "ht", "ar"])
def test_every_language_has_every_word_a_person_sees_and_the_check_says_so(language):
    # French is reviewed; the five others are machine-drafted (README: Languages), but none may
    # leave a word a person sees in English.
    assert check("--language", language, "--fail").strip() == f"{language}: 0 untranslated (enforcement 0, reportin 0, app 0)"


def test_the_check_lists_what_is_not_translated_yet_and_nothing_that_is(tmp_path, monkeypatch):
    from enforcement.management.commands import translations_check

    # The app's Punjabi words without one of them, as when a new screen adds a word.
    strings = json.loads(translations_check.APP_STRINGS.read_text(encoding="utf-8"))
    del strings["pa"]["camera_busy"]
    copy = tmp_path / "strings.json"
    copy.write_text(json.dumps(strings, ensure_ascii=False), encoding="utf-8")
    monkeypatch.setattr(translations_check, "APP_STRINGS", copy)
    listed = check("--language", "pa").splitlines()
    assert listed[0].startswith("pa: ")
    assert "  app: camera_busy" in listed and "  app: nav_home" not in listed
    assert "  enforcement: You missed a reporting window" not in listed  # translated
    assert not any(line.startswith("  enforcement: We received your check-in of %(when)s") for line in listed)  # translated
    # A word only staff see (the back office) is left out, unless asked for; in Punjabi it is not translated.
    revoke = "  reportin: Revoke the selected devices (their tokens stop working at once)"
    assert revoke not in listed and revoke in check("--language", "pa", "--staff").splitlines()
    with pytest.raises(CommandError, match="untranslated"):
        check("--language", "pa", "--fail")
    with pytest.raises(CommandError, match="Not a language of the app: xx"):
        check("--language", "xx")


def missed_notice(language: str) -> Notice:
    client = factories.client(preferred_language=language, email="ana@example.org")
    factories.office_hours(client, ends_on=date(2026, 3, 2))
    services.windows_sweep(now=factories.toronto(2026, 3, 2, 18, 1))
    return Notice.objects.get(client=client, kind="missed_window")


@pytest.mark.parametrize("language, title, words", [
    ("ar", "فاتتك فترة إبلاغ", "لم نتلقَّ إبلاغًا لفترة إبلاغك"),
    ("es", "No se presentó en un período de presentación", "Qué hacer ahora"),
    ("ht", "Ou rate yon peryòd prezantasyon", "Sa pou w fè kounye a"),
])
def test_a_notice_is_in_the_persons_language(language, title, words):
    shown = notifications.notice_text(missed_notice(language), language)
    assert shown.subject == title and words in shown.body and shown.language == language


def test_an_untranslated_notice_falls_back_to_english(settings, tmp_path):
    # A catalogue that lacks a notice's words shows them in English. Punjabi has every notice now, so the
    # catalogue here is one of the test's own (German, compiled as compile_translations does) that has an
    # extra check-in's title but not its body.
    client = factories.client(preferred_language="pa")
    extra = services.notice_post(client=client, kind="extra_checkin", details={"captured_at": "2026-03-02T15:04:11+00:00"})
    punjabi = notifications.notice_text(extra, "pa")
    assert punjabi.subject == "ਹਾਜ਼ਰੀ ਰੱਖ ਲਈ ਗਈ, ਪਰ ਇਹ ਕਿਸੇ ਮਿਆਦ ਵਿੱਚ ਨਹੀਂ ਗਿਣੀ ਜਾਂਦੀ"
    assert punjabi.body.startswith("ਸਾਨੂੰ ਤੁਹਾਡੀ ")
    german = Catalog(locale="de")
    german.add("Check-in kept, but it does not count for a window", "Check-in gespeichert, zählt aber für kein Zeitfenster")
    folder = tmp_path / "de" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    with (folder / "django.mo").open("wb") as handle:
        write_mo(handle, german)
    settings.LOCALE_PATHS = [*settings.LOCALE_PATHS, tmp_path]  # Django forgets its loaded catalogues on this change
    shown = notifications.notice_text(extra, "de")
    assert shown.subject == "Check-in gespeichert, zählt aber für kein Zeitfenster"
    assert shown.body.startswith("We received your check-in of")


def test_an_sms_reminder_is_sent_in_the_persons_language_through_the_english_template(settings):
    with GCNotify() as standin:
        settings.GC_NOTIFY_API_URL, settings.GC_NOTIFY_API_KEY = standin.url, API_KEY
        settings.GC_NOTIFY_SMS_TEMPLATES = {**TEMPLATES, "es": ""}  # no Spanish template of its own
        client = factories.client(preferred_language="es", given_name="Ana")
        services.contact_channels_set(client=client, channels=[{"channel": "sms", "address": NUMBER}], language="es", recorded_via="app")
        factories.condition(client, window_start=time(9, 0), window_minutes=480, grace_minutes=60, starts_on=date(2026, 3, 1),
                            ends_on=date(2026, 3, 2), now=factories.MONDAY_MORNING)
        assert services.notifications_send(now=factories.toronto(2026, 3, 2, 9, 1)) == 1
    [sms] = standin.sent
    assert sms["template"]["id"] == TEMPLATES["en"]
    assert "Ya puede presentarse en la aplicación ReportIn" in sms["body"]


def test_the_api_answers_in_the_language_asked_with_right_to_left_consent_texts():
    reporter = make_reporter(preferred_language="ar")
    text = APIClient().get("/api/v1/consent-text", {"kind": "app_use", "language": "ar"}).json()
    assert text["language"] == "ar" and text["title"] == "استخدام تطبيق ReportIn للإبلاغ عن الحضور"
    answer = reporter.api.get("/api/v1/channels", HTTP_ACCEPT_LANGUAGE="ar")
    assert answer["Content-Language"] == "ar"
    sms = next(item for item in answer.json()["available"] if item["channel"] == "sms")
    assert sms["consent_text"].startswith("أوافق على أن ترسل لي وكالة خدمات الحدود الكندية")
    # Consent given in Arabic is recorded in Arabic.
    chosen = reporter.api.put("/api/v1/channels", {"language": "ar", "channels": [{"channel": "sms", "address": NUMBER}]}, format="json")
    assert chosen.status_code == 200 and chosen.json()["channels"][0]["consent_language"] == "ar"


def test_each_new_language_has_both_consent_texts():
    for language in ("es", "pa", "hi", "ht", "ar"):
        for kind in ("app_use", "biometric"):
            assert services.consent_text_current(kind=kind, language=language).version == "2026-01"


def test_a_status_text_in_spanish_and_an_unknown_language_in_english():
    reporter = make_reporter()
    reporter.check_in()
    spanish = reporter.api.get("/api/v1/check-ins", HTTP_ACCEPT_LANGUAGE="es").json()["results"][0]["status_text"]
    assert spanish in {"Se recibió su presentación.", "Se está revisando su foto.", "Su presentación fue aceptada.",
                       "Un agente revisará su presentación. No tiene que hacer nada a menos que se comuniquen con usted."}
    german = reporter.api.get("/api/v1/check-ins", HTTP_ACCEPT_LANGUAGE="de").json()["results"][0]["status_text"]
    assert german.startswith(("Your", "An officer"))


def test_the_person_chooses_their_language_for_every_channel():
    reporter = make_reporter(preferred_language="en")
    answer = reporter.api.put("/api/v1/language", {"language": "ht"}, format="json")
    assert answer.status_code == 200 and answer.json() == {"language": "ht"}
    reporter.client.refresh_from_db()
    assert reporter.client.preferred_language == "ht"
    [event] = AuditEvent.objects.filter(client=reporter.client, action="client.language")
    assert event.details == {"old": "en", "new": "ht", "via": "app"}
    # Messages now come in Haitian Creole; the same choice again changes nothing.
    assert reporter.api.put("/api/v1/language", {"language": "ht"}, format="json").status_code == 200
    assert AuditEvent.objects.filter(client=reporter.client, action="client.language").count() == 1
    refused = reporter.api.put("/api/v1/language", {"language": "de"}, format="json")
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "invalid_input"
    reporter.client.refresh_from_db()
    assert reporter.client.preferred_language == "ht"
