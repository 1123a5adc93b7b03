"""Nothing accepted is lost, and nothing is judged twice, when processes die or race
(README: Reliability). Real worker processes, real signals, real concurrent sessions."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from django.db.models import Q
from django.utils import timezone

from bench import procs
from enforcement.models import InvestigationTask, TaskNote
from reportin import scoring, services
from reportin.models import CheckIn, FaceMatch
from tests import factories, images
from tests.conftest import ROOT, in_threads, make_reporter, wait_for, worker_env


def tasks_about(checkin_id: int) -> int:
    """Tasks about a check-in: opened for it, or (one open task per client and reason) an open
    task it was added to as a further event."""
    events = TaskNote.objects.filter(kind=TaskNote.Kind.EVENT, checkin_id=checkin_id).values("task_id")
    return InvestigationTask.objects.filter(Q(checkin_id=checkin_id) | Q(pk__in=events)).distinct().count()


def _enrolled():
    client = factories.client()
    factories.reference_photo(client)
    factories.consent_both(client)
    _, device = factories.device(client)
    return device


def _submit(device, data: bytes, key: str) -> CheckIn:
    now = timezone.now()
    checkin, created = services.checkin_submit(
        device=device, selfie=data, latitude=43.65, longitude=-79.38, accuracy_m=12, captured_at=now, idempotency_key=key, now=now
    )
    assert created
    return checkin


# --- 1. A worker's pool process killed while scoring ----------------------------------------


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_pool_process_killed_mid_scoring_leaves_the_checkin_scored_once(celery_worker):
    """SIGKILL of the process that is scoring: Celery gives the message back (acks_late,
    reject_on_worker_lost), the same message takes over its dead claim at once, and the
    check-in ends with one FaceMatch and at most one task, long before the claim's lease ends."""
    from bench.scoring import make_selfies

    device = _enrolled()
    selfies = make_selfies(3, seed=11)  # 12 MP: scoring takes long enough to be caught at it
    for attempt, selfie in enumerate(selfies):
        start = len(celery_worker.log())
        child = procs.children(celery_worker.process.pid)
        assert len(child) == 1, child
        checkin = _submit(device, selfie, key=f"killed-{attempt}")
        wait_for(
            lambda c=checkin: CheckIn.objects.filter(pk=c.pk, status__in=["scoring", "verified", "needs_review"]).exists(),
            timeout=60, interval=0.005, message="the worker to claim the check-in",
        )
        os.kill(child[0], signal.SIGKILL)
        killed_at = time.monotonic()
        if FaceMatch.objects.filter(checkin=checkin).exists():
            continue  # scored before the signal landed: try again with the next selfie
        match = wait_for(
            lambda c=checkin: FaceMatch.objects.filter(checkin=c).first(),
            timeout=120, message=f"the redelivered scoring (worker log:\n{celery_worker.log()[start:]})",
        )
        recovered_s = time.monotonic() - killed_at
        break
    else:
        pytest.fail("every selfie was scored before the kill landed")
    log = celery_worker.log()[start:]
    assert "WorkerLostError" in log, log
    checkin.refresh_from_db()
    assert FaceMatch.objects.filter(checkin=checkin).count() == 1
    assert checkin.status in ("verified", "needs_review") and match.attempts == 2
    assert tasks_about(checkin.pk) <= 1
    # The redelivery took over at once: not after the lease (35 s), not after the reconciler.
    assert recovered_s < scoring.SCORING_LEASE.total_seconds(), recovered_s
    print(json.dumps({"fault": "pool_process_sigkill", "recovered_s": round(recovered_s, 1), "attempts": match.attempts, "decision": match.decision}))
    assert celery_worker.process.poll() is None and len(procs.children(celery_worker.process.pid)) == 1


# --- 5. Races ---------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_identical_submissions_racing_with_one_idempotency_key_make_one_checkin():
    reporter = make_reporter()
    captured_at = timezone.now().isoformat()
    selfie = images.selfie()
    for round_ in range(4):
        key = f"race-{round_}"

        def post(key=key):
            from django.core.files.uploadedfile import SimpleUploadedFile

            upload = SimpleUploadedFile("selfie.jpg", selfie, "image/jpeg")
            response = reporter.check_in(key=key, selfie=upload, captured_at=captured_at)
            return response.status_code, response.json()["id"], response.headers.get("Idempotent-Replayed")

        results = in_threads(post, post, post)
        assert {status for status, _, _ in results} == {202}, results
        assert len({checkin_id for _, checkin_id, _ in results}) == 1, results
        assert sorted(str(replayed) for _, _, replayed in results) == ["None", "true", "true"], results
        assert CheckIn.objects.filter(idempotency_key=key).count() == 1


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_sweep_processes_racing_open_one_task_per_missed_window():
    """Two processes (as two beats, or a beat and an officer's manual run) sweep at once."""
    from enforcement.models import ReportingWindow, TaskReason

    for _ in range(30):
        factories.office_hours(factories.client())
    now = factories.toronto(2026, 3, 2, 18, 1)
    code = (
        "import django, sys, datetime; django.setup(); from enforcement import services; "
        f"print(services.windows_sweep(now=datetime.datetime.fromisoformat({now.isoformat()!r})))"
    )
    env = worker_env()
    sweeps = [subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(3)]
    outputs = [sweep.communicate(timeout=120) for sweep in sweeps]
    assert all(sweep.returncode == 0 for sweep in sweeps), outputs
    opened = [int(out.strip().splitlines()[-1]) for out, _ in outputs]
    assert sum(opened) == 30, opened
    assert InvestigationTask.objects.filter(reason=TaskReason.MISSED_REPORT).count() == 30
    assert ReportingWindow.objects.filter(status="missed").count() == 30


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_attempts_racing_on_one_checkin_record_one_face_match():
    from tests.test_hostile_images import _stored_as_is

    device = _enrolled()
    # Stored without a message (a worker would otherwise get there first): the race is ours.
    checkins = [_stored_as_is(device, images.jpeg(images.lfw_face(index)), f"twice-{index}") for index in range(3)]
    for checkin in checkins:
        results = in_threads(
            lambda c=checkin: scoring.checkin_score(checkin_id=c.pk, attempt_id="task-a"),
            lambda c=checkin: scoring.checkin_score(checkin_id=c.pk, attempt_id="task-b"),
        )
        assert sum(result is not None for result in results) == 1, results
        assert FaceMatch.objects.filter(checkin=checkin).count() == 1
        assert tasks_about(checkin.pk) == 1  # face_non_match (the first opens it, the others join it)
        checkin.refresh_from_db()
        assert checkin.scoring_attempts == 1 and checkin.status == "needs_review"


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_worker_processes_given_the_same_checkins_score_each_once(celery_worker, tmp_path):
    from reportin.tasks import checkin_score

    second = procs.worker(worker_env(), tmp_path / "second.log", queues="scoring", name="second").start()
    try:
        procs.wait_worker_ready(second)
        device = _enrolled()
        checkins = []
        for index in range(4):
            checkin = _submit(device, images.jpeg(images.lfw_face(index + 3)), key=f"both-{index}")
            checkin_score.delay(checkin.pk)  # each check-in queued twice more: three messages
            checkin_score.delay(checkin.pk)
            checkins.append(checkin)
        wait_for(
            lambda: FaceMatch.objects.filter(checkin__in=checkins).count() == 4,
            timeout=120, message=f"every check-in scored (second worker:\n{second.log()})",
        )
        wait_for(lambda: "checkin_score[" in second.log(), timeout=30, message="the second worker to take messages")
        time.sleep(2)  # let any late duplicate run: it must change nothing
    finally:
        second.stop()
    for checkin in checkins:
        checkin.refresh_from_db()
        assert FaceMatch.objects.filter(checkin=checkin).count() == 1
        assert checkin.scoring_attempts == 1, checkin.scoring_attempts
        assert tasks_about(checkin.pk) == 1


# --- 4 (in the suite). The database down: 503 in the error shape -------------------------------


def test_the_api_answers_503_in_the_error_shape_while_the_database_is_down(tmp_path):
    """gunicorn with its database unreachable (nothing listens on the port): every API call
    answers 503 `service_unavailable` with Retry-After, never a 500 or a dropped connection.
    bench/faults/pg_restart.py does the same with a real restart under load."""
    from tests.http import call

    port = procs.free_port(18300, 18349)
    dead_db = procs.free_port(25432, 25439)
    env = {**worker_env(), "DATABASE_URL": f"postgres://127.0.0.1:{dead_db}/nothing", "WEB_CONCURRENCY": "1", "WEB_THREADS": "2"}
    web = procs.gunicorn(env, tmp_path / "web.log", port=port).start()
    try:
        procs.wait_until(lambda: procs.port_open(port) or not web.running(), timeout=60, what="gunicorn")
        assert web.running(), web.log()
        for method, path, body in (
            ("GET", "/api/v1/me", None),
            ("POST", "/api/v1/check-ins", b"--x--\r\n"),
            ("POST", "/api/v1/activate", json.dumps({"activation_code": "AAAA-BBBB-CCCC", "uci": "11000001", "date_of_birth": "1990-01-02", "device_name": "p", "platform": "ios"}).encode()),
        ):
            headers = {"Authorization": "Token " + "a" * 43, "Idempotency-Key": "k", "Content-Type": "multipart/form-data; boundary=x"}
            if path.endswith("activate"):
                headers = {"Content-Type": "application/json"}
            status, answer_headers, payload = call(method, f"http://127.0.0.1:{port}{path}", body=body, headers=headers)
            assert status == 503, (path, status, payload, web.log()[-2000:])
            assert payload["error"]["code"] == "service_unavailable" and set(payload["error"]) == {"code", "message", "fields"}
            assert int(answer_headers["Retry-After"]) > 0
        status, _, _ = call("GET", f"http://127.0.0.1:{port}/readyz")
        assert status == 503
    finally:
        web.stop()
