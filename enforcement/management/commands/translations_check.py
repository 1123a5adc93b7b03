"""List what is not translated yet, per language: the server's words (the .po catalogues of
enforcement and reportin: notices, SMS and email, consent for channels, API messages) and the
web app's words (reportin/static/reportin/app/strings.json). An untranslated word is shown in
English; this is the team's list of what to translate next (README: Languages).

The reference is every msgid found in any catalogue of the app, and every key of the app's
English strings. Words only staff see (admin and its templates, in English and French) are
left out unless `--staff`. `--fail` exits non-zero when anything is listed (for CI:
`--language fr --fail`)."""

import json
from pathlib import Path

from babel.messages.pofile import read_po
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

APPS = ("enforcement", "reportin")
APP_STRINGS = Path(settings.BASE_DIR) / "reportin" / "static" / "reportin" / "app" / "strings.json"


def _staff_only(locations) -> bool:
    """Every place the message is used is the back office's (admin modules, admin templates)."""
    files = [str(path) for path, _line in locations]
    return bool(files) and all(
        name.split("/")[-1].startswith("admin") or "templates/admin/" in name or name.startswith("admin") for name in files
    )


def _catalogue(app: str, language: str, staff: bool = True) -> dict[str, bool]:
    """msgid -> translated, for one app and language ({} when there is no catalogue)."""
    path = Path(settings.BASE_DIR) / app / "locale" / language / "LC_MESSAGES" / "django.po"
    if not path.exists():
        return {}
    with path.open("rb") as handle:
        catalogue = read_po(handle)
    found = {}
    for message in catalogue:
        if not message.id or (not staff and _staff_only(message.locations)):
            continue
        key = message.id[0] if isinstance(message.id, (list, tuple)) else message.id
        strings = message.string if isinstance(message.string, (list, tuple)) else [message.string]
        found[key] = bool(strings) and all(strings) and not message.fuzzy
    return found


def untranslated(language: str, staff: bool = False) -> dict[str, list[str]]:
    """{"enforcement": [msgid, ...], "reportin": [...], "app": [key, ...]} for one language."""
    others = [code for code, _ in settings.LANGUAGES if code != settings.LANGUAGE_CODE]
    result = {}
    for app in APPS:
        reference = set().union(*(_catalogue(app, code, staff) for code in others))
        own = _catalogue(app, language)
        result[app] = sorted(msgid for msgid in reference if not own.get(msgid))
    strings = json.loads(APP_STRINGS.read_text(encoding="utf-8"))
    words = strings.get(language, {})
    result["app"] = sorted(key for key in strings["en"] if not str(words.get(key, "")).strip())
    return result


class Command(BaseCommand):
    help = "List the words not translated yet in each language (they are shown in English)."

    def add_arguments(self, parser):
        parser.add_argument("--language", action="append", help="Only this language (repeatable); default: every one but English.")
        parser.add_argument("--staff", action="store_true", help="Also the words only staff see (back office).")
        parser.add_argument("--summary", action="store_true", help="Counts only.")
        parser.add_argument("--fail", action="store_true", help="Exit with an error when anything is untranslated.")

    def handle(self, *args, language=None, staff=False, summary=False, fail=False, **options):
        known = [code for code, _ in settings.LANGUAGES if code != settings.LANGUAGE_CODE]
        chosen = language or known
        unknown = sorted(set(chosen) - set(known))
        if unknown:
            raise CommandError(f"Not a language of the app: {', '.join(unknown)} (known: {', '.join(known)}).")
        total = 0
        for code in chosen:
            missing = untranslated(code, staff)
            count = sum(len(items) for items in missing.values())
            total += count
            parts = ", ".join(f"{where} {len(items)}" for where, items in missing.items())
            self.stdout.write(f"{code}: {count} untranslated ({parts})")
            if not summary:
                for where, items in missing.items():
                    for item in items:
                        self.stdout.write(f"  {where}: {item}")
        if fail and total:
            raise CommandError(f"{total} untranslated string(s).")
