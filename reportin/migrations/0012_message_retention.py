"""Message retention (README, "Row retention"): messages between the person and the officers
are written once (enforcement 0025) and may be deleted by the retention purge only.

PostgreSQL: the written-once trigger now lets a DELETE through while the transaction-local
setting `reportin.retention_delete` is on (reportin 0010's trigger function; updates stay
refused), and one SECURITY DEFINER function turns it on, deleting only messages older than the
date given, which must be at least 30 days back. SQLite (development): the purge sets the flag
the message table's delete trigger already honours (reportin.retention)."""

from django.db import migrations

TABLE = "enforcement_message"
WRITTEN_ONCE = (
    "id, client_id, direction, body, attachment, attachment_kind, attachment_size, notice_id, window_id, "
    "checkin_id, task_id, author_id, device_id, created_at"
)

DELETE_MESSAGES = """
CREATE OR REPLACE FUNCTION reportin_retention_delete_messages(p_ids bigint[], p_before timestamptz) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = {schema} AS $$
DECLARE
    deleted integer;
BEGIN
    IF p_before > clock_timestamp() - interval '30 days' THEN
        RAISE EXCEPTION 'messages are kept at least 30 days' USING ERRCODE = 'restrict_violation';
    END IF;
    PERFORM set_config('reportin.retention_delete', 'on', true);
    DELETE FROM enforcement_message WHERE id = ANY(p_ids) AND created_at < p_before;
    GET DIAGNOSTICS deleted = ROW_COUNT;
    PERFORM set_config('reportin.retention_delete', 'off', true);
    RETURN deleted;
END
$$
"""


def _written_once_trigger(schema_editor, function: str) -> None:
    schema_editor.execute(
        f'CREATE OR REPLACE TRIGGER "{TABLE}_written_once" BEFORE UPDATE OF {WRITTEN_ONCE} OR DELETE ON "{TABLE}" '
        f"FOR EACH ROW EXECUTE FUNCTION {function}()"
    )


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT quote_ident(current_schema())")
        schema = cursor.fetchone()[0]
    _written_once_trigger(schema_editor, "reportin_refuse_change_unless_retention")
    schema_editor.execute(DELETE_MESSAGES.format(schema=schema), params=None)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    _written_once_trigger(schema_editor, "reportin_refuse_change")
    schema_editor.execute("DROP FUNCTION IF EXISTS reportin_retention_delete_messages(bigint[], timestamptz)")


class Migration(migrations.Migration):
    dependencies = [
        ("reportin", "0011_figure_rollups"),
        ("enforcement", "0025_message_written_once"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
