#!/usr/bin/env python3
"""ReportIn's two commands for a fresh machine with only Python 3.11+ and pip.

    python3 dev.py run [--reseed] [--port N] [--host H]
        install, migrate, seed the demo data once, run web + worker + beat (Ctrl-C stops);
        later starts print the same demo logins and codes, --reseed issues new ones
    python3 dev.py test [--fast] [pytest arguments]
        install (with test tools) and run the whole test suite; --fast leaves out the tests
        that start other processes (worker, gunicorn, Chromium, schemathesis, subprocesses)

Both create ./.venv on first use and reinstall only when a requirements file changes.
Configuration comes from the environment (README: Configuration); with nothing set, the
project runs on embedded defaults (a SQLite file and a file-system broker under ./var).
"""

import hashlib
import os
import subprocess
import sys
import time
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = Path(os.environ.get("REPORTIN_VENV", ROOT / ".venv"))
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")


def say(message: str) -> None:
    print(f"\033[1m==> {message}\033[0m" if sys.stdout.isatty() else f"==> {message}", flush=True)


def run(*args, **kwargs) -> None:
    subprocess.run([str(a) for a in args], check=True, cwd=ROOT, **kwargs)


def ensure_venv(*, with_tests: bool) -> None:
    if sys.version_info < (3, 11):  # noqa: UP036 - dev.py runs under whatever python3 the user has
        sys.exit(f"ReportIn needs Python 3.11 or newer; this is {sys.version.split()[0]}.")
    if not PYTHON.exists():
        say(f"Creating a virtual environment in {VENV}")
        venv.EnvBuilder(with_pip=True).create(VENV)
    files = ["requirements.txt", "requirements-nodeps.txt"] + (["requirements-test.txt"] if with_tests else [])
    digest = hashlib.sha256(sys.version.encode())
    for name in files:
        digest.update((ROOT / name).read_bytes())
    stamp = VENV / f".installed-{'test' if with_tests else 'run'}"
    if stamp.exists() and stamp.read_text() == digest.hexdigest():
        return
    started = time.monotonic()
    say("Installing dependencies (dlib comes as a prebuilt wheel: nothing is compiled)")
    pip = [PYTHON, "-m", "pip", "--disable-pip-version-check"]
    run(*pip, "install", "-r", "requirements-test.txt" if with_tests else "requirements.txt")
    # face_recognition names the dlib sdist as a dependency; dlib-bin (installed above)
    # provides the same module prebuilt, so install it without its dependencies.
    run(*pip, "install", "--no-deps", "-r", "requirements-nodeps.txt")
    stamp.write_text(digest.hexdigest())
    say(f"Installed in {time.monotonic() - started:.0f} s")


def manage(*args, env=None) -> None:
    run(PYTHON, "manage.py", *args, env=env)


def take_flag(args: list[str], flag: str) -> tuple[bool, list[str]]:
    """Whether `flag` is among the arguments, and the arguments without it."""
    return flag in args, [a for a in args if a != flag]


def cmd_run(args: list[str]) -> int:
    reseed, args = take_flag(args, "--reseed")
    ensure_venv(with_tests=False)
    env = dict(os.environ)
    # The one-machine demo: development mode unless told otherwise (its secret and photo key
    # are made at random on first start, under var/: README, Configuration).
    env.setdefault("DJANGO_DEBUG", "1")
    # A refused --host or --port stops here, before anything is migrated or seeded.
    manage("runstack", "--check", *args, env=env)
    manage("compile_translations", env=env)
    say("Migrating the database")
    manage("migrate", "--no-input", env=env)
    # Seeded once: later starts print the same logins and codes, so that codes already handed
    # out and admin sessions survive a restart; --reseed asks for new ones.
    say("Seeding demo data" + (" (new passwords and activation codes)" if reseed else ""))
    manage("seed_demo", *(["--reseed"] if reseed else []), env=env)
    say("Starting web, worker and beat")
    child = subprocess.Popen([str(PYTHON), "manage.py", "runstack", *args], cwd=ROOT, env=env)
    try:
        return child.wait()
    except KeyboardInterrupt:
        # Ctrl-C reached both of us; runstack stops its children and exits.
        return child.wait()


def cmd_test(args: list[str]) -> int:
    fast, args = take_flag(args, "--fast")
    ensure_venv(with_tests=True)
    env = dict(os.environ)
    env["DJANGO_SETTINGS_MODULE"] = "config.test_settings"
    manage("compile_translations", env=env)
    if fast:
        # The edit-test loop: everything but the tests that start processes (pytest.ini:
        # markers). The README's command and CI run them all.
        say("Running the test suite without the tests that start processes (--fast)")
        args = ["-m", "not processes", *args]
    else:
        say("Running the test suite")
    return subprocess.run([str(PYTHON), "-m", "pytest", *args], cwd=ROOT, env=env).returncode


def main() -> int:
    commands = {"run": cmd_run, "test": cmd_test}
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        print(__doc__)
        return 2
    try:
        return commands[sys.argv[1]](sys.argv[2:])
    except subprocess.CalledProcessError as exc:
        print(f"dev.py: {' '.join(map(str, exc.cmd))} failed with status {exc.returncode}", file=sys.stderr)
        return exc.returncode or 1


if __name__ == "__main__":
    sys.exit(main())
