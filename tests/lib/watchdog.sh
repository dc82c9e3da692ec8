# Bounded waits for script tests that run tandem and the application's DDL side by side.
# A step that blocks (a lock wait, a follower that does not stop) fails the test within its
# bound and prints what every session of the test servers was doing, instead of running
# into ctest's timeout with nothing said. Source it after matrix.sh (PG_BASE, MY_BASE, RUN).

# diagnose WHAT: the state of the test's databases and of every tandem process, on stderr.
diagnose() {
  {
    echo "=== $(date +%T) watchdog: $1"
    echo "--- PostgreSQL sessions of this test"
    timeout 20 psql "$PG_BASE" -X -q -P pager=off -c "
      SELECT pid, datname, state, wait_event_type || ':' || wait_event AS waits,
             pg_blocking_pids(pid) AS blocked_by, backend_xid, backend_xmin,
             date_trunc('second', now() - xact_start) AS in_xact, left(query, 160) AS query
      FROM pg_stat_activity WHERE datname LIKE '${RUN}%' ORDER BY pid" || true
    echo "--- MariaDB sessions and InnoDB transactions"
    mysql_cli "$MY_BASE" --connect-timeout=10 -t -e "
      SELECT ID, DB, COMMAND, TIME, STATE, LEFT(INFO, 160) AS INFO
        FROM information_schema.PROCESSLIST WHERE COMMAND <> 'Daemon' ORDER BY ID;
      SELECT trx_id, trx_state, trx_started, trx_mysql_thread_id, trx_rows_modified,
             LEFT(trx_query, 120) AS q FROM information_schema.INNODB_TRX" || true
    local f
    for f in follower.err follower.out writer.err hash.err; do
      [[ -s $f ]] && { echo "--- tail of $f"; tail -15 "$f"; }
    done
    echo "--- tandem processes"
    local pid
    for pid in $(pgrep -x tandem || true); do
      ps -o pid=,etime=,args= -p "$pid" || continue
      if command -v gdb >/dev/null; then
        timeout 30 gdb -p "$pid" -batch -ex "thread apply all bt 12" 2>/dev/null |
          grep -E '^(Thread|#)' | head -60 || true
      fi
    done
  } >&2
}

# bounded SECS WHAT PID: returns once the background job PID has ended; after SECS seconds
# it diagnoses, kills the job (its children first) and fails the test.
bounded() {
  local secs=$1 what=$2 pid=$3 t=0
  while kill -0 "$pid" 2>/dev/null; do
    if ((t >= secs * 5)); then
      diagnose "$what: pid $pid still running after $secs s"
      pkill -9 -P "$pid" 2>/dev/null || true
      kill -9 "$pid" 2>/dev/null || true
      fail "$what did not end within $secs s (diagnosis above)"
    fi
    sleep 0.2
    t=$((t + 1))
  done
}

# within SECS WHAT CMD...: runs CMD (a command or a function), bounded by SECS seconds.
# Returns CMD's exit code.
within() {
  local secs=$1 what=$2; shift 2
  "$@" &
  local pid=$!
  bounded "$secs" "$what" "$pid"
  wait "$pid"
}

# await_exit SECS WHAT PID: waits for a background job to end, bounded by SECS seconds; its
# exit code is ignored (as after a SIGTERM).
await_exit() {
  bounded "$1" "$2" "$3"
  wait "$3" 2>/dev/null || true
}
