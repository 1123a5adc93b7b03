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


def test_the_mobile_side_modules_import_each_other_one_way():
    """services -> tasks -> scoring -> selectors, each at the top of its module: no import inside
    a function to dodge a circle (scoring lives in reportin/scoring.py, not in services)."""
    import ast

    order = ["services", "tasks", "scoring", "selectors"]
    for position, name in enumerate(order):
        tree = ast.parse((ROOT / "reportin" / f"{name}.py").read_text())
        for node in ast.walk(tree):
            if not isinstance(node, ast.ImportFrom) or node.module not in ("reportin", *(f"reportin.{n}" for n in order)):
                continue
            imported = {alias.name for alias in node.names} if node.module == "reportin" else {node.module.split(".")[1]}
            backwards = imported & set(order[: position + 1])
            assert not backwards, f"reportin/{name}.py imports {backwards} (line {node.lineno}): against services -> tasks -> scoring -> selectors"
            if imported & set(order):
                assert node.col_offset == 0, f"reportin/{name}.py imports {imported} inside a function (line {node.lineno})"
