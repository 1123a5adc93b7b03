"""House rules that a linter or a grep can check."""

import re
import subprocess
import sys

from tests.conftest import ROOT


def test_ruff_finds_nothing():
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--quiet", "."], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_enforcement_never_imports_reportin():
    offenders = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in (ROOT / "enforcement").rglob("*.py")
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if re.match(r"\s*(from|import)\s+reportin\b", line)
    ]
    assert not offenders, f"enforcement must not import reportin: {offenders}"


def test_biometrics_does_not_depend_on_django():
    offenders = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "biometrics").rglob("*.py")
        if re.search(r"^\s*(from|import)\s+(django|enforcement|reportin)\b", path.read_text(), re.M)
    ]
    assert not offenders, offenders


def test_no_merge_conflict_markers_are_left_in_the_repository():
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    marker = re.compile(r"^(<{7} |={7}$|>{7} )", re.MULTILINE)
    left = [name for name in tracked if (ROOT / name).is_file() and marker.search((ROOT / name).read_text(errors="ignore"))]
    assert left == []
