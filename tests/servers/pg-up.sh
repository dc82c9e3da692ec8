#!/usr/bin/env bash
# Starts a throwaway PostgreSQL 15 on 127.0.0.1:54329 with its data and unix socket in DIR
# (idempotent) and prints exactly one line on stdout:
#   TANDEM_TEST_PG=postgres://tandem:tandem-secret@127.0.0.1:54329/postgres
# Everything else goes to stderr. Settings favour speed over durability (fsync=off...): the
# server holds nothing worth keeping. wal_level=logical lets log-based capture be tested.
set -euo pipefail
dir=${1:?usage: pg-up.sh DIR}
port=${TANDEM_PG_PORT:-54329}
user=tandem
password=tandem-secret
bin=/usr/lib/postgresql/15/bin
exec 3>&1 1>&2  # keep fd 3 for the one stdout line

if [[ ! -x $bin/initdb ]]; then
  echo "pg-up: PostgreSQL 15 not found; installing postgresql-15" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql-15 >&2
fi

# The server refuses to run as root: run it as the postgres account when we are root.
as_pg=()
if [[ $(id -u) == 0 ]]; then as_pg=(runuser -u postgres --); fi

mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
# The data directory lives in DIR when the postgres account can reach DIR; otherwise (a
# parent it cannot traverse) in a temp dir named by DIR/datadir.
if [[ -f $dir/datadir ]]; then
  data=$(cat "$dir/datadir")
elif [[ ${#as_pg[@]} == 0 ]] || "${as_pg[@]}" test -x "$dir"; then
  data=$dir/data
else
  data=$(mktemp -d /tmp/tandem-pg.XXXXXX)/data
  echo "$data" > "$dir/datadir"
fi
sock=$(dirname "$data")
if [[ ${#as_pg[@]} -gt 0 ]]; then chown postgres: "$sock"; fi

url="TANDEM_TEST_PG=postgres://$user:$password@127.0.0.1:$port/postgres"

if [[ -f $data/PG_VERSION ]] && "${as_pg[@]}" "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
  echo "$url" >&3
  exit 0
fi
# Another DIR's test server (same fixed port) already answers with our credentials: use it
# rather than fail to bind the port.
if PGPASSWORD=$password PGCONNECT_TIMEOUT=3 "$bin/psql" -h 127.0.0.1 -p "$port" -U "$user" \
    -d postgres -tAc 'SELECT 1' >/dev/null 2>&1; then
  echo "pg-up: a tandem test server already listens on port $port; using it" >&2
  echo "$url" >&3
  exit 0
fi

if [[ ! -f $data/PG_VERSION ]]; then
  rm -rf "$data"
  mkdir -p "$data"
  if [[ ${#as_pg[@]} -gt 0 ]]; then chown postgres: "$data"; fi
  pwfile=$(mktemp)
  echo "$password" > "$pwfile"
  chmod 644 "$pwfile"
  # The bootstrap superuser is the `tandem` role itself, with a scram password.
  "${as_pg[@]}" "$bin/initdb" -D "$data" -U "$user" -E UTF8 --locale=C.UTF-8 \
    -A scram-sha-256 --pwfile="$pwfile" >&2
  rm -f "$pwfile"
  cat >> "$data/postgresql.conf" <<CONF
# tandem test server
port = $port
listen_addresses = '127.0.0.1'
unix_socket_directories = '$sock'
wal_level = logical
max_replication_slots = 10
max_wal_senders = 10
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 200
CONF
fi

"${as_pg[@]}" "$bin/pg_ctl" -D "$data" -w -t 60 -l "$sock/log" start >&2 3>&-  # the server must not hold our stdout line open
echo "$url" >&3
