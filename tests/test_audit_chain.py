"""The audit trail is a hash chain: any altered row breaks it at that row."""

import json

import pytest
from django.db import connection

from enforcement import audit
from enforcement.models import AuditEvent
from enforcement.services import audit_record

pytestmark = pytest.mark.django_db


def _tamper(sql: str, params):
    """Change a row as an attacker with database access would (triggers bypassed)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # A database superuser can switch triggers off for a session.
            cursor.execute("SET session_replication_role = replica")
            cursor.execute(sql, params)
            cursor.execute("SET session_replication_role = DEFAULT")
        else:
            cursor.execute("INSERT INTO append_only_flush (id) VALUES (1)")
            cursor.execute(sql, params)
            cursor.execute("DELETE FROM append_only_flush")


def test_an_intact_chain_verifies():
    for i in range(5):
        audit_record(actor=None, action="test.event", details={"i": i, "ratio": 0.25, "big": 1e20})
    report = audit.verify()
    assert report.ok and report.checked == 5


def test_an_altered_row_breaks_the_chain_at_that_row():
    events = [audit_record(actor=None, action="test.event", details={"i": i}) for i in range(5)]
    _tamper(f'UPDATE "{AuditEvent._meta.db_table}" SET action = %s WHERE id = %s', ["forged", events[2].pk])
    report = audit.verify()
    assert not report.ok and report.broken_seq == events[2].seq and "altered" in report.problem


def test_a_deleted_row_breaks_the_chain():
    events = [audit_record(actor=None, action="test.event") for _ in range(4)]
    _tamper(f'DELETE FROM "{AuditEvent._meta.db_table}" WHERE id = %s', [events[1].pk])
    report = audit.verify()
    assert not report.ok and report.broken_seq == events[2].seq and "missing" in report.problem


def test_a_verification_in_parts_goes_on_from_its_cursor_and_finds_what_a_whole_one_finds():
    events = [audit_record(actor=None, action="test.event", details={"i": i}) for i in range(7)]
    whole = audit.verify()
    cursor, parts = None, 0
    while True:  # a deadline already passed: each call stops after one batch of 2
        report, stopped = audit.verify_part(cursor=cursor, deadline=0, batch_size=2)
        parts += 1
        if report is not None:
            break
        cursor = audit.VerifyCursor(**json.loads(json.dumps(stopped.as_dict())))  # as a task's argument travels
    assert parts == 4 and report == whole and report.ok and report.checked == 7
    _tamper(f'UPDATE "{AuditEvent._meta.db_table}" SET action = %s WHERE id = %s', ["forged", events[5].pk])
    report, _ = audit.verify_part(deadline=0, batch_size=2)
    assert report is None
    first, stopped = audit.verify_part(deadline=0, batch_size=2)
    report, _ = audit.verify_part(cursor=stopped, batch_size=2)
    assert not report.ok and report.broken_seq == events[5].seq and report.checked == 5


def test_the_worker_verifies_a_long_chain_in_chunks_on_the_long_queue(settings, monkeypatch):
    from config.celery import app
    from enforcement import tasks
    from enforcement.models import AuditVerification

    assert app.amqp.router.route({}, "enforcement.tasks.audit_verify")["queue"].name == "long"
    for i in range(5):
        audit_record(actor=None, action="test.event", details={"i": i})
    settings.REPORTIN_LONG_TASK_BUDGET = 0  # every chunk ends after one batch
    monkeypatch.setattr(tasks, "VERIFY_BATCH", 2)
    # Each chunk's continuation runs at once, in this process, through Celery's own eager path
    # (a session worker of other tests would otherwise take it from the broker).
    monkeypatch.setitem(app.conf, "task_always_eager", True)
    cursors = []
    verify_part = audit.verify_part

    def recorded(**kwargs):
        cursors.append(kwargs["cursor"].last_seq if kwargs["cursor"] else 0)
        return verify_part(**kwargs)

    monkeypatch.setattr(audit, "verify_part", recorded)
    assert tasks.audit_verify() is None  # the first chunk handed the rest on
    assert cursors == [0, 2, 4]  # 2 + 2 + 1 events, each chunk from where the last stopped
    kept = AuditVerification.objects.get()
    assert kept.ok and kept.events_checked == 5
