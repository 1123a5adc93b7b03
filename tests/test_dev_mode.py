"""Development mode is not a skeleton key: its secret and photo key are random, per machine and
private; it will not serve a network or a real database with them; the embedded defaults keep
their database and mails private (issue 14, items 6 and 13)."""

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from config import devsecrets
from tests.conftest import ROOT

PRINT_SECRETS = (
    "from django.conf import settings; import json; "
    "print(json.dumps({'secret': settings.SECRET_KEY, 'keys': settings.REPORTIN_ENCRYPTION_KEYS, 'db': str(settings.DATABASES['default']['NAME'])}))"
)


def dev_process(data_dir: Path, *args: str, **overrides: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "REPORTIN_", "DATABASE_", "CELERY_", "EMAIL_"))}
    env.update(DJANGO_SETTINGS_MODULE="config.settings", DJANGO_DEBUG="1", REPORTIN_DATA_DIR=str(data_dir), **overrides)
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.processes
def test_debug_makes_a_random_private_secret_and_photo_key_on_first_start_and_keeps_them(tmp_path):
    first, second = tmp_path / "one", tmp_path / "two"
    runs = []
    for data_dir in (first, first, second):
        result = dev_process(data_dir, "shell", "-c", PRINT_SECRETS)
        assert result.returncode == 0, result.stderr
        runs.append(json.loads(result.stdout.strip().splitlines()[-1]))
    assert runs[0] == runs[1]  # kept: sessions and stored photos survive a restart
    assert runs[0]["secret"] != runs[2]["secret"] and runs[0]["keys"] != runs[2]["keys"]  # per machine
    assert runs[0]["secret"] != "dev-only-insecure-secret-key-never-use-in-production-0123456789"
    assert len(runs[0]["secret"]) >= 50 and runs[0]["keys"].startswith("dev:")
    stored = json.loads((first / devsecrets.FILE_NAME).read_text())
    assert (stored["secret_key"], stored["encryption_keys"]) == (runs[0]["secret"], runs[0]["keys"])
    assert mode(first / devsecrets.FILE_NAME) == 0o600 and mode(first) == 0o700
    # The embedded database is the owner's alone, and so are SQLite's side files.
    database = Path(runs[0]["db"])
    assert database.parent == first and mode(database) == 0o600


@pytest.mark.processes
def test_debug_against_a_real_database_needs_a_secret_of_its_own(tmp_path):
    postgres = "postgres://reportin@127.0.0.1:5432/reportin"
    refused = dev_process(tmp_path, "check", DATABASE_URL=postgres)
    assert refused.returncode != 0
    assert "non-SQLite DATABASE_URL: set DJANGO_SECRET_KEY" in refused.stderr
    assert not (tmp_path / devsecrets.FILE_NAME).exists()
    allowed = dev_process(
        tmp_path, "shell", "-c", "print('ok')", DATABASE_URL=postgres, DJANGO_SECRET_KEY="s" * 60,
        REPORTIN_ENCRYPTION_KEYS="k1:" + "A" * 43 + "=",
    )
    assert allowed.returncode == 0 and allowed.stdout.strip().endswith("ok"), allowed.stderr


def test_a_secrets_file_others_can_read_is_refused(tmp_path):
    from django.core.exceptions import ImproperlyConfigured

    devsecrets.load_or_create(tmp_path)
    path = tmp_path / devsecrets.FILE_NAME
    os.chmod(path, 0o644)
    with pytest.raises(ImproperlyConfigured, match="readable by other users"):
        devsecrets.load_or_create(tmp_path)
    os.chmod(path, 0o600)
    assert devsecrets.load_or_create(tmp_path) == json.loads(path.read_text())


def test_a_damaged_secrets_file_is_refused_with_what_to_do(tmp_path):
    from django.core.exceptions import ImproperlyConfigured

    path = tmp_path / devsecrets.FILE_NAME
    path.write_text("{not json")
    os.chmod(path, 0o600)
    with pytest.raises(ImproperlyConfigured, match="damaged: delete it"):
        devsecrets.load_or_create(tmp_path)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10", "reportin.example.org"])
def test_debug_refuses_to_listen_beyond_this_machine(settings, host):
    settings.DEBUG = True
    with pytest.raises(CommandError, match="debug mode serves this machine only"):
        call_command("runstack", "--host", host, "--port", "18150")


def test_checking_the_arguments_starts_nothing(settings, capsys):
    settings.DEBUG = True
    call_command("runstack", "--check", "--host", "127.0.0.1", "--port", "18150")
    assert "running" not in capsys.readouterr().out
    with pytest.raises(CommandError, match="not a TCP port"):
        call_command("runstack", "--check", "--port", "70000")


@pytest.mark.parametrize(("host", "loopback"), [("127.0.0.1", True), ("127.8.0.1", True), ("::1", True), ("[::1]", True),
                                               ("localhost", True), ("0.0.0.0", False), ("::", False), ("example.org", False)])
def test_loopback_addresses_are_told_apart(host, loopback):
    from enforcement.management.commands.runstack import is_loopback

    assert is_loopback(host) is loopback


def test_reminder_mails_are_written_for_the_owner_only(tmp_path):
    from django.core.mail import EmailMessage

    from config.mail import PrivateFileEmailBackend

    folder = tmp_path / "mail"
    backend = PrivateFileEmailBackend(file_path=str(folder))
    assert backend.send_messages([EmailMessage("Your window is open", "Hello", "a@example.org", ["b@example.org"])]) == 1
    [written] = list(folder.iterdir())
    assert mode(folder) == 0o700 and mode(written) == 0o600
    assert "Your window is open" in written.read_text()


def test_the_embedded_defaults_send_reminders_through_the_private_backend():
    # The module's own value: the test runner swaps in its in-memory backend at run time.
    from config import settings as project_settings

    assert project_settings.EMAIL_BACKEND == "config.mail.PrivateFileEmailBackend"
