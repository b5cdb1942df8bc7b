#!/usr/bin/env bash
# Makes sure a PostgreSQL server answers on 127.0.0.1:5432 with trust auth for the `postgres` role, installing
# Debian's `postgresql` when the machine has none (CI machines come without a database server).
set -euo pipefail

if psql -h 127.0.0.1 -p 5432 -U postgres -w -Atqc 'SELECT 1' postgres >/dev/null 2>&1; then
  echo "PostgreSQL already answers on 127.0.0.1:5432 with trust for postgres"
  exit 0
fi

if ! command -v pg_ctlcluster >/dev/null || [ -z "$(ls /etc/postgresql 2>/dev/null)" ]; then
  echo "installing PostgreSQL from Debian"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi

version="$(ls /etc/postgresql | sort -V | tail -n 1)"
conf="/etc/postgresql/$version/main"
# Loopback only, trust for the test role: this server exists for the test run and listens on nothing else.
if ! grep -q '^# valerix-ci' "$conf/pg_hba.conf"; then
  {
    echo '# valerix-ci: trust on loopback for the test run'
    echo 'host all postgres 127.0.0.1/32 trust'
    echo 'host all postgres ::1/128 trust'
    cat "$conf/pg_hba.conf"
  } >"$conf/pg_hba.conf.new"
  mv "$conf/pg_hba.conf.new" "$conf/pg_hba.conf"
  chown postgres:postgres "$conf/pg_hba.conf"
fi
# The suites open many connections at once (per-file databases, concurrency tests).
mkdir -p "$conf/conf.d"
printf "listen_addresses = '127.0.0.1'\nmax_connections = 300\n" >"$conf/conf.d/valerix-ci.conf"
chown -R postgres:postgres "$conf/conf.d"

pg_ctlcluster --skip-systemctl-redirect "$version" main restart
for _ in $(seq 1 30); do
  pg_isready -q -h 127.0.0.1 -p 5432 && break
  sleep 1
done
pg_isready -h 127.0.0.1 -p 5432
