#!/usr/bin/env bash
# A connection killed under tandem (issue 11, item 4): PostgreSQL source, MariaDB target;
# tandem's sessions are killed on both sides (pg_terminate_backend, KILL) during
#  (a) the backfill of a table of many small chunks (`start --until-synced`),
#  (b) `tandem start` following while a writer writes to the source,
#  (c) `tandem verify`;
# each command recovers by itself (reconnect events on stderr, `last_reconnect` in the state)
# and the oracle outside tandem (sorted exports with psql and mariadb) finds both sides equal.
# RECONNECT_PARTS="follow" runs only (b) (after a plain backfill), e.g. against an old binary.
. "$TANDEM_REPO/tests/lib/common.sh"
. "$TANDEM_REPO/tests/lib/oracle.sh"
. "$TANDEM_REPO/tests/lib/matrix.sh"
parts=${RECONNECT_PARTS:-backfill follow verify}

create_db postgres src
create_db mysql dst
SRC=$(db_uri postgres src)
DST=$(db_uri mysql dst)
SRC_DB=${RUN}_src
DST_DB=${RUN}_dst
pg_cli "$SRC" -c "CREATE TABLE item (id bigint PRIMARY KEY, v text NOT NULL, n int);
  INSERT INTO item SELECT i, 'v' || i, i % 97 FROM generate_series(1, 60000) i;"
cat > m.yaml <<YAML
source: $(tandem_uri postgres src)
target: $(tandem_uri mysql dst)
options: {chunk_rows: 20, batch_rows: 10}
tables:
  - source: item
    columns:
      id: {to: id, type: bigint}
      v: {to: v, type: text}
      n: {to: n, type: integer}
YAML

# Kills tandem's sessions: on PostgreSQL those named application_name=tandem, on MariaDB every
# session on the target database (only tandem uses it). Prints how many it killed.
kill_pg() {
  pg_cli "$PG_BASE" -At -c "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))
    FROM pg_stat_activity WHERE datname = '$SRC_DB' AND application_name = 'tandem'
    AND pid <> pg_backend_pid()"
}
kill_my() {
  local ids n=0
  ids=$(mysql_cli "$MY_BASE" -e "SELECT ID FROM information_schema.PROCESSLIST
    WHERE DB = '$DST_DB' AND ID <> CONNECTION_ID()")
  for id in $ids; do mysql_cli "$MY_BASE" -e "KILL $id" 2>/dev/null && n=$((n + 1)); done
  echo $n
}
# kill_during PID SECONDS...: after each delay, kills tandem's sessions on both sides while
# PID runs; writes how many sessions were killed to $WORK/kills.
kill_during() {
  local pid=$1 total=0 d; shift
  for d in "$@"; do
    sleep "$d"
    kill -0 "$pid" 2>/dev/null || break
    total=$((total + $(kill_pg) + $(kill_my)))
  done
  echo $total > "$WORK/kills"
}

oracle_equal() {
  diff <(pg_cli "$SRC" -At -F'|' -c "SELECT id, v, n FROM item ORDER BY id") \
       <(mysql_cli "$DST" -e "SELECT id, v, n FROM item ORDER BY id" | tr '\t' '|') > "$WORK/diff"
}
reconnects() { grep -c '"event":"reconnect"' "$1" || true; }

if [[ " $parts " == *" backfill "* ]]; then
  "$TANDEM" start -c m.yaml --until-synced > backfill.out 2> backfill.err &
  pid=$!
  kill_during $pid 1 1 1 1
  set +e; wait $pid; rc=$?; set -e
  [[ $rc == 0 ]] || { tail -5 backfill.err; fail "(a) start --until-synced exited $rc after kills"; }
  [[ $(cat "$WORK/kills") -gt 0 ]] || { cat backfill.out; tail -3 backfill.err; fail "(a) the backfill ended before any session was killed"; }
  [[ $(reconnects backfill.err) -gt 0 ]] || fail "(a) no reconnect event: $(tail -3 backfill.err)"
  grep -q '"side":"source"' backfill.err && grep -q '"side":"target"' backfill.err ||
    fail "(a) reconnects should name both sides: $(grep reconnect backfill.err | head -3)"
  ! grep -q "$TANDEM_SOURCE_PASSWORD" backfill.err || fail "(a) a reconnect event carries the password"
  oracle_equal || fail "(a) target differs from source after the backfill: $(head -5 "$WORK/diff")"
  grep -q "60000 rows copied" backfill.out || fail "(a) $(cat backfill.out)"
  pass "(a) backfill with $(cat "$WORK/kills") sessions killed: $(reconnects backfill.err) reconnects, rows equal"
else
  expect_exit 0 start -c m.yaml --until-synced
fi

if [[ " $parts " == *" follow "* ]]; then
  "$TANDEM" start -c m.yaml > follow.out 2> follow.err &
  follower=$!
  # The application: inserts, updates and deletes on the source for about 8 s.
  (for i in $(seq 1 80); do
     pg_cli "$SRC" -c "INSERT INTO item VALUES (100000 + $i, 'new $i', $i);
       UPDATE item SET v = 'upd $i' WHERE id = $i * 7; DELETE FROM item WHERE id = 50000 + $i;" \
       > /dev/null
     sleep 0.1
   done) &
  writer=$!
  kill_during $follower 2 2 2
  wait $writer
  # Caught up when the oracle finds the sides equal; the follower has 60 s.
  ok=0
  for _ in $(seq 1 120); do
    if oracle_equal; then ok=1; break; fi
    sleep 0.5
  done
  if [[ $ok != 1 ]]; then
    tail -5 follow.err
    fail "(b) the follower never caught up after $(cat "$WORK/kills") sessions were killed: $(head -5 "$WORK/diff")"
  fi
  kill -0 $follower 2>/dev/null || fail "(b) the follower exited: $(tail -3 follow.err)"
  [[ $(reconnects follow.err) -gt 0 ]] || fail "(b) no reconnect event"
  last=$(sqlite3 m.state.db "SELECT v FROM meta WHERE k = 'last_reconnect'")
  [[ $last == *'"command":"start"'* && $last == *'"reconnected":true'* ]] ||
    fail "(b) last_reconnect in the state store: '$last'"
  kill -TERM $follower
  wait $follower || fail "(b) the follower did not stop cleanly"
  pass "(b) follower with $(cat "$WORK/kills") sessions killed: $(reconnects follow.err) reconnects, caught up"
fi

if [[ " $parts " == *" verify "* ]]; then
  # Row by row (--no-digests): thousands of small ranges, so that the kills land mid-verify;
  # the digests of one scan a side read these 60,000 rows in a tenth of a second (their
  # reconnect is tested in tests/faults).
  "$TANDEM" verify -c m.yaml --no-digests > verify.out 2> verify.err &
  pid=$!
  kill_during $pid 0.5 0.5 0.5
  set +e; wait $pid; rc=$?; set -e
  [[ $rc == 0 ]] || { cat verify.out; tail -5 verify.err; fail "(c) verify exited $rc after kills"; }
  grep -q "^0 differences" verify.out || fail "(c) $(tail -2 verify.out)"
  [[ $(cat "$WORK/kills") -gt 0 ]] || fail "(c) verify ended before any session was killed"
  [[ $(reconnects verify.err) -gt 0 ]] || fail "(c) no reconnect event: $(tail -3 verify.err)"
  oracle_equal || fail "(c) sides differ"
  pass "(c) verify with $(cat "$WORK/kills") sessions killed: $(reconnects verify.err) reconnects, 0 differences"
fi
