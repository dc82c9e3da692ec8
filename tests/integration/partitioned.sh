#!/usr/bin/env bash
# Issue 10 item 2: a partitioned table is mapped, copied, captured and verified as its parent.
#  - PostgreSQL source, a range-partitioned table with a default partition: `init` drafts the
#    parent only; a writer inserts, updates (a key update moves a row across partitions) and
#    deletes in every partition while `tandem start` copies and follows; mid-migration one
#    partition is attached (ATTACH PARTITION) and one created (CREATE TABLE ... PARTITION OF),
#    both then receive rows. Targets PostgreSQL (a plain table) and MariaDB. The changes used
#    to be recorded under the partition's name and never applied (status: lag 0).
#  - MariaDB source, a RANGE- and a HASH-partitioned table: the same writer, an
#    ALTER TABLE ... ADD PARTITION mid-migration keeps the capture triggers (they belong to
#    the table), the new partition's rows arrive.
# The oracle: each side's own CLI exports, normalised and sorted (tests/lib/oracle.sh), equal;
# and `tandem verify` 0 differences.
. "$TANDEM_REPO/tests/lib/common.sh"
. "$TANDEM_REPO/tests/lib/oracle.sh"
MATRIX_PREFIX=pt
. "$TANDEM_REPO/tests/lib/matrix.sh"
. "$TANDEM_REPO/tests/lib/watchdog.sh"
trap 'stop_jobs; drop_dbs; rm -rf "$WORK"' EXIT

# sql ENGINE NAME SQL: one batch on the source, as its owner.
sql() {
  case $1 in
    postgres) pg_cli "$(db_uri postgres "$2")" -c "$3" >/dev/null ;;
    mysql) mysql_cli "$(db_uri mysql "$2")" -e "$3" >/dev/null ;;
  esac
}

# lost_to_locks TEXT: the error says the transaction lost a deadlock or ran out of lock wait.
lost_to_locks() { grep -q -i -E "deadlock|lock timeout|lock wait timeout" <<<"$1"; }

# ddl ENGINE NAME SQL: the application's schema change, as a careful application runs it:
# with a lock wait bound, retried when it times out or loses a deadlock against the writer
# (ATTACH PARTITION locks the default partition, then the parent: the writer's transaction
# can hold the one and want the other). Any other error fails the test.
ddl() {
  local e=$1 db=$2 stmt=$3 attempt out
  for attempt in $(seq 1 30); do
    case $e in
      postgres) out=$(pg_cli "$(db_uri postgres "$db")" -c "SET lock_timeout = '3s'; $stmt" 2>&1) && return 0 ;;
      mysql) out=$(mysql_cli "$(db_uri mysql "$db")" -e "SET SESSION lock_wait_timeout = 3, innodb_lock_wait_timeout = 3; $stmt" 2>&1) && return 0 ;;
    esac
    lost_to_locks "$out" || fail "DDL failed: $out"
    echo "ddl attempt $attempt: $out" >> ddl.log
    sleep 0.5
  done
  diagnose "DDL kept waiting on locks"
  fail "DDL did not get its locks in 30 attempts: $out"
}

# app_write LOG ENGINE NAME SQL: one of the application's writes. A transaction lost to a
# deadlock or a lock timeout against the DDL is rolled back whole, as the application sees it
# (not a tandem error): it goes to aborted.log; any other error to LOG, which fails the test.
app_write() {
  local log=$1 out; shift
  out=$(sql "$@" 2>&1) && return 0
  if lost_to_locks "$out"; then
    echo "$out" >> aborted.log
  else
    echo "$out" >> "$log"
  fi
}
writer_errors() { cat writer.err hash.err 2>/dev/null || true; }

# assess_reads_every_partition ENGINE NAME: `tandem assess` scans the partitioned parents
# through their partitions: its row count of each table is the CLI's count(*).
assess_reads_every_partition() {
  expect_exit 0 assess --json assess.json
  local t want got tables
  tables=$("$PYTHON" -c "import json; print(' '.join(t['table'] for t in json.load(open('assess.json'))['tables']))")
  [[ $tables == *orders* ]] || fail "assess did not read orders (tables: $tables)"
  for t in $tables; do
    got=$("$PYTHON" -c "import json,sys; print([t['rows'] for t in json.load(open('assess.json'))['tables'] if t['table']==sys.argv[1]][0])" "$t")
    case $1 in
      postgres) want=$(pg_cli "$(db_uri postgres "$2")" -At -c "select count(*) from $t") ;;
      mysql) want=$(mysql_cli "$(db_uri mysql "$2")" -N -e "select count(*) from $t") ;;
    esac
    [[ $got == "$want" && $want -gt 0 ]] || fail "assess read $got rows of $t, the CLI counts $want"
  done
}

# writer ENGINE NAME PARENT_PID MORE: writes into every partition until ./stop exists; from
# the moment ./more exists also ids 3000+i and MORE+i (the partitions added mid-migration).
# Ids: p1 holds 1-999, p2 1000-1999, the rest (default / last ranges) 2000 and up.
writer() {
  local e=$1 db=$2 parent=$3 more_base=$4 i=0 more=0
  while [[ ! -e stop ]] && kill -0 "$parent" 2>/dev/null; do
    i=$((i + 1))
    [[ -e more ]] && more=1
    local batch="INSERT INTO orders VALUES ($((500 + i)), 'p1 $i', $i), ($((1500 + i)), 'p2 $i', $i), ($((6000 + i)), 'def $i', $i);"
    ((more)) && batch+="INSERT INTO orders VALUES ($((3000 + i)), 'p3 $i', $i), ($((more_base + i)), 'more $i', $i);"
    batch+="UPDATE orders SET qty = qty + 1, note = 'u$i' WHERE id % 13 = $((i % 13));"
    # A key update: the row moves from p1 into another partition.
    batch+="UPDATE orders SET id = id + 20000 WHERE id = $i; DELETE FROM orders WHERE id = $((1000 + i));"
    app_write writer.err "$e" "$db" "$batch"
    ((i % 3 == 0)) && app_write writer.err "$e" "$db" "DELETE FROM orders WHERE id = $((6000 + i - 1))"
    sleep 0.03
  done
  echo "$i" > writes
}

wait_dual_write() {  # wait_dual_write FOLLOWER_PID
  local deadline=$((SECONDS + 180))
  until timeout 60 "$TANDEM" status --json 2>/dev/null | grep -q '"phase": *"dual-write"'; do
    ((SECONDS < deadline)) || { tail -5 follower.err; fail "dual-write not reached"; }
    kill -0 "$1" 2>/dev/null || { tail -5 follower.err; fail "tandem start exited"; }
    sleep 0.3
  done
}

# same_rows: the oracle compares both sides' exports (retrying while the follower catches
# up) and prints the row count.
same_rows() {  # same_rows SRC OLD DST NEW TABLE
  local deadline=$((SECONDS + 60)) a b
  while :; do
    a=$(oracle_rows "$1" "$(db_uri "$1" "$2")" "$5")
    b=$(oracle_rows "$3" "$(db_uri "$3" "$4")" "$5")
    [[ $a == "$b" ]] && break
    ((SECONDS < deadline)) || {
      diff <(echo "$a") <(echo "$b") | head -20
      fail "$1 -> $3: $5 differs between old and new by the oracle ($(wc -l <<<"$a") vs $(wc -l <<<"$b") rows)"
    }
    sleep 1
  done
  echo "$(wc -l <<<"$a")"
}

pg_source() {  # pg_source DST
  local dst=$1 old=pg_${1}_old new=pg_${1}_new
  create_db postgres "$old"
  create_db "$dst" "$new"
  sql postgres "$old" "
    CREATE TABLE orders (id bigint PRIMARY KEY, note text NOT NULL, qty int) PARTITION BY RANGE (id);
    CREATE TABLE orders_p1 PARTITION OF orders FOR VALUES FROM (1) TO (1000);
    CREATE TABLE orders_p2 PARTITION OF orders FOR VALUES FROM (1000) TO (2000);
    CREATE TABLE orders_def PARTITION OF orders DEFAULT;
    INSERT INTO orders SELECT g, 'seed ' || g, g FROM generate_series(1, 499) g;
    INSERT INTO orders SELECT g, 'seed ' || g, g FROM generate_series(1000, 1499) g;
    INSERT INTO orders SELECT g, 'seed ' || g, g FROM generate_series(2000, 2499) g;
    ANALYZE orders;"
  "$TANDEM" init --source "$(tandem_uri postgres "$old")" --target "$(tandem_uri "$dst" "$new")" > init.out
  grep -q "source: orders$" tandem.yaml || { cat tandem.yaml; fail "init did not draft the parent table orders"; }
  grep -q "orders_p1\|orders_def" tandem.yaml init.out && { cat tandem.yaml; fail "init drafted a partition as a table"; }
  cat >> tandem.yaml <<YAML
hooks:
  freeze: "true"
  unfreeze: "true"
YAML
  within 120 "tandem check" expect_exit 0 check
  within 300 "tandem assess" assess_reads_every_partition postgres "$old"

  writer postgres "$old" "$BASHPID" 4000 &
  local wpid=$!
  "$TANDEM" start >> follower.out 2>> follower.err &
  local fpid=$!
  wait_dual_write "$fpid"
  # Mid-migration: a table attached as a partition, and one created as a partition.
  ddl postgres "$old" "CREATE TABLE orders_p3 (LIKE orders INCLUDING ALL);
    ALTER TABLE orders ATTACH PARTITION orders_p3 FOR VALUES FROM (3000) TO (4000);
    CREATE TABLE orders_p4 PARTITION OF orders FOR VALUES FROM (4000) TO (5000);"
  touch more
  sleep 4
  touch stop
  await_exit 120 "the writer" "$wpid"
  [[ -z $(writer_errors) ]] || { writer_errors | head -5; fail "the writer saw errors"; }
  [[ $(pg_cli "$(db_uri postgres "$old")" -At -c "SELECT count(*) FROM orders_p3") -gt 0 ]] ||
    fail "the attached partition received no rows"
  [[ $(pg_cli "$(db_uri postgres "$old")" -At -c "SELECT count(*) FROM orders_p4") -gt 0 ]] ||
    fail "the created partition received no rows"
  local rows
  rows=$(same_rows postgres "$old" "$dst" "$new" orders)
  within 300 "tandem verify" expect_exit 0 verify
  grep -q "^0 differences" "$WORK/out" || fail "verify: $(cat "$WORK/out")"
  within 120 "tandem status" expect_exit 0 status
  grep -q "orders" "$WORK/out" || fail "status does not show orders: $(cat "$WORK/out")"
  # A re-install (the next start) replaces the parent's trigger and its clones; remove drops them.
  kill -TERM "$fpid"; await_exit 120 "tandem start after SIGTERM" "$fpid"
  "$TANDEM" start >> follower.out 2>> follower.err &
  fpid=$!
  sleep 3
  within 120 "an insert after the restart" \
    sql postgres "$old" "INSERT INTO orders VALUES (4999, 'after restart', 1), (9999, 'after restart', 2)"
  rows=$(same_rows postgres "$old" "$dst" "$new" orders)
  kill -TERM "$fpid"; await_exit 120 "tandem start after SIGTERM" "$fpid"
  [[ $(pg_cli "$(db_uri postgres "$old")" -At -c "SELECT count(*) FROM pg_trigger WHERE tgname = '_tandem_capture'") == 6 ]] ||
    fail "expected the capture trigger on orders and its 5 partitions"
  pass "postgres -> $dst: a partitioned table (default partition, one attached and one created mid-migration, $(cat writes) writer rounds): $rows rows equal by the oracle, verify 0 differences"
}

mysql_source() {  # mysql_source DST
  local dst=$1 old=my_${1}_old new=my_${1}_new
  create_db mysql "$old"
  create_db "$dst" "$new"
  sql mysql "$old" "
    CREATE TABLE orders (id bigint PRIMARY KEY, note varchar(50) NOT NULL, qty int)
      PARTITION BY RANGE (id) (PARTITION p1 VALUES LESS THAN (1000),
        PARTITION p2 VALUES LESS THAN (2000), PARTITION p3 VALUES LESS THAN (3000),
        PARTITION p9 VALUES LESS THAN (30000));
    CREATE TABLE hashed (id int PRIMARY KEY, v varchar(20)) PARTITION BY HASH (id) PARTITIONS 4;
    INSERT INTO orders SELECT seq, CONCAT('seed ', seq), seq FROM seq_1_to_499;
    INSERT INTO orders SELECT seq, CONCAT('seed ', seq), seq FROM seq_1000_to_1499;
    INSERT INTO orders SELECT seq, CONCAT('seed ', seq), seq FROM seq_2000_to_2499;
    INSERT INTO hashed SELECT seq, CONCAT('h', seq) FROM seq_1_to_300;"
  "$TANDEM" init --source "$(tandem_uri mysql "$old")" --target "$(tandem_uri "$dst" "$new")" > init.out
  grep -q "source: orders$" tandem.yaml || { cat tandem.yaml; fail "init did not draft orders"; }
  grep -q "source: hashed$" tandem.yaml || { cat tandem.yaml; fail "init did not draft hashed"; }
  cat >> tandem.yaml <<YAML
hooks:
  freeze: "true"
  unfreeze: "true"
YAML
  within 120 "tandem check" expect_exit 0 check
  within 300 "tandem assess" assess_reads_every_partition mysql "$old"
  writer mysql "$old" "$BASHPID" 30000 &
  local wpid=$!
  (while [[ ! -e stop ]]; do
     app_write hash.err mysql "$old" "UPDATE hashed SET v = CONCAT('x', id + 0) WHERE id % 5 = FLOOR(RAND() * 5); INSERT INTO hashed VALUES (FLOOR(1000 + RAND() * 100000), 'new') ON DUPLICATE KEY UPDATE v = 'dup'; DELETE FROM hashed WHERE id = FLOOR(1 + RAND() * 300)"
     sleep 0.05
   done) &
  local hpid=$!
  "$TANDEM" start >> follower.out 2>> follower.err &
  local fpid=$!
  wait_dual_write "$fpid"
  # Mid-migration: a partition added past the last one (the writer's 30000+ ids), p9 split so
  # that 3000-4999 get their own partition, two more hash partitions.
  ddl mysql "$old" "ALTER TABLE orders ADD PARTITION (PARTITION p10 VALUES LESS THAN (40000))"
  ddl mysql "$old" "ALTER TABLE orders REORGANIZE PARTITION p9 INTO (PARTITION p4 VALUES LESS THAN (5000), PARTITION p9 VALUES LESS THAN (30000))"
  ddl mysql "$old" "ALTER TABLE hashed ADD PARTITION PARTITIONS 2"
  touch more
  local n
  n=$(mysql_cli "$(db_uri mysql "$old")" -e "SELECT count(*) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE() AND EVENT_OBJECT_TABLE IN ('orders', 'hashed')")
  [[ $n == 6 ]] || fail "expected 3 capture triggers on each table after the partition changes, found $n"
  sleep 4
  touch stop
  await_exit 120 "the writer" "$wpid"
  await_exit 120 "the hashed writer" "$hpid"
  [[ -z $(writer_errors) ]] || { writer_errors | head -5; fail "the writer saw errors"; }
  [[ $(mysql_cli "$(db_uri mysql "$old")" -e "SELECT count(*) FROM orders PARTITION (p4)") -gt 0 ]] ||
    fail "the split-off partition received no rows"
  [[ $(mysql_cli "$(db_uri mysql "$old")" -e "SELECT count(*) FROM orders PARTITION (p10)") -gt 0 ]] ||
    fail "the added partition received no rows"
  local rows hrows
  rows=$(same_rows mysql "$old" "$dst" "$new" orders)
  hrows=$(same_rows mysql "$old" "$dst" "$new" hashed)
  within 300 "tandem verify" expect_exit 0 verify
  grep -q "^0 differences" "$WORK/out" || fail "verify: $(cat "$WORK/out")"
  kill -TERM "$fpid"; await_exit 120 "tandem start after SIGTERM" "$fpid"
  pass "mysql -> $dst: RANGE and HASH partitioned tables, partitions added and split mid-migration ($(cat writes) writer rounds): $rows + $hrows rows equal by the oracle, verify 0 differences"
}

isolate pg_pg pg_source postgres
isolate pg_mysql pg_source mysql
isolate mysql_pg mysql_source postgres
((${#FAILED[@]} == 0)) || fail "failed: ${FAILED[*]}"
pass "partitioned tables"
