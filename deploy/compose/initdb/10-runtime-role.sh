#!/bin/sh
# Runs once, when the PostgreSQL volume is first initialised: the runtime role the app connects as.
# It owns nothing and may not create anything; `migrate` (as the owner) grants it its privileges.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
     -v app_password="$CLEARANCE_DB_APP_PASSWORD" <<'SQL'
CREATE ROLE clearance_app LOGIN PASSWORD :'app_password'
  NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;
SQL
