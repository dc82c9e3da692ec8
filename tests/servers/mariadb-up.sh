#!/usr/bin/env bash
# Starts a throwaway MariaDB on 127.0.0.1:33069 with its data, socket, pid file and logs in
# DIR (idempotent; no systemd) and prints exactly one line on stdout:
#   TANDEM_TEST_MYSQL=mysql://tandem:tandem-secret@127.0.0.1:33069/mysql
# Everything else goes to stderr. Settings favour speed over durability
# (innodb_flush_log_at_trx_commit=2): the server holds nothing worth keeping.
#
# Server collation: utf8mb4_nopad_bin. Byte-wise, case-sensitive and trailing-space
# significant, it compares text the way PostgreSQL's "C" collation and SQLite's BINARY do,
# so a key that is unique in one engine is unique in the other and ORDER BY agrees with
# tandem's own key order. utf8mb4_bin would do except that it is PAD SPACE ('a' = 'a ').
set -euo pipefail
dir=${1:?usage: mariadb-up.sh DIR}
port=${TANDEM_MARIADB_PORT:-33069}
user=tandem
password=tandem-secret
exec 3>&1 1>&2  # keep fd 3 for the one stdout line

if ! command -v mariadbd >/dev/null 2>&1 && [[ ! -x /usr/sbin/mariadbd ]]; then
  echo "mariadb-up: mariadbd not found; installing mariadb-server" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y mariadb-server mariadb-client >&2
fi
mariadbd=$(command -v mariadbd || echo /usr/sbin/mariadbd)

mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
data=$dir/data
sock=$dir/mysqld.sock
pidfile=$dir/mysqld.pid
errlog=$dir/error.log
cnf=$dir/my.cnf
url="TANDEM_TEST_MYSQL=mysql://$user:$password@127.0.0.1:$port/mysql"

# Another DIR's test server (same fixed port) already answers with our credentials: use it
# instead of failing to bind.
if [[ ! -S $sock ]] && command -v mariadb-admin >/dev/null 2>&1 &&
   MYSQL_PWD=$password mariadb-admin --protocol=tcp -h 127.0.0.1 -P "$port" -u "$user" ping >/dev/null 2>&1; then
  echo "mariadb-up: a tandem test server already listens on port $port; using it" >&2
  echo "$url" >&3
  exit 0
fi

# The server refuses to run as root unless told to; as root we tell it (DIR may sit where the
# mysql account cannot reach).
run_user=$(id -un)

cat > "$cnf.new" <<CNF
# tandem test server (written by tests/servers/mariadb-up.sh)
[mariadbd]
user = $run_user
datadir = $data
socket = $sock
pid-file = $pidfile
log-error = $errlog
port = $port
bind-address = 127.0.0.1
skip-name-resolve
local-infile = 1
log-bin = $dir/binlog
binlog_format = ROW
server-id = 1
character-set-server = utf8mb4
collation-server = utf8mb4_nopad_bin
innodb_flush_log_at_trx_commit = 2
innodb_buffer_pool_size = 256M
max_connections = 200
max_allowed_packet = 64M

[client]
socket = $sock
port = $port
CNF
mv "$cnf.new" "$cnf"

admin() { mariadb-admin --defaults-file="$cnf" --protocol=socket -uroot "$@"; }
sql() { mariadb --defaults-file="$cnf" --protocol=socket -uroot "$@"; }

alive() { [[ -S $sock ]] && admin --connect-timeout=2 ping >/dev/null 2>&1; }

if ! alive; then
  if [[ ! -d $data/mysql ]]; then
    rm -rf "$data"
    mkdir -p "$data"
    # Root logs in with a password-less socket/unix account only from this script; the
    # test account below is what tandem uses.
    mariadb-install-db --defaults-file="$cnf" --auth-root-authentication-method=normal \
      --skip-test-db >"$dir/install.log" 2>&1 || {
      cat "$dir/install.log" >&2
      exit 1
    }
  fi
  rm -f "$sock" "$pidfile"
  setsid "$mariadbd" --defaults-file="$cnf" </dev/null >>"$dir/stdout.log" 2>&1 3>&- &  # nor this one
  for ((i = 0; i < 120; i++)); do
    alive && break
    sleep 0.5
  done
  if ! alive; then
    echo "mariadb-up: server did not answer within 60s; error log follows" >&2
    tail -n 50 "$errlog" >&2 || true
    exit 1
  fi
fi

sql <<SQL
CREATE USER IF NOT EXISTS '$user'@'127.0.0.1' IDENTIFIED BY '$password';
CREATE USER IF NOT EXISTS '$user'@'localhost' IDENTIFIED BY '$password';
ALTER USER '$user'@'127.0.0.1' IDENTIFIED BY '$password';
ALTER USER '$user'@'localhost' IDENTIFIED BY '$password';
GRANT ALL ON *.* TO '$user'@'127.0.0.1' WITH GRANT OPTION;
GRANT ALL ON *.* TO '$user'@'localhost' WITH GRANT OPTION;
SQL

echo "$url" >&3
