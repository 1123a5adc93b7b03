"""SQLite with append-only tables that the test runner can still empty.

The append-only triggers (enforcement/append_only.py) refuse UPDATE and DELETE unless a row
exists in `append_only_flush`. Only a full flush (what `manage.py flush` and the test runner
do between tests) sets it, for the duration of the flush: the SQLite counterpart of
PostgreSQL's TRUNCATE, which row triggers do not see either.
"""

from django.db.backends.sqlite3 import base, operations


class DatabaseOperations(operations.DatabaseOperations):
    def sql_flush(self, style, tables, *, reset_sequences=False, allow_cascade=False):
        statements = super().sql_flush(style, tables, reset_sequences=reset_sequences, allow_cascade=allow_cascade)
        if not statements:
            return statements
        return [
            "INSERT INTO append_only_flush (id) VALUES (1);",
            *statements,
            "DELETE FROM append_only_flush;",
        ]


class DatabaseWrapper(base.DatabaseWrapper):
    ops_class = DatabaseOperations
