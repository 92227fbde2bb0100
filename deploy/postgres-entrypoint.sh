#!/bin/bash
# First start on an empty data volume: initdb (superuser `postgres`, reachable only over the Unix socket inside
# this container, by peer), then one login role POSTGRES_USER with POSTGRES_PASSWORD (SCRAM-SHA-256) owning each
# database of POSTGRES_DATABASES. Every start: listen on the container's own addresses and accept only
# scram-sha-256 logins from its own networks (`samenet`: the compose network), never trust. The password comes
# from the environment (the env file) and is never written to the data volume in clear.
set -euo pipefail
: "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD must be set (the env file)}"
POSTGRES_USER=${POSTGRES_USER:-proxygen}
POSTGRES_DATABASES=${POSTGRES_DATABASES:-dagster proxygen}
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  initdb --username=postgres --auth-local=peer --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 \
    -D "$PGDATA" >/dev/null
  {
    echo "local all postgres peer"
    echo "host all all samenet scram-sha-256"
  } > "$PGDATA/pg_hba.conf"
  pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -c unix_socket_directories=/tmp" -w start >/dev/null
  # The password goes in through a psql variable, quoted by psql: never on a command line or in a log.
  psql -h /tmp -v ON_ERROR_STOP=1 -q -U postgres -d postgres -v user="$POSTGRES_USER" -v pw="$POSTGRES_PASSWORD" <<'SQL'
SET password_encryption = 'scram-sha-256';
CREATE ROLE :"user" LOGIN PASSWORD :'pw';
SQL
  for db in $POSTGRES_DATABASES; do
    psql -h /tmp -v ON_ERROR_STOP=1 -q -U postgres -d postgres -c "CREATE DATABASE \"$db\" OWNER \"$POSTGRES_USER\""
  done
  pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
  echo "postgres-entrypoint: initialised $PGDATA (role $POSTGRES_USER, databases: $POSTGRES_DATABASES)"
fi
exec postgres -D "$PGDATA" -c listen_addresses='*' -c password_encryption=scram-sha-256 \
  -c unix_socket_directories=/tmp
