import copy
import hashlib
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def wait_for(predicate, *, timeout: float = 60.0, interval: float = 0.2, message: str = "condition"):
    """Poll until predicate() is truthy; return its value or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {message}")
        time.sleep(interval)


def in_threads(*targets) -> list:
    """Run the callables in threads started together, each thread with its own database
    connection. Returns their results."""
    results, errors, start = [None] * len(targets), [], threading.Barrier(len(targets))

    def run(index):
        try:
            start.wait()
            results[index] = targets[index]()
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            from django.db import connections

            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(targets))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors, errors
    return results


def worker_env() -> dict[str, str]:
    """Environment for a process that must see the test database (not the dev one)."""
    from django.db import connection

    env = dict(os.environ)
    env["DJANGO_SETTINGS_MODULE"] = "config.test_settings"
    settings_dict = connection.settings_dict
    if connection.vendor == "postgresql":
        host = settings_dict.get("HOST") or ""
        port = settings_dict.get("PORT") or 5432
        user = settings_dict.get("USER") or ""
        auth = f"{user}@" if user else ""
        env["DATABASE_URL"] = f"postgres://{auth}{host}:{port}/{settings_dict['NAME']}"
    else:
        env["DATABASE_URL"] = f"sqlite:///{settings_dict['NAME']}"
    return env


class WorkerProcess:
    def __init__(self, process: subprocess.Popen, log_path: Path):
        self.process = process
        self.log_path = log_path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@pytest.fixture(scope="session")
def celery_worker(django_db_setup, django_db_blocker, tmp_path_factory):
    """A real Celery worker process consuming the configured broker (the file-system
    transport by default, Redis in CI) and writing to the test database. Tests that use it
    need committed data: mark them django_db(transaction=True, serialized_rollback=True), so
    that the data migrations made (regions, consent texts) are back for the tests after them."""
    from config.celery import app

    with django_db_blocker.unblock():
        env = worker_env()
    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=3)
    app.control.purge()  # messages left by earlier runs name rows that no longer exist
    log_path = tmp_path_factory.mktemp("worker") / "worker.log"
    log = log_path.open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", "scoring,default,long,notify", "--concurrency", "1",
         "-l", "INFO", "--without-gossip", "--without-mingle", "--hostname", f"test-{os.getpid()}@%h"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    worker = WorkerProcess(process, log_path)
    wait_for(lambda: "ready." in worker.log() or process.poll() is not None, timeout=60, message="the worker to start")
    if process.poll() is not None:
        pytest.fail(f"the Celery worker exited at start:\n{worker.log()}")
    yield worker
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    log.close()


@pytest.fixture
def shared_faces():
    from tests.images import SHARED_FACES

    if not SHARED_FACES.is_dir():
        pytest.skip(f"the shared face photos are not at {SHARED_FACES} (tests that need real photos are skipped)")
    return SHARED_FACES


@pytest.fixture(autouse=True)
def _fresh_rate_counters():
    """Request-rate counters live in the shared cache: each test starts with none."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture(autouse=True)
def _own_audit_heads(settings, tmp_path):
    """Each test publishes audit-chain heads to a file of its own (a head of another test's
    chain would contradict this one's)."""
    settings.REPORTIN_AUDIT_HEADS_FILE = str(tmp_path / "audit-heads.log")


@pytest.fixture
def media_root(settings, tmp_path):
    """A private MEDIA_ROOT for the test, so that it can tell exactly which files were written."""
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def stored_files(root: Path, folder: str = "selfies") -> list[Path]:
    directory = root / folder
    return sorted(directory.iterdir()) if directory.is_dir() else []


class Reporter:
    """An enrolled client with an activated phone, and an API client that sends its token."""

    def __init__(self, client, token, device):
        from rest_framework.test import APIClient

        self.client, self.token, self.device = client, token, device
        self.api = APIClient()
        self.api.credentials(HTTP_AUTHORIZATION=f"Token {token}")

    def check_in(self, *, key: str | None = "key-1", selfie=b"", **fields):
        """POST a check-in: `selfie` is bytes (b"" for the default picture), an uploaded file or a
        list of them, or None to send none."""
        from django.core.files.uploadedfile import SimpleUploadedFile
        from django.utils import timezone

        from tests import images

        if isinstance(selfie, bytes):
            selfie = SimpleUploadedFile("selfie.jpg", selfie or images.selfie(), "image/jpeg")
        data = {
            "selfie": selfie,
            "latitude": "43.6532",
            "longitude": "-79.3832",
            "accuracy_m": "12.5",
            "captured_at": timezone.now().isoformat(),
        }
        data.update(fields)
        data = {name: value for name, value in data.items() if value is not None}
        headers = {} if key is None else {"HTTP_IDEMPOTENCY_KEY": key}
        return self.api.post("/api/v1/check-ins", data, format="multipart", **headers)


def make_reporter(*, consent: bool = True, **client_fields) -> Reporter:
    from tests import factories

    client = factories.client(**client_fields)
    factories.condition(client, starts_on=factories.LATER)  # the test makes its windows
    if consent:
        factories.consent_both(client)
    token, device = factories.device(client)
    return Reporter(client, token, device)


@pytest.fixture
def reporter(db):
    return make_reporter()


def multipart(parts: list[tuple[str, bytes, str | None]], boundary: str = "XyZ-boundary") -> tuple[bytes, str]:
    """A hand-made multipart body: (name, raw bytes, filename or None) per part."""
    body = b""
    for name, data, filename in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        body += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n".encode()
        body += b"Content-Type: application/octet-stream\r\n" if filename else b""
        body += b"\r\n" + data + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


@pytest.fixture(scope="session", autouse=True)
def _compiled_translations():
    """The French catalogues, compiled as the installer does (up-to-date ones are skipped)."""
    from django.core.management import call_command

    call_command("compile_translations", verbosity=0)


# Fixtures that start another process: a test using one is marked `processes` (pytest.ini), and
# so is every browser test and every test whose code (or a helper of its module) calls
# subprocess, so that `dev.py test --fast` can leave them out without a hand-kept list.
PROCESS_FIXTURES = {"celery_worker", "two_servers"}


def _starts_processes(function) -> bool:
    import inspect

    try:
        source = inspect.getsource(function)
    except (OSError, TypeError):
        return False
    if "subprocess." in source:
        return True
    module = inspect.getmodule(function)
    helpers = getattr(module, "_process_helpers", None)
    if helpers is None:
        helpers = set()
        for name, value in vars(module).items():
            if inspect.isfunction(value) and value.__module__ == module.__name__ and not name.startswith("test_"):
                try:
                    if "subprocess." in inspect.getsource(value):
                        helpers.add(name)
                except (OSError, TypeError):
                    pass
        module._process_helpers = helpers
    return any(f"{name}(" in source for name in helpers)


def pytest_collection_modifyitems(config, items):
    for item in items:
        if (
            PROCESS_FIXTURES & set(getattr(item, "fixturenames", ()))
            or item.get_closest_marker("browser")
            or _starts_processes(getattr(item, "function", None))
        ):
            item.add_marker(pytest.mark.processes)


@pytest.fixture(scope="session", autouse=True)
def _enrolment_once_per_photo():
    """A reference enrolment (dlib with 16 jittered copies) costs about a second, and the suite
    enrols the same few photos hundreds of times. It is deterministic (biometrics.faces._jittered
    draws from a fixed seed), so within a session the same bytes get the encoding computed for
    real the first time, and a copy of it after. `faces.enrol.uncached` is the real function,
    for tests of enrolment itself (tests/test_fast_loop.py checks the two agree)."""
    from biometrics import faces

    real = faces.enrol
    computed: dict[tuple, faces.Analysis] = {}

    def enrol(data: bytes, *, max_pixels: int, full_size: bool = False) -> faces.Analysis:
        key = (hashlib.sha256(data).digest(), max_pixels, full_size)
        if key not in computed:
            computed[key] = real(data, max_pixels=max_pixels, full_size=full_size)
        # A copy: callers may change the analysis they get (it is a plain dataclass).
        return copy.deepcopy(computed[key])

    enrol.uncached = real
    enrol.computed = computed
    faces.enrol = enrol
    yield
    faces.enrol = real
@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory):
    """A real S3 endpoint (SeaweedFS): CI's (REPORTIN_TEST_S3_ENDPOINT) or one started here."""
    from tests import objectstore

    given = os.environ.get("REPORTIN_TEST_S3_ENDPOINT")
    if given:
        # Its port may answer before its volume server has registered.
        wait_for(lambda: objectstore.bucket_ready(given), timeout=60, interval=0.5, message=f"the object store at {given}")
        yield given
        return
    weed = objectstore.require_weed()
    process, endpoint = objectstore.start_weed(tmp_path_factory.mktemp("seaweedfs"), weed)
    try:
        yield endpoint
    finally:
        objectstore.stop(process)


@pytest.fixture
def s3_bucket(s3_endpoint, settings, tmp_path):
    """Files of this test go to a new bucket (the local media folder stays empty)."""
    from tests import objectstore

    bucket = objectstore.new_bucket(s3_endpoint)
    settings.MEDIA_ROOT = tmp_path / "media-unused"
    settings.STORAGES = {**settings.STORAGES, "default": objectstore.storage_settings(s3_endpoint, bucket)}
    return bucket


# --- The back office: an officer on the test client, a staff member's real browser -------------


@pytest.fixture
def officer(client, db):
    """An officer of the Greater Toronto Area signed in on the test client `client` (the second
    factor passed through the real service). A module needing another officer defines its own."""
    from tests import factories

    user = factories.staff("officer", region_code="gta")
    factories.staff_login(client, user)
    return user


def _staff_browser(monkeypatch, *, bypass_csp: bool):
    from tests.staff_browser import staff_page

    # Playwright's synchronous API runs an event loop in this thread, and Django refuses ORM
    # calls while one runs; the test's own queries are plain synchronous ones.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with staff_page(bypass_csp=bypass_csp) as (page, problems):
        yield page, problems


@pytest.fixture
def staff_browser(monkeypatch):
    """(page, problems): a page of headless Chromium for the back office, under the admin's
    Content-Security-Policy; `problems` collects the page's script errors (tests/staff_browser.py)."""
    yield from _staff_browser(monkeypatch, bypass_csp=False)


@pytest.fixture
def staff_browser_for_axe(monkeypatch):
    """The same for pages axe-core checks: its script is added inline, which the admin's
    Content-Security-Policy would refuse, so the context bypasses the policy."""
    yield from _staff_browser(monkeypatch, bypass_csp=True)


@pytest.fixture
def screenshots(request, capsys) -> Path:
    """A new folder test-artifacts/<name>/<run id>/ for the test's screenshots, <name> being the
    module's (test_casework_browser.py: casework), printed in the output."""
    from tests.browser import screenshot_folder

    name = request.module.__name__.rsplit(".", 1)[-1].removeprefix("test_").removesuffix("_browser")
    return screenshot_folder(name, name, capsys)
