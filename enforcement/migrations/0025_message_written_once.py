"""Messages are written once (enforcement.messages): the database refuses any change to a
message except its read mark, set once, and refuses deleting one. The trigger is not named
`<table>_append_only`, so db_grant_app_role leaves the application its UPDATE (the read mark).

SQLite rebuilds a table for some ALTERs and drops its triggers: a migration that alters the
message table must run `forwards` again (tests/test_messages.py would fail if not)."""

from django.db import migrations

from enforcement.append_only import _PG_FUNCTION

TABLE = "enforcement_message"
WRITTEN_ONCE = (
    "id, client_id, direction, body, attachment, attachment_kind, attachment_size, notice_id, window_id, "
    "checkin_id, task_id, author_id, device_id, created_at"
)
_SQLITE_REFUSE = f"BEGIN SELECT RAISE(ABORT, 'table {TABLE} is append-only: only its read mark is set, once'); END"


def forwards(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(_PG_FUNCTION, params=None)
        schema_editor.execute(
            f'CREATE OR REPLACE TRIGGER "{TABLE}_written_once" BEFORE UPDATE OF {WRITTEN_ONCE} OR DELETE ON "{TABLE}" '
            "FOR EACH ROW EXECUTE FUNCTION reportin_refuse_change()"
        )
        schema_editor.execute(
            f'CREATE OR REPLACE TRIGGER "{TABLE}_read_once" BEFORE UPDATE OF read_at ON "{TABLE}" '
            "FOR EACH ROW WHEN (OLD.read_at IS NOT NULL) EXECUTE FUNCTION reportin_refuse_change()"
        )
    elif vendor == "sqlite":
        # The test runner's full flush marks itself in append_only_flush (config/sqlite/base.py).
        schema_editor.execute("CREATE TABLE IF NOT EXISTS append_only_flush (id INTEGER PRIMARY KEY)")
        schema_editor.execute(f'CREATE TRIGGER IF NOT EXISTS "{TABLE}_written_once" BEFORE UPDATE OF {WRITTEN_ONCE} ON "{TABLE}" {_SQLITE_REFUSE}')
        schema_editor.execute(
            f'CREATE TRIGGER IF NOT EXISTS "{TABLE}_read_once" BEFORE UPDATE OF read_at ON "{TABLE}" WHEN OLD.read_at IS NOT NULL {_SQLITE_REFUSE}'
        )
        schema_editor.execute(
            f'CREATE TRIGGER IF NOT EXISTS "{TABLE}_no_delete" BEFORE DELETE ON "{TABLE}" '
            f"WHEN NOT EXISTS (SELECT 1 FROM append_only_flush) {_SQLITE_REFUSE}"
        )
    else:
        raise NotImplementedError(f"written-once tables are not implemented for {vendor}")


def backwards(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    for name in ("written_once", "read_once", "no_delete"):
        if vendor == "postgresql" and name != "no_delete":
            schema_editor.execute(f'DROP TRIGGER IF EXISTS "{TABLE}_{name}" ON "{TABLE}"')
        elif vendor == "sqlite":
            schema_editor.execute(f'DROP TRIGGER IF EXISTS "{TABLE}_{name}"')


class Migration(migrations.Migration):
    dependencies = [("enforcement", "0024_messages")]

    operations = [migrations.RunPython(forwards, backwards)]
