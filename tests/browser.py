"""What the browser tests share: Debian's Chromium (never a browser a test tool downloads) and
a folder for their screenshots."""

import os
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT

CHROMIUM = Path("/usr/bin/chromium")


def require_chromium() -> None:
    """Skip where Chromium is missing, or fail when REPORTIN_REQUIRE_BROWSER is set (CI)."""
    if CHROMIUM.exists():
        return
    if os.environ.get("REPORTIN_REQUIRE_BROWSER"):
        pytest.fail(f"{CHROMIUM} is missing and REPORTIN_REQUIRE_BROWSER is set: install Debian's chromium package")
    pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium); set REPORTIN_REQUIRE_BROWSER=1 to make this a failure")


def screenshot_folder(kind: str, label: str, capsys) -> Path:
    """A new folder test-artifacts/<kind>/<run id>/ (ignored by git), printed in the output."""
    folder = ROOT / "test-artifacts" / kind / (time.strftime("%Y%m%d-%H%M%S") + f"-{os.getpid()}")
    folder.mkdir(parents=True)
    with capsys.disabled():
        print(f"\n{label} screenshots: {folder}")
    return folder
