"""Limits hold across web processes: two gunicorn servers share the counters (the database
for activation failures, the cache for request rates)."""

import socket
import subprocess
import sys

import pytest

from tests import factories
from tests.conftest import ROOT, wait_for, worker_env
from tests.http import call


def port_open(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def free_port() -> int:
    for port in range(18150, 18200):
        if not port_open(port):
            return port
    raise RuntimeError("no free port in 18150-18199")


@pytest.fixture
def two_servers(tmp_path):
    env = {**worker_env(), "REPORTIN_RATE_DEVICE": "3/minute", "WEB_CONCURRENCY": "1", "WEB_THREADS": "2"}
    servers = []
    try:
        for number in range(2):
            port = free_port()
            log = (tmp_path / f"gunicorn-{number}.log").open("w")
            process = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.conf.py", "--bind", f"127.0.0.1:{port}"],
                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
            )
            servers.append((process, f"http://127.0.0.1:{port}"))
            wait_for(lambda p=port, g=process: port_open(p) or g.poll() is not None, timeout=60, message="gunicorn")
            assert process.poll() is None, (tmp_path / f"gunicorn-{number}.log").read_text()
        yield [url for _, url in servers]
    finally:
        for process, _ in servers:
            process.terminate()
        for process, _ in servers:
            process.wait(timeout=20)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_activation_failures_and_request_rates_are_counted_across_processes(two_servers):
    first, second = two_servers
    client = factories.client()
    wrong = {"activation_code": "AAAA-BBBB-CCCC", "uci": client.uci, "date_of_birth": "1990-01-02", "device_name": "x", "platform": "ios"}
    statuses = [call("POST", f"{server}/api/v1/activate", json_body=wrong)[0] for server in (first, second, first, second, first)]
    assert statuses == [400] * 5
    status, headers, body = call("POST", f"{second}/api/v1/activate", json_body=wrong)
    assert status == 429 and body["error"]["code"] == "too_many_attempts" and int(headers["Retry-After"]) > 0

    reporter_client = factories.client()
    factories.condition(reporter_client)
    token, _ = factories.device(reporter_client)
    auth = {"Authorization": f"Token {token}"}
    statuses = [call("GET", f"{server}/api/v1/me", headers=auth)[0] for server in (first, second, first, second)]
    assert statuses == [200, 200, 200, 429]


