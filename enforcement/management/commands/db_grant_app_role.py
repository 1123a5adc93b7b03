"""Give the application's database role what it needs and no more (PostgreSQL).

Run by the schema's owner after every migration (docker-compose.yml's `migrate` service):
the role may read and write ordinary tables, may only SELECT and INSERT on the append-only
ones (found by their `<table>_append_only` trigger, enforcement/append_only.py), and may not
TRUNCATE anything. A role that owns a table or is a superuser could still disable the
triggers, so the command refuses such a role."""

from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from psycopg import sql


def append_only_tables(cursor) -> list[str]:
    cursor.execute(
        "SELECT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = current_schema() AND NOT t.tgisinternal AND t.tgname = c.relname || '_append_only' "
        "ORDER BY c.relname"
    )
    return [row[0] for row in cursor.fetchall()]


class Command(BaseCommand):
    help = "Grant the application's (non-owner) database role its privileges: SELECT and INSERT only on append-only tables."

    def add_arguments(self, parser):
        parser.add_argument("role", help="the role web, workers and beat connect as, e.g. reportin_app")

    def handle(self, *args, role, **options):
        if connection.vendor != "postgresql":
            raise CommandError("db_grant_app_role is for PostgreSQL (SQLite has no roles)")
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = %s", [role])
            found = cursor.fetchone()
            if found is None:
                raise CommandError(f"role {role!r} does not exist")
            if found[0]:
                raise CommandError(f"role {role!r} is a superuser: it could disable the append-only triggers")
            cursor.execute(
                "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = current_schema() AND pg_get_userbyid(c.relowner) = %s",
                [role],
            )
            if cursor.fetchone()[0]:
                raise CommandError(f"role {role!r} owns tables: run migrations as another role (the owner)")
            ident = sql.Identifier(role)
            cursor.execute(sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(ident))
            cursor.execute(sql.SQL("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {}").format(ident))
            cursor.execute(sql.SQL("REVOKE TRUNCATE, REFERENCES, TRIGGER ON ALL TABLES IN SCHEMA public FROM {}").format(ident))
            cursor.execute(sql.SQL("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {}").format(ident))
            tables = append_only_tables(cursor)
            for table in tables:
                cursor.execute(sql.SQL("REVOKE UPDATE, DELETE ON {} FROM {}").format(sql.Identifier(table), ident))
        self.stdout.write(f"{role}: read and write on ordinary tables; SELECT and INSERT only on {len(tables)} append-only tables ({', '.join(tables)}).")
