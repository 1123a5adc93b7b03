"""The audit trail is a hash chain: any altered row breaks it at that row."""

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
