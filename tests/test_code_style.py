"""House rules that a linter or a grep can check."""

import re
import subprocess
import sys

from tests.conftest import ROOT


def test_ruff_finds_nothing():
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--quiet", "."], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


# The layers, lowest first: each may use those below it, never one above it
# (backoffice -> reportin -> enforcement -> biometrics).
LAYERS = ["biometrics", "enforcement", "reportin", "backoffice"]
# Calls that name a module or a model by a string, found at run time.
BY_NAME = {"get_model", "import_string", "send_task", "get_app_config", "import_module"}
# Lookups of the admin site's registry (what is registered, by whom): only the back office's
# own explicit lists say what a page or an export is.
REGISTRY_LOOKUPS = {"_registry", "get_model_admin"}
# get_model with a name known only at run time, allowed where it cannot cross a layer.
RUN_TIME_NAMES_ALLOWED = {
    "enforcement/append_only.py": "a migration operation reads its own model from the migration state",
}


def layer_offences(root) -> list[str]:
    """Every reference in a layer's code (imports at any depth, and names looked up at run time:
    apps.get_model, import_string, Celery's send_task..., a template or static file's path) to a
    layer above it, every lookup in the admin registry, and every get_model of a name not
    written out."""
    import ast

    offences = []
    for position, layer in enumerate(LAYERS):
        above = set(LAYERS[position + 1:])
        for path in sorted((root / layer).rglob("*.py")):
            where = path.relative_to(root).as_posix()
            tree = ast.parse(path.read_text(), filename=where)
            docstrings = {id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Expr)}
            for node in ast.walk(tree):
                line = f"{where}:{getattr(node, 'lineno', 0)}"
                if isinstance(node, ast.Import):
                    hit = [alias.name for alias in node.names if alias.name.split(".")[0] in above]
                    offences += [f"{line} imports {name}" for name in hit]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] in above:
                    offences.append(f"{line} imports from {node.module}")
                elif (
                    isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
                    and node.value.split("/")[0] in above and "/" in node.value
                ):
                    offences.append(f"{line} names {node.value!r}, a template or static file of a layer above")
                elif isinstance(node, ast.Attribute) and node.attr in REGISTRY_LOOKUPS:
                    offences.append(f"{line} looks up the admin registry ({node.attr})")
                elif isinstance(node, ast.Call):
                    func = node.func
                    name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
                    if name not in BY_NAME:
                        continue
                    args = [arg for arg in node.args if not isinstance(arg, ast.Starred)]
                    literal = [arg.value for arg in args if isinstance(arg, ast.Constant) and isinstance(arg.value, str)]
                    if not args or len(literal) < len(args) or any(isinstance(arg, ast.Starred) for arg in node.args):
                        if name == "get_model" and where not in RUN_TIME_NAMES_ALLOWED:
                            offences.append(f"{line} {name}() of a name known only at run time")
                        continue
                    if literal[0].split(".")[0] in above:
                        offences.append(f"{line} {name}({literal[0]!r}) reaches up to {literal[0].split('.')[0]}")
    return offences


def test_each_layer_uses_only_the_layers_below_it_even_at_run_time():
    offences = layer_offences(ROOT)
    assert not offences, "against backoffice -> reportin -> enforcement -> biometrics:\n" + "\n".join(offences)


def test_the_layering_check_finds_a_planted_reach_up(tmp_path):
    """The check above catches each kind of offence (a copy of the layers with one planted in each)."""
    import shutil

    for layer in LAYERS:
        shutil.copytree(ROOT / layer, tmp_path / layer, ignore=shutil.ignore_patterns("migrations", "static", "templates", "locale", "__pycache__"))
    planted = {
        "enforcement/planted_import.py": "def later():\n    from reportin import services\n",
        "reportin/planted_backoffice.py": "import backoffice.exports\n",
        "enforcement/planted_model.py": "from django.apps import apps\nCheckIn = apps.get_model('reportin', 'CheckIn')\n",
        "enforcement/planted_label.py": "from django.apps import apps\n\ndef model(label):\n    return apps.get_model(label)\n",
        "reportin/planted_registry.py": "from django.contrib import admin\n\ndef page(model):\n    return admin.site._registry[model]\n",
        "biometrics/planted_task.py": "def run(app):\n    app.send_task('enforcement.tasks.windows_sweep')\n",
        "enforcement/planted_template.py": "TEMPLATE = 'backoffice/widgets/weekday_boxes.html'\n",
    }
    for name, text in planted.items():
        (tmp_path / name).write_text(text)
    offences = layer_offences(tmp_path)
    found = "\n".join(offences)
    for name in planted:
        assert name in found, (name, found)
    assert {offence.split(":")[0] for offence in offences} == set(planted), found  # nothing else


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


def test_the_admin_site_mounts_every_back_office_page_and_config_urls_imports_none():
    """Issue 17.1: no admin view is imported into config/urls.py; the custom AdminSite
    (backoffice.site.ReportInAdminSite.get_urls) mounts the back office's own pages."""
    import ast

    from django.urls import reverse

    tree = ast.parse((ROOT / "config" / "urls.py").read_text())
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    assert not {name for name in imported if name.split(".")[0] in ("backoffice", "reportin", "enforcement")}, imported
    assert reverse("admin:accountability-dashboard") == "/admin/accountability/"
    assert reverse("admin:audit-verify") == "/admin/accountability/verify/"
    assert reverse("admin:signoff_inbox") == "/admin/sign-offs/"
