#!/usr/bin/env bash
# Stops the test MariaDB started by mariadb-up.sh DIR (clean shutdown over the socket) and
# waits for the process to exit. Keeps the data. Quiet no-op when nothing runs.
set -uo pipefail
dir=${1:?usage: mariadb-down.sh DIR}
[[ -d $dir ]] || exit 0
dir=$(cd "$dir" && pwd)
cnf=$dir/my.cnf
pidfile=$dir/mysqld.pid
[[ -f $cnf ]] || exit 0

pid=""
[[ -f $pidfile ]] && pid=$(cat "$pidfile" 2>/dev/null || true)
if [[ -S $dir/mysqld.sock ]]; then
  mariadb-admin --defaults-file="$cnf" --protocol=socket -uroot shutdown >&2 || true
fi
if [[ -n $pid ]]; then
  for ((i = 0; i < 120; i++)); do
    kill -0 "$pid" 2>/dev/null || exit 0
    sleep 0.5
  done
  echo "mariadb-down: server $pid still running after 60s" >&2
  exit 1
fi
exit 0
