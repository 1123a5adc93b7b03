"""The application's database role (PostgreSQL): after `db_grant_app_role`, it inserts and reads
audit events but cannot UPDATE, DELETE, TRUNCATE them or disable the append-only trigger, while
ordinary tables stay writable. The role is created inside the test's transaction (and so
vanishes with it)."""

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.db.utils import ProgrammingError

from enforcement import audit
from enforcement.models import AuditEvent

ROLE = "reportin_staff_app_test"

pytestmark = pytest.mark.django_db


@pytest.fixture
def app_role():
    if connection.vendor != "postgresql":
        pytest.skip("database roles are PostgreSQL's (set DATABASE_URL=postgres://...)")
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE ROLE {ROLE} NOLOGIN NOSUPERUSER")
    call_command("db_grant_app_role", ROLE)
    return ROLE


def as_role(statement: str, params=None):
    """Run one statement as the app role (SET LOCAL ROLE, inside a savepoint)."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL ROLE {ROLE}")
        cursor.execute(statement, params)
        return cursor.fetchall() if cursor.description else None


def refused(statement: str) -> bool:
    try:
        as_role(statement)
    except ProgrammingError as exc:  # psycopg's InsufficientPrivilege (42501)
        return getattr(exc.__cause__, "sqlstate", None) == "42501" or "permission denied" in str(exc) or "must be owner" in str(exc)
    return False


def test_the_app_role_may_append_and_read_but_not_rewrite_or_switch_off_the_audit_trail(app_role):
    audit.append(actor=None, actor_label="system", action="test.before", object_type="", object_id="", client_id=None, details={})
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL ROLE {ROLE}")
        audit.append(actor=None, actor_label="system", action="test.as_app_role", object_type="", object_id="", client_id=None, details={})
    assert as_role("SELECT count(*) FROM enforcement_auditevent")[0][0] == AuditEvent.objects.count() == 2
    table = AuditEvent._meta.db_table
    assert refused(f"UPDATE {table} SET action = 'rewritten'")
    assert refused(f"DELETE FROM {table}")
    assert refused(f"TRUNCATE {table}")
    assert refused(f"ALTER TABLE {table} DISABLE TRIGGER {table}_append_only")
    assert refused(f"ALTER TABLE {table} DISABLE TRIGGER ALL")
    assert refused(f"DROP TRIGGER {table}_append_only ON {table}")
    # Ordinary tables stay writable.
    as_role("UPDATE enforcement_region SET name = name")


def test_a_superuser_role_is_refused():
    if connection.vendor != "postgresql":
        pytest.skip("database roles are PostgreSQL's")
    with connection.cursor() as cursor:
        cursor.execute("CREATE ROLE reportin_staff_super_test NOLOGIN SUPERUSER")
    with pytest.raises(CommandError, match="superuser"):
        call_command("db_grant_app_role", "reportin_staff_super_test")
