#!/usr/bin/env bash
# Issue 10, test "pgbench": pgbench's own schema (`pgbench -i -s 1`; pgbench_history has no
# key, so `init` drafts it `key: none`) migrated while pgbench runs on old (`tandem start` in
# the background, `pgbench -c 2 -T 8`); verify 0 differences and every table, pgbench_history
# included, equal on both sides by the oracle outside tandem (sorted exports, duplicates kept).
# Then switch reads, switch writes, pgbench (or, on a MariaDB new side, the same transaction in
# SQL through the mariadb client) on new without an error; the reverse stream brings it back to
# old: verify, oracle equal. Then rollback, pgbench on old without an error, verify, oracle
# equal. Pairs: PostgreSQL -> PostgreSQL, PostgreSQL -> MariaDB.
# pgbench runs with -n: without it pgbench TRUNCATEs pgbench_history before each run, which is
# DDL-like and not a row change any capture sees.
. "$TANDEM_REPO/tests/lib/common.sh"
. "$TANDEM_REPO/tests/lib/oracle.sh"
MATRIX_PREFIX=pb
. "$TANDEM_REPO/tests/lib/matrix.sh"
trap 'stop_jobs; drop_dbs; rm -rf "$WORK"' EXIT

TABLES=(pgbench_accounts pgbench_branches pgbench_tellers pgbench_history)

# bench URI TRANSACTIONS LABEL: pgbench's TPC-B-like run, TRANSACTIONS per client (a bounded
# amount of work: each pgbench_history row is applied by counting equal rows, which costs more
# as the keyless table grows, so a time-bound run under load could outrun the test's wait);
# any error fails the test.
bench() {
  if ! pgbench -n -c 2 -t "$2" "$1" > "pgbench.$3.out" 2>&1; then
    tail -20 "pgbench.$3.out"; fail "pgbench $3 failed"
  fi
  grep -q "number of failed transactions: 0" "pgbench.$3.out" ||
    ! grep -q "number of failed transactions" "pgbench.$3.out" ||
    { tail -20 "pgbench.$3.out"; fail "pgbench $3 had failed transactions"; }
  echo "pgbench $3: $(grep -o 'number of transactions actually processed: [0-9]*' "pgbench.$3.out")"
}

# mysql_bench NAME SECONDS LABEL: pgbench's default transaction, written for MariaDB, by the
# mariadb client (pgbench speaks only PostgreSQL), two clients, for SECONDS.
mysql_bench() {
  local uri=$1 secs=$2 label=$3 c pids=()
  for c in 1 2; do
    (
      local end=$((SECONDS + secs)) i=0 aid bid tid delta
      while ((SECONDS < end)); do
        i=$((i + 1)); aid=$((RANDOM * 3 % 100000 + 1)); bid=1; tid=$((RANDOM % 10 + 1)); delta=$((RANDOM % 10001 - 5000))
        mysql_cli "$uri" -e "START TRANSACTION;
          UPDATE pgbench_accounts SET abalance = abalance + $delta WHERE aid = $aid;
          SELECT abalance FROM pgbench_accounts WHERE aid = $aid;
          UPDATE pgbench_tellers SET tbalance = tbalance + $delta WHERE tid = $tid;
          UPDATE pgbench_branches SET bbalance = bbalance + $delta WHERE bid = $bid;
          INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES ($tid, $bid, $aid, $delta, CURRENT_TIMESTAMP(6));
          COMMIT;" > /dev/null || exit 1
      done
      echo "$i" > "mysql_bench.$label.$c"
    ) 2>> "mysql_bench.$label.err" &
    pids+=($!)
  done
  for c in "${pids[@]}"; do wait "$c" || echo "client $c failed" >> "mysql_bench.$label.err"; done
  [[ ! -s mysql_bench.$label.err ]] || { head -5 "mysql_bench.$label.err"; fail "SQL on new ($label) saw errors"; }
  echo "mysql bench $label: $(( $(cat "mysql_bench.$label.1") + $(cat "mysql_bench.$label.2") )) transactions"
}

verify0() {  # verify0 LABEL
  expect_exit 0 verify -c tandem.yaml
  grep -q "^0 differences" "$WORK/out" || { cat "$WORK/out"; fail "$1: verify found differences"; }
}

# equal SRC OLD DST NEW LABEL: the oracle, every table, retrying while the streams catch up.
equal() {
  local t deadline a b
  for t in "${TABLES[@]}"; do
    deadline=$((SECONDS + 90))
    while :; do
      oracle_rows "$1" "$(db_uri "$1" "$2")" "$t" > "old.$t"
      oracle_rows "$3" "$(db_uri "$3" "$4")" "$t" > "new.$t"
      cmp -s "old.$t" "new.$t" && break
      ((SECONDS < deadline)) || { diff "old.$t" "new.$t" | head -20; fail "$5: $t differs by the oracle ($(wc -l < "old.$t") vs $(wc -l < "new.$t") rows)"; }
      sleep 1
    done
    [[ -s old.$t ]] || fail "$5: $t exported no rows"
  done
  echo "$5: oracle equal (history $(wc -l < old.pgbench_history) rows, $(sort old.pgbench_history | uniq -d | wc -l) duplicated)"
}

pair() {  # pair DST
  local dst=$1 old=pg_${1}_old new=pg_${1}_new
  create_db postgres "$old"
  create_db "$dst" "$new"
  pgbench -i -s 1 -q "$(db_uri postgres "$old")" > init.out 2>&1 || { cat init.out; fail "pgbench -i"; }
  expect_exit 0 init --source "$(tandem_uri postgres "$old")" --target "$(tandem_uri "$dst" "$new")" -o tandem.yaml
  awk '/source: pgbench_history/{f=1} f&&/^    key:/{print; exit}' tandem.yaml | grep -q 'key: none' ||
    { cat tandem.yaml; fail "init did not draft pgbench_history as key: none"; }
  cat >> tandem.yaml <<YAML
hooks:
  freeze: "true"
  unfreeze: "true"
YAML
  expect_exit 0 check -c tandem.yaml
  local t0=$SECONDS
  bench "$(db_uri postgres "$old")" 1500 old-during-start &
  local bpid=$!
  sleep 0.5
  "$TANDEM" start -c tandem.yaml >> follower.out 2>> follower.err &
  local fpid=$!
  wait "$bpid" || fail "pgbench on old during start"
  local deadline=$((SECONDS + 180))
  until "$TANDEM" status -c tandem.yaml --json 2>/dev/null | grep -q '"phase": *"dual-write"'; do
    ((SECONDS < deadline)) || { tail -5 follower.err; fail "dual-write not reached"; }
    kill -0 "$fpid" 2>/dev/null || { tail -5 follower.err; fail "tandem start exited"; }
    sleep 0.3
  done
  equal postgres "$old" "$dst" "$new" "after start"
  verify0 "after start"
  pass "postgres -> $dst: pgbench on old during start, verify 0 differences, every table equal ($((SECONDS - t0)) s)"

  expect_exit 0 switch reads -c tandem.yaml
  expect_exit 0 switch writes -c tandem.yaml
  if [[ $dst == postgres ]]; then bench "$(db_uri postgres "$new")" 1000 new; else mysql_bench "$(db_uri mysql "$new")" 5 new; fi
  equal postgres "$old" "$dst" "$new" "after switch writes"
  verify0 "after switch writes"
  pass "postgres -> $dst: writes on new after switch writes without an error, reverse stream, verify 0, every table equal"

  expect_exit 0 rollback -c tandem.yaml
  bench "$(db_uri postgres "$old")" 1000 old-after-rollback
  equal postgres "$old" "$dst" "$new" "after rollback"
  verify0 "after rollback"
  kill -TERM "$fpid"; wait "$fpid" || true
  pass "postgres -> $dst: pgbench on old after rollback without an error, verify 0, every table equal ($((SECONDS - t0)) s)"
}

isolate pg_pg pair postgres
isolate pg_mysql pair mysql
((${#FAILED[@]} == 0)) || fail "failed pairs: ${FAILED[*]}"
