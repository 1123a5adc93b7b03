"""Long jobs never run twice at once (issue 13.7): with Redis, a message left unacknowledged
longer than the visibility timeout is delivered again. Every task ends well within that
timeout (its time limit is below it), and a long export runs as a chain of short steps, each
writing committed parts: so a short visibility timeout and an export far longer than it give
one run, progress that never goes back, and a complete file."""

import csv
import io
import json
import subprocess
import sys
import time

import pytest
from django.conf import settings

from backoffice import exports
from enforcement.models import ExportJob
from tests import factories
from tests.conftest import ROOT, wait_for, worker_env

VISIBILITY_TIMEOUT = 10
# Audit events exported one per part: a few times the visibility timeout on either database
# (a quiet CI machine exported 1,500 in 7.7 s, so 1,500 was too few to prove anything).
ROWS = 5000


def test_every_task_ends_before_the_broker_would_deliver_it_again():
    from config.celery import app

    assert settings.CELERY_TASK_TIME_LIMIT < settings.CELERY_VISIBILITY_TIMEOUT
    assert app.conf.task_time_limit == settings.CELERY_TASK_TIME_LIMIT
    for name, task in app.tasks.items():
        if name.startswith(("enforcement.", "reportin.")):
            limit = task.time_limit or app.conf.task_time_limit
            assert limit and limit < settings.CELERY_VISIBILITY_TIMEOUT, name
    assert settings.REPORTIN_LONG_TASK_BUDGET < settings.CELERY_TASK_SOFT_TIME_LIMIT
    routes = app.conf.task_routes
    for long_job in ("backoffice.tasks.export_run", "enforcement.tasks.windows_materialise", "reportin.tasks.data_purge_expired"):
        assert routes[long_job]["queue"] == "long"


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_an_export_longer_than_the_visibility_timeout_runs_once_and_is_complete(tmp_path):
    if not settings.CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
        pytest.skip("the visibility timeout is the Redis broker's (set CELERY_BROKER_URL=redis://...; CI does)")
    from enforcement.services import audit_record

    for n in range(ROWS):
        audit_record(actor=None, actor_label="test", action="test.long-export", details={"n": n})
    auditor = factories.staff("auditor-long", role="Auditor", region_code=None)
    env = {
        **worker_env(), "CELERY_VISIBILITY_TIMEOUT": str(VISIBILITY_TIMEOUT),
        # One row per part, one second per step: the export takes many steps and several
        # times the visibility timeout.
        "REPORTIN_EXPORT_CHUNK_ROWS": "1", "REPORTIN_LONG_TASK_BUDGET": "1",
    }
    log_path = tmp_path / "worker.log"
    from config.celery import app

    app.control.purge()
    # Another worker of this test run (the suite's celery_worker) would take this export's
    # steps without the settings above: it stops consuming `long` for the test's duration.
    others = [name for reply in app.control.cancel_consumer("long", reply=True, timeout=3) or [] for name in reply]
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", "long", "--concurrency", "2", "-l", "INFO",
         "--without-gossip", "--without-mingle", "--hostname", f"long-{time.time_ns()}@%h"],
        cwd=ROOT, env=env, stdout=log_path.open("w"), stderr=subprocess.STDOUT,
    )
    try:
        wait_for(lambda: "ready." in log_path.read_text(errors="replace") or worker.poll() is not None, timeout=90, message="the worker")
        job = exports.export_start(user=auditor, model_label="enforcement.auditevent", query="action__exact=test.long-export", total=ROWS)
        seen = []

        def finished():
            state = ExportJob.objects.get(pk=job.pk)
            seen.append(state.done)
            return state if state.status in ("done", "failed") else None

        state = wait_for(finished, timeout=480, interval=0.2, message=f"the export (worker log:\n{log_path.read_text(errors='replace')[-3000:]})")
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        if others:
            app.control.add_consumer("long", reply=True, timeout=3, destination=others)
    log = log_path.read_text(errors="replace")
    assert state.status == "done", state.error
    assert (state.done, state.total, state.parts) == (ROWS, ROWS, ROWS)
    assert (state.finished_at - state.started_at).total_seconds() > VISIBILITY_TIMEOUT, "the export was not long enough to prove anything"
    assert seen == sorted(seen), "progress went back"
    # One run: every step found the job free (none was a redelivered duplicate) and the
    # steps are one chain.
    assert "skipped" not in log and log.count("export_run[") >= 2 * state.steps, log[-3000:]
    with state.file.open("rb") as handle:
        rows = list(csv.DictReader(io.StringIO(handle.read().decode())))
    assert sorted(json.loads(r["details"])["n"] for r in rows) == list(range(ROWS))

@pytest.mark.django_db
def test_materialisation_runs_in_resumable_steps_that_do_nothing_twice():
    from datetime import timedelta

    from django.utils import timezone

    from enforcement import services
    from enforcement.models import ReportingWindow

    for _ in range(3):
        factories.condition(factories.client())
    before = ReportingWindow.objects.count()
    later = timezone.now() + timedelta(days=3)  # the horizon has moved three days on
    after_id, created, steps = 0, 0, 0
    while after_id is not None:
        # One condition per step, and every step out of time: the chain goes on where it stopped.
        made, after_id = services.windows_materialise_step(after_id=after_id, deadline=0, chunk_size=1, now=later)
        created, steps = created + made, steps + 1
    assert steps == 4 and created == 3 * 3  # three conditions, one step that found none left
    assert ReportingWindow.objects.count() == before + created
    assert services.windows_materialise_step(deadline=0, chunk_size=1, now=later)[0] == 0
