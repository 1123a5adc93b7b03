"""Row retention (README, "Row retention"): the append-only face matches and access records
may be deleted by the retention purge only, in a controlled way.

PostgreSQL: their trigger lets a DELETE through only while the transaction-local setting
`reportin.retention_delete` is on, and only two SECURITY DEFINER functions (owned by the
schema's owner, who has the DELETE privilege the application's role lacks) turn it on, each
deleting only what its rule allows: face matches of check-ins whose selfie is already deleted;
access records older than a year at the very least. UPDATE stays refused. SQLite (development):
the purge sets the same flag its triggers already honour for the test runner's flush
(reportin.retention)."""

from django.db import migrations

TRIGGER_FUNCTION = """
CREATE OR REPLACE FUNCTION reportin_refuse_change_unless_retention() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('reportin.retention_delete', true) = 'on' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'table % is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'restrict_violation';
END
$$ LANGUAGE plpgsql
"""

DELETE_FACEMATCHES = """
CREATE OR REPLACE FUNCTION reportin_retention_delete_facematches(p_checkins bigint[]) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = {schema} AS $$
DECLARE
    deleted integer;
BEGIN
    PERFORM set_config('reportin.retention_delete', 'on', true);
    DELETE FROM reportin_facematch m USING reportin_checkin c
        WHERE m.checkin_id = c.id AND c.id = ANY(p_checkins) AND c.selfie = '';
    GET DIAGNOSTICS deleted = ROW_COUNT;
    PERFORM set_config('reportin.retention_delete', 'off', true);
    RETURN deleted;
END
$$
"""

DELETE_ACCESS_RECORDS = """
CREATE OR REPLACE FUNCTION reportin_retention_delete_accessrecords(p_ids bigint[], p_before timestamptz) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = {schema} AS $$
DECLARE
    deleted integer;
BEGIN
    -- A day's slack: the caller's clock and a long transaction's now() may differ a little.
    IF p_before > clock_timestamp() - interval '364 days' THEN
        RAISE EXCEPTION 'access records are kept at least 365 days' USING ERRCODE = 'restrict_violation';
    END IF;
    PERFORM set_config('reportin.retention_delete', 'on', true);
    DELETE FROM enforcement_accessrecord WHERE id = ANY(p_ids) AND viewed_at < p_before;
    GET DIAGNOSTICS deleted = ROW_COUNT;
    PERFORM set_config('reportin.retention_delete', 'off', true);
    RETURN deleted;
END
$$
"""

TABLES = ("reportin_facematch", "enforcement_accessrecord")


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT quote_ident(current_schema())")
        schema = cursor.fetchone()[0]
    schema_editor.execute(TRIGGER_FUNCTION, params=None)
    for table in TABLES:
        schema_editor.execute(
            f'CREATE OR REPLACE TRIGGER "{table}_append_only" BEFORE UPDATE OR DELETE ON "{table}" '
            "FOR EACH ROW EXECUTE FUNCTION reportin_refuse_change_unless_retention()"
        )
    schema_editor.execute(DELETE_FACEMATCHES.format(schema=schema), params=None)
    schema_editor.execute(DELETE_ACCESS_RECORDS.format(schema=schema), params=None)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in TABLES:
        schema_editor.execute(
            f'CREATE OR REPLACE TRIGGER "{table}_append_only" BEFORE UPDATE OR DELETE ON "{table}" '
            "FOR EACH ROW EXECUTE FUNCTION reportin_refuse_change()"
        )
    schema_editor.execute("DROP FUNCTION IF EXISTS reportin_retention_delete_facematches(bigint[])")
    schema_editor.execute("DROP FUNCTION IF EXISTS reportin_retention_delete_accessrecords(bigint[], timestamptz)")
    schema_editor.execute("DROP FUNCTION IF EXISTS reportin_refuse_change_unless_retention()")


class Migration(migrations.Migration):
    dependencies = [
        ("reportin", "0009_facematch_append_only_again"),
        ("enforcement", "0018_reference_encodings"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
