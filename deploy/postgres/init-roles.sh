#!/bin/sh
# Runs once, when the database volume is created (the postgres image's
# /docker-entrypoint-initdb.d). Two roles, neither a superuser:
#   reportin_owner  owns the schema and runs migrations (the `migrate` service);
#   reportin_app    what web, workers and beat use: it reads and writes rows, never owns a
#                   table (so it cannot ALTER, DROP, TRUNCATE or disable a trigger), and after
#                   each migration `manage.py db_grant_app_role` leaves it only SELECT and
#                   INSERT on the append-only tables.
set -eu
owner_password=$(cat /run/secrets/db_owner_password)
app_password=$(cat /run/secrets/db_app_password)
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
     -v owner_password="$owner_password" -v app_password="$app_password" <<'SQL'
CREATE ROLE reportin_owner LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'owner_password';
CREATE ROLE reportin_app LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT PASSWORD :'app_password';
REVOKE ALL ON DATABASE :"DBNAME" FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE :"DBNAME" TO reportin_owner, reportin_app;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
ALTER SCHEMA public OWNER TO reportin_owner;
GRANT USAGE ON SCHEMA public TO reportin_app;
ALTER DEFAULT PRIVILEGES FOR ROLE reportin_owner IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO reportin_app;
ALTER DEFAULT PRIVILEGES FOR ROLE reportin_owner IN SCHEMA public
    GRANT USAGE, SELECT ON SEQUENCES TO reportin_app;
SQL
