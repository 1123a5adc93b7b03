"""Compile the .po translation catalogues to .mo without GNU gettext (which a machine with
only Python and pip does not have); run by the installer (dev.py) and the Dockerfile."""

from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from django.conf import settings
from django.core.management.base import BaseCommand


def catalogue_paths() -> list[Path]:
    roots = [Path(p) for p in settings.LOCALE_PATHS] + [settings.BASE_DIR / app / "locale" for app in ("enforcement", "reportin")]
    return sorted(po for root in roots if root.is_dir() for po in root.glob("*/LC_MESSAGES/*.po"))


class Command(BaseCommand):
    help = "Compile every .po catalogue of the project to .mo."

    def handle(self, *args, **options):
        count = 0
        for po_path in catalogue_paths():
            mo_path = po_path.with_suffix(".mo")
            if mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
                continue
            with po_path.open("rb") as handle:
                catalogue = read_po(handle)
            with mo_path.open("wb") as handle:
                write_mo(handle, catalogue, use_fuzzy=False)
            count += 1
        self.stdout.write(f"Compiled {count} translation catalogue(s).")
