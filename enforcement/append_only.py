"""A migration operation that makes a table append-only in the database itself.

PostgreSQL: a row trigger that raises on UPDATE and DELETE. SQLite: the same with
RAISE(ABORT), letting through only the test runner's full flush (config/sqlite/base.py).
TRUNCATE is not a row operation and stays possible for the table owner on PostgreSQL; the
application's own role should not own the tables in production.

SQLite rebuilds a table for some ALTERs and drops its triggers: a migration that alters an
append-only table must apply AppendOnly again (tests/test_append_only.py would fail if not).
"""

from django.db.migrations.operations.base import Operation

_PG_FUNCTION = """
CREATE OR REPLACE FUNCTION reportin_refuse_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'table % is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'restrict_violation';
END
$$ LANGUAGE plpgsql
"""


class AppendOnly(Operation):
    reversible = True

    def __init__(self, model_name: str):
        self.model_name = model_name

    def deconstruct(self):
        return self.__class__.__qualname__, [self.model_name], {}

    def state_forwards(self, app_label, state):
        pass

    def _table(self, app_label, state):
        return state.apps.get_model(app_label, self.model_name)._meta.db_table

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        table = self._table(app_label, to_state)
        vendor = schema_editor.connection.vendor
        if vendor == "postgresql":
            schema_editor.execute(_PG_FUNCTION, params=None)
            schema_editor.execute(
                f'CREATE OR REPLACE TRIGGER "{table}_append_only" BEFORE UPDATE OR DELETE ON "{table}" '
                "FOR EACH ROW EXECUTE FUNCTION reportin_refuse_change()"
            )
        elif vendor == "sqlite":
            schema_editor.execute("CREATE TABLE IF NOT EXISTS append_only_flush (id INTEGER PRIMARY KEY)")
            for operation in ("UPDATE", "DELETE"):
                schema_editor.execute(
                    f'CREATE TRIGGER IF NOT EXISTS "{table}_no_{operation.lower()}" BEFORE {operation} ON "{table}" '
                    "WHEN NOT EXISTS (SELECT 1 FROM append_only_flush) "
                    f"BEGIN SELECT RAISE(ABORT, 'table {table} is append-only: {operation} refused'); END"
                )
        else:
            raise NotImplementedError(f"append-only tables are not implemented for {vendor}")

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        table = self._table(app_label, from_state)
        vendor = schema_editor.connection.vendor
        if vendor == "postgresql":
            schema_editor.execute(f'DROP TRIGGER IF EXISTS "{table}_append_only" ON "{table}"')
        elif vendor == "sqlite":
            for operation in ("update", "delete"):
                schema_editor.execute(f'DROP TRIGGER IF EXISTS "{table}_no_{operation}"')

    def describe(self):
        return f"Make {self.model_name} append-only (refuse UPDATE and DELETE)"

    @property
    def migration_name_fragment(self):
        return f"append_only_{self.model_name.lower()}"
