"""axe-core (Deque's accessibility engine) for the browser tests: a pinned version, fetched
once from the npm registry with npm, checked against the registry's sha512, and kept in the
virtual environment (never in the repository): <venv>/share/axe-core/<version>/axe.min.js.

`serious_violations(page)` runs it on the page as it is and answers the violations of
impact "serious" or "critical" (WCAG 2.1 A/AA rules and axe's best practices: landmarks,
the skip link, contrast, names of controls)."""

import base64
import hashlib
import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import pytest

VERSION = "4.10.3"
INTEGRITY = "sha512-Xm7bpRXnDSX2YE2YFfBk2FnF0ep6tmG7xPh8iHee8MIcrgq762Nkce856dYtJYLkuIoYZvGfTs/PbZhideTcEg=="
RULE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]


def _cache_path() -> Path:
    return Path(sys.prefix) / "share" / "axe-core" / VERSION / "axe.min.js"


def _unavailable(reason: str):
    if os.environ.get("REPORTIN_REQUIRE_BROWSER"):
        pytest.fail(f"axe-core {VERSION} is not available: {reason}")
    pytest.skip(f"axe-core {VERSION} is not available: {reason}; set REPORTIN_REQUIRE_BROWSER=1 to make this a failure")


def source() -> str:
    """axe.min.js of the pinned version: from the cache, or fetched with `npm pack` first."""
    path = _cache_path()
    if path.exists():
        return path.read_text()
    npm = shutil.which("npm")
    if npm is None:
        _unavailable("npm is missing (apt-get install npm)")
    with tempfile.TemporaryDirectory() as folder:
        try:
            done = subprocess.run(
                [npm, "pack", f"axe-core@{VERSION}", "--pack-destination", folder, "--silent"],
                cwd=folder, capture_output=True, text=True, timeout=300, check=False,
            )
        except subprocess.TimeoutExpired:
            _unavailable("npm pack timed out")
        tarballs = list(Path(folder).glob("axe-core-*.tgz"))
        if done.returncode != 0 or len(tarballs) != 1:
            _unavailable(f"npm pack failed: {done.stderr.strip()[-500:]}")
        data = tarballs[0].read_bytes()
    algorithm, expected = INTEGRITY.split("-", 1)
    if base64.b64encode(hashlib.new(algorithm, data).digest()).decode() != expected:
        pytest.fail(f"axe-core {VERSION} from the registry does not match its pinned sha512")
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        script = archive.extractfile("package/axe.min.js").read().decode()
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.write_text(script)
    partial.replace(path)
    return script


def violations(page) -> list[dict]:
    """Every violation axe finds on the page: id, impact, help and the first offending nodes.
    The page's context must bypass its Content-Security-Policy (the script is added inline)."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.add_script_tag(content=source())
    return page.evaluate(
        """async (tags) => {
            const result = await axe.run(document, {runOnly: {type: "tag", values: tags}, resultTypes: ["violations"]});
            return result.violations.map((v) => ({
                id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.slice(0, 5).map((n) => n.target.join(" ") + " :: " + (n.failureSummary || "").split("\\n").slice(0, 2).join(" ")),
            }));
        }""",
        RULE_TAGS,
    )


def serious_violations(page) -> list[dict]:
    return [v for v in violations(page) if v["impact"] in ("serious", "critical")]
