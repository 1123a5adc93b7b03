"""Operations (issue 16.10): Prometheus metrics at /metrics (request latency, queue depth per
queue, verdict latency, reminders, sweep duration), protected by a token; the request id
(X-Request-ID) from the web request into the Celery task and the worker's log, in the JSON
log format. Real requests, a real gunicorn with two processes sharing PROMETHEUS_MULTIPROC_DIR,
a real broker and a real worker."""

import json
import re
import socket
import subprocess
import sys
import urllib.request

import pytest
from django.test import Client as HttpClient

from config import observability
from config.celery import app
from enforcement import metrics
from tests import images
from tests.conftest import ROOT, make_reporter, wait_for, worker_env


def sample(text: str, name: str, **labels) -> float:
    """The sum of the samples of `name` whose labels include `labels`."""
    total = 0.0
    for line in text.splitlines():
        match = re.fullmatch(rf"{re.escape(name)}(?:\{{(.*)\}})? (\S+)", line)
        if not match:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', match.group(1) or ""))
        if all(found.get(k) == v for k, v in labels.items()):
            total += float(match.group(2))
    return total


def scrape(http: HttpClient, **headers) -> str:
    response = http.get("/metrics", **headers)
    assert response.status_code == 200, response.content[:300]
    assert response["Content-Type"].startswith("text/plain")
    return response.content.decode()


@pytest.mark.django_db
def test_metrics_count_real_requests_by_view_and_status(settings):
    settings.PROMETHEUS_MULTIPROC_DIR = ""
    http = HttpClient()
    before = scrape(http)
    for _ in range(3):
        assert http.get("/healthz").status_code == 200
    assert http.get("/api/v1/no-such-thing").status_code == 404
    after = scrape(http)
    name = "reportin_http_request_duration_seconds_count"
    assert sample(after, name, view="healthz", method="GET", status="200") - sample(before, name, view="healthz", method="GET", status="200") == 3
    assert sample(after, name, view="unmatched", status="404") - sample(before, name, view="unmatched", status="404") == 1
    for family in ("reportin_verdict_latency_seconds", "reportin_sweep_duration_seconds", "reportin_reminders_total"):
        assert f"# TYPE {family} " in after


def test_metrics_answer_on_the_internal_name_over_plain_http(settings):
    # Prometheus scrapes http://web:8000/metrics: neither an allowed host nor HTTPS.
    settings.ALLOWED_HOSTS = ["reportin.example.org"]
    settings.SECURE_SSL_REDIRECT = True
    http = HttpClient(HTTP_HOST="web:8000")
    assert http.get("/healthz").status_code in (301, 400)  # the rest of the site is not served so
    assert "reportin_queue_depth" in scrape(http)


@pytest.mark.django_db
def test_metrics_need_the_token_when_one_is_set(settings):
    settings.REPORTIN_METRICS_TOKEN = "s3cret-token"
    http = HttpClient()
    assert http.get("/metrics").status_code == 401
    assert http.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert "reportin_http_request_duration_seconds" in scrape(http, HTTP_AUTHORIZATION="Bearer s3cret-token")


@pytest.mark.django_db
def test_queue_depth_is_read_from_the_broker_for_each_queue(settings):
    queue = "metrics-depth-test"
    settings.REPORTIN_METRICS_QUEUES = [queue, "metrics-depth-empty"]
    with app.connection_for_write() as connection:
        connection.default_channel.queue_purge(queue) if _declared(connection, queue) else None
        for n in range(3):
            app.send_task("reportin.tasks.not_a_task", args=(n,), queue=queue, connection=connection)
    try:
        text = scrape(HttpClient())
        assert sample(text, "reportin_queue_depth", queue=queue) == 3
        assert sample(text, "reportin_queue_depth", queue="metrics-depth-empty") == 0
        if settings.CELERY_BROKER_URL.startswith("redis://"):
            import redis

            assert redis.Redis.from_url(settings.CELERY_BROKER_URL).llen(queue) == 3  # what LLEN says
    finally:
        with app.connection_for_write() as connection:
            connection.default_channel.queue_purge(queue)


def _declared(connection, queue) -> bool:
    try:
        connection.default_channel.queue_declare(queue=queue, passive=True)
        return True
    except Exception:
        return False


def test_request_id_is_taken_or_made_and_answered():
    http = HttpClient()
    assert http.get("/healthz", HTTP_X_REQUEST_ID="edge-42.a").headers["X-Request-ID"] == "edge-42.a"
    made = http.get("/healthz").headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", made)
    # Not a sane token (spaces, a newline, too long): replaced, never echoed into logs.
    assert re.fullmatch(r"[0-9a-f]{32}", http.get("/healthz", HTTP_X_REQUEST_ID="a b\nc").headers["X-Request-ID"])
    assert http.get("/healthz", HTTP_X_REQUEST_ID="x" * 65).headers["X-Request-ID"] != "x" * 65


def test_the_json_log_format_carries_the_request_id():
    import logging

    record = logging.LogRecord("reportin.api", logging.INFO, __file__, 1, "hello %s", ("world",), None)
    token = observability.request_id.set("rid-1")
    try:
        observability.RequestIdFilter().filter(record)
        line = json.loads(observability.JsonFormatter().format(record))
    finally:
        observability.request_id.reset(token)
    assert line["message"] == "hello world" and line["request_id"] == "rid-1" and line["level"] == "INFO"
    assert line["time"].endswith("Z")


def _port_open(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(urllib.request.Request(url), timeout=30) as response:
        return response.status, response.read().decode()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_gunicorn_processes_add_up_in_one_scrape(tmp_path):
    port = next(p for p in range(18450, 18460) if not _port_open(p))
    folder = tmp_path / "prom"
    folder.mkdir()
    env = {**worker_env(), "PROMETHEUS_MULTIPROC_DIR": str(folder), "WEB_CONCURRENCY": "2", "WEB_THREADS": "2"}
    with (tmp_path / "gunicorn.log").open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.conf.py", "--bind", f"127.0.0.1:{port}"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
    try:
        wait_for(lambda: _port_open(port) or process.poll() is not None, timeout=60, message="gunicorn")
        assert process.poll() is None, (tmp_path / "gunicorn.log").read_text()
        for _ in range(12):
            assert _get(f"http://127.0.0.1:{port}/healthz")[0] == 200
        _, text = _get(f"http://127.0.0.1:{port}/metrics")
        assert sample(text, "reportin_http_request_duration_seconds_count", view="healthz", status="200") == 12
        pids = {p.name.split("_")[-1] for p in folder.glob("*.db")}
        assert len(pids) >= 1
    finally:
        process.terminate()
        process.wait(timeout=20)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_request_id_reaches_the_worker_log_and_the_verdict_reaches_metrics(tmp_path, settings, monkeypatch):
    from celery.app.routes import prepare

    from tests import factories

    queue = "observability-test"
    folder = tmp_path / "prom"
    folder.mkdir()
    # Check-in scoring goes to a queue only this test's worker reads (a suite's worker may be running).
    monkeypatch.setattr(app.amqp.router, "routes", prepare({"reportin.tasks.checkin_score": {"queue": queue}}) + list(app.amqp.router.routes))
    log_path = tmp_path / "worker.log"
    env = {**worker_env(), "LOG_FORMAT": "json", "PROMETHEUS_MULTIPROC_DIR": str(folder)}
    with log_path.open("w") as log:
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", queue, "--concurrency", "1",
             "--without-gossip", "--without-mingle", "--hostname", f"observability-{queue}@%h"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
    try:
        wait_for(lambda: "ready." in log_path.read_text() or worker.poll() is not None, timeout=60, message="the worker")
        assert worker.poll() is None, log_path.read_text()
        reporter = make_reporter()
        factories.reference_photo(reporter.client)
        response = reporter.api.post(
            "/api/v1/check-ins", {**_checkin_fields(), "selfie": _selfie()}, format="multipart",
            HTTP_IDEMPOTENCY_KEY="obs-1", HTTP_X_REQUEST_ID="req-obs-0001",
        )
        assert response.status_code in (201, 202), response.content
        assert response["X-Request-ID"] == "req-obs-0001"
        checkin_id = response.json()["id"]

        def scored_line():
            for line in log_path.read_text().splitlines():
                if line.startswith("{") and f"check-in {checkin_id}: " in line:
                    return json.loads(line)
            return None

        entry = wait_for(scored_line, timeout=120, message=f"the worker's line (log:\n{log_path.read_text()[-3000:]})")
        assert entry["request_id"] == "req-obs-0001" and entry["logger"] == "reportin.tasks"
        assert entry["message"] == f"check-in {checkin_id}: match"

        settings.PROMETHEUS_MULTIPROC_DIR = str(folder)
        text = scrape(HttpClient())
        assert sample(text, "reportin_verdict_latency_seconds_count", decision="match") == 1
        assert sample(text, "reportin_verdict_latency_seconds_bucket", decision="match", le="+Inf") == 1
    finally:
        worker.terminate()
        worker.wait(timeout=30)


def _checkin_fields() -> dict:
    from django.utils import timezone

    return {"latitude": "43.6532", "longitude": "-79.3832", "accuracy_m": "12.5", "captured_at": timezone.now().isoformat()}


def _selfie():
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile("selfie.jpg", images.jpeg(images.astronaut_elsewhere(), quality=85), "image/jpeg")


def test_reminders_sent_and_failed_are_counted(db, settings):
    from enforcement import services
    from tests.test_reminders import OPENS, reminded_client

    def count(channel, outcome):
        return metrics.REMINDERS.labels(channel, outcome)._value.get()

    settings.REPORTIN_NOTIFICATION_SENDER = "tests.test_reminders.recording_sender"
    reminded_client()
    sent = count("email", "sent")
    assert services.notifications_send(now=OPENS) == 1
    assert count("email", "sent") == sent + 1
    settings.REPORTIN_NOTIFICATION_SENDER = "tests.test_reminders.broken_sender"
    reminded_client(email="other@example.org")
    failed = count("email", "failed")
    assert services.notifications_send(now=OPENS) == 0
    assert count("email", "failed") == failed + 1
    text = scrape(HttpClient())
    assert sample(text, "reportin_reminders_total", channel="email", outcome="sent") >= 1


def test_the_sweep_duration_is_measured(db):
    from enforcement import tasks

    count = _histogram_count(metrics.SWEEP_DURATION)
    tasks.windows_sweep()
    assert _histogram_count(metrics.SWEEP_DURATION) == count + 1
    assert "reportin_sweep_duration_seconds_count" in scrape(HttpClient())


def _histogram_count(histogram) -> float:
    for family in histogram.collect():
        for s in family.samples:
            if s.name.endswith("_count"):
                return s.value
    return 0.0
