"""Exactly one beat (issue 16.8): two beats started together, and only one sends the periodic
jobs; when it stops, the other takes over."""

import subprocess
import sys

import pytest

from tests.conftest import ROOT, wait_for, worker_env


def _beat(env, tmp_path, number):
    log = tmp_path / f"beat-{number}.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "beat", "-l", "INFO", "-s", str(tmp_path / f"schedule-{number}")],
        cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT,
    )
    return process, log


def _stop(process):
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def test_the_beat_runs_with_the_locked_scheduler():
    from django.conf import settings

    assert settings.CELERY_BEAT_SCHEDULER == "config.beat:LockedScheduler"


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_second_beat_sends_nothing_until_the_first_stops(tmp_path):
    # Both beats see the test database (PostgreSQL in CI: the advisory lock; SQLite here: the
    # file lock beside it) and send to a private broker folder.
    env = {**worker_env(), "REPORTIN_DATA_DIR": str(tmp_path / "data"), "CELERY_BROKER_URL": "filesystem://"}
    beats = [_beat(env, tmp_path, 1)]
    try:
        wait_for(lambda: "holding the beat lock" in beats[0][1].read_text(), timeout=60, message="the first beat to take the lock")
        beats.append(_beat(env, tmp_path, 2))
        wait_for(lambda: "standing by" in beats[1][1].read_text(), timeout=60, message="the second beat to stand by")
        # Every-minute jobs fall due within a minute: the first beat sends them, the second nothing.
        wait_for(lambda: "Sending due task" in beats[0][1].read_text(), timeout=90, interval=1, message="a periodic job")
        first, second = (log.read_text() for _, log in beats)
        assert "Sending due task" not in second, second
        assert "holding the beat lock" not in second

        _stop(beats[0][0])
        wait_for(lambda: "holding the beat lock" in beats[1][1].read_text(), timeout=30, message="the second beat to take over")
    finally:
        for process, _ in beats:
            if process.poll() is None:
                _stop(process)
