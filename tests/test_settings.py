"""Settings come from the environment and fail loudly on bad values."""

import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT

GOOD_KEY = "k1:" + "A" * 43 + "="
PRODUCTION = {
    "DJANGO_DEBUG": "0",
    "DJANGO_SECRET_KEY": "p" * 20 + "-production-like-secret-key-" + "q" * 20,
    "DJANGO_ALLOWED_HOSTS": "reportin.example.org",
    "REPORTIN_ENCRYPTION_KEYS": GOOD_KEY,
}


def django_process(env_overrides: dict, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "REPORTIN_", "DATABASE_", "CELERY_"))}
    env["DJANGO_SETTINGS_MODULE"] = "config.settings"
    env["REPORTIN_DATA_DIR"] = os.environ["REPORTIN_DATA_DIR"]
    env.update(env_overrides)
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_production_settings_pass_check_deploy_without_warnings():
    result = django_process(PRODUCTION, "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_embedded_defaults_need_no_configuration_in_debug():
    result = django_process({"DJANGO_DEBUG": "1"}, "check")
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"DJANGO_SECRET_KEY": ""}, "DJANGO_SECRET_KEY must be set"),
        ({"DJANGO_SECRET_KEY": "short"}, "at least 50 characters"),
        ({"DJANGO_DEBUG": "maybe"}, "DJANGO_DEBUG='maybe' is not a boolean"),
        ({"DATABASE_URL": "mysql://localhost/x"}, "DATABASE_URL must be a sqlite:// or postgres:// URL"),
        ({"DATABASE_URL": "nonsense"}, "DATABASE_URL is not a valid database URL"),
        ({"CELERY_BROKER_URL": "memory://"}, "CELERY_BROKER_URL scheme 'memory' is not supported"),
        ({"REPORTIN_ENCRYPTION_KEYS": ""}, "REPORTIN_ENCRYPTION_KEYS must be set"),
        ({"REPORTIN_ENCRYPTION_KEYS": "k1:c2hvcnQ="}, "must be 32 bytes"),
        ({"REPORTIN_UPLOAD_MAX_BYTES": "ten"}, "REPORTIN_UPLOAD_MAX_BYTES='ten' is not an integer"),
        ({"REPORTIN_FACE_THRESHOLD": "-1"}, "REPORTIN_FACE_THRESHOLD=-1.0 is below the minimum"),
        ({"REPORTIN_REMINDER_HOURS_BEFORE_CLOSE": "-1"}, "REPORTIN_REMINDER_HOURS_BEFORE_CLOSE=-1 is below the minimum"),
        ({"EMAIL_BACKEND": "pigeon"}, "EMAIL_BACKEND='pigeon': use file, console, smtp or a dotted path"),
    ],
)
def test_bad_configuration_stops_start_up_naming_the_variable(overrides, message):
    result = django_process({**PRODUCTION, **overrides}, "check")
    assert result.returncode != 0
    assert message in result.stderr


def test_debug_mode_derives_a_development_encryption_key():
    result = django_process({"DJANGO_DEBUG": "1"}, "shell", "-c", "from django.conf import settings; print(settings.REPORTIN_ENCRYPTION_KEYS.split(':')[0])")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("dev")


def test_every_setting_read_from_the_environment_is_in_the_readme_table():
    import re

    names = set(re.findall(r'env_(?:str|int|float|bool|list)\(\s*"([A-Z_]+)"', (ROOT / "config" / "settings.py").read_text()))
    readme = (ROOT / "README.md").read_text()
    table = {name for row in readme.splitlines() if row.startswith("| `") for name in re.findall(r"`([A-Z][A-Z_]+)`", row.split("|")[1])}
    assert names - table == set()


def test_secrets_are_read_from_name_file_paths(tmp_path):
    """Docker secrets: NAME_FILE names a file holding NAME's value (one trailing newline dropped)."""
    secret = tmp_path / "django_secret_key"
    secret.write_text("file-secret-" + "f" * 50 + "\n")
    env = {key: value for key, value in PRODUCTION.items() if key != "DJANGO_SECRET_KEY"}
    result = django_process({**env, "DJANGO_SECRET_KEY_FILE": str(secret)}, "shell", "-c", "from django.conf import settings; print(settings.SECRET_KEY)")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "file-secret-" + "f" * 50
    both = django_process({**PRODUCTION, "DJANGO_SECRET_KEY_FILE": str(secret)}, "check")
    assert both.returncode != 0 and "set DJANGO_SECRET_KEY or DJANGO_SECRET_KEY_FILE, not both" in both.stderr
    missing = django_process({**env, "DJANGO_SECRET_KEY_FILE": str(tmp_path / "absent")}, "check")
    assert missing.returncode != 0 and "DJANGO_SECRET_KEY_FILE=" in missing.stderr and "cannot be read" in missing.stderr
