# Schema changes while following (issue 10, item 3), on one engine pair. Source after
# tests/lib/common.sh, with SRC_URI, TGT_URI set and src_sql / tgt_sql defined (run SQL on a
# side, print rows as "a|b|c").
# A live writer writes `orders` and `events`; `ALTER TABLE orders ADD COLUMN note` while
# `tandem start` follows: the follower holds orders (message, status), events keeps streaming;
# the mapping is edited, `tandem start` again adds the column on the target and copies orders
# again; verify finds 0 differences and sorted exports match. Then DROP COLUMN qty: message,
# `drop:` in the mapping, 0 differences.
DRIFT_LIB=$TANDEM_REPO/tests/scenarios/lib

drift_mapping() {  # drift_mapping ORDERS_COLUMNS_YAML
  cat > tandem.yaml <<YAML
source: $SRC_URI
target: $TGT_URI
options: {chunk_rows: 150, batch_rows: 100}
tables:
  - source: orders
    target: orders
    columns:
      id: {to: id, type: bigint}
      item: {to: item, type: text}
$1
  - source: events
    target: events
    columns:
      id: {to: id, type: bigint}
      body: {to: body, type: text}
YAML
}

drift_setup() {
  src_sql "CREATE TABLE orders (id BIGINT PRIMARY KEY, item TEXT NOT NULL, qty BIGINT)"
  src_sql "CREATE TABLE events (id BIGINT PRIMARY KEY, body TEXT)"
  local n="WITH RECURSIVE n(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM n WHERE g < 600)"
  src_sql "$n INSERT INTO orders SELECT g, 'item ' || g, g % 7 FROM n"
  src_sql "$n INSERT INTO events SELECT g, 'event ' || g FROM n"
  drift_mapping "      qty: {to: qty, type: bigint}"
  echo base > mode
}

drift_start_writer() {
  rm -f stop
  "$PYTHON" "$DRIFT_LIB/drift_writer.py" "$SRC_WRITER" "$WORK" 2>> writer.log &
  WRITER_PID=$!
}
drift_stop_writer() {
  touch stop
  wait "$WRITER_PID" || { cat writer.log; fail "writer failed"; }
  tail -1 writer.log
}
writes() { local n; n=$(cat writer.count 2>/dev/null) || true; echo "${n:-0}"; }

wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND...
  local secs=$1 what=$2 deadline; shift 2
  deadline=$((SECONDS + secs))
  until "$@"; do
    ((SECONDS < deadline)) || { tail -5 follower.out follower.err 2>/dev/null; fail "timed out waiting for $what"; }
    sleep 0.2
  done
}

# The oracle: both sides exported sorted by sqlite3/psql, compared (COLUMNS of orders).
exports_match() {  # exports_match "id, item, note"
  local cols=$1
  for t in orders events; do
    local c=$cols
    [[ $t == events ]] && c="id, body"
    src_sql "SELECT $c FROM $t" | LC_ALL=C sort > "src.$t"
    tgt_sql "SELECT $c FROM $t" | LC_ALL=C sort > "tgt.$t"
    [[ -s src.$t ]] || fail "source export of $t is empty"
    if ! diff "src.$t" "tgt.$t" > "diff.$t"; then
      head -10 "diff.$t"
      fail "$t: target differs from source ($(grep -c '^[<>]' "diff.$t") lines) on columns $c"
    fi
  done
  pass "sorted exports of orders ($cols) and events match ($(wc -l < src.orders) + $(wc -l < src.events) rows)"
}

held_in_status() {  # held_in_status TEXT: status shows orders held, with TEXT in its message
  "$TANDEM" status -c tandem.yaml > status.out 2>&1 || true
  grep -q "HELD orders" status.out && grep -qF -- "$1" status.out
}

events_arrive() {  # events written after the hold reach the target while orders is held
  local want deadline=$((SECONDS + 30))
  want=$(src_sql "SELECT max(id) FROM events")
  until (( $(tgt_sql "SELECT coalesce(max(id), 0) FROM events") >= want )); do
    ((SECONDS < deadline)) || { tail -5 follower.err; fail "events up to id $want did not reach the target while orders is held"; }
    sleep 0.2
  done
}

run_drift_scenario() {
  drift_setup
  drift_start_writer
  start_follower
  wait_phase dual-write 120
  sleep 1
  ((  $(writes) > 0 )) || fail "the writer wrote nothing"

  # ---- ADD COLUMN while following.
  src_sql "ALTER TABLE orders ADD COLUMN note TEXT"
  echo note > mode
  wait_for 30 "the schema_changed event" grep -q '"event":"schema_changed"' follower.err
  grep -q "HELD: source table orders changed its columns" follower.out && grep -q "column orders.note was added" follower.out || fail "no message on stdout: $(tail -3 follower.out)"
  grep -qF 'note: {to: note, type: text}' follower.out || fail "the message does not say what to map: $(grep HELD follower.out)"
  held_in_status 'note: {to: note, type: text}' || fail "status does not show orders held: $(cat status.out)"
  pass "ADD COLUMN: the follower holds orders, says what to map; status shows it"
  expect_exit 3 switch reads -c tandem.yaml --force
  grep -q "changes of these tables are held" "$WORK/err" || fail "switch reads while orders is held: $(cat "$WORK/err")"
  pass "switch reads refuses (even with --force) while a table is held"
  events_arrive
  pass "events keeps streaming while orders is held"

  # The mapping is edited; `tandem start` again.
  drift_mapping "      qty: {to: qty, type: bigint}
      note: {to: note, type: text}"
  stop_follower
  sleep 1
  start_follower
  wait_for 60 "orders copied again" grep -q "table orders copied again" follower.out
  tgt_has_column orders note || fail "the target has no column orders.note"
  sleep 2
  drift_stop_writer
  expect_exit 0 verify -c tandem.yaml
  grep -q "^0 differences" "$WORK/out" || { cat "$WORK/out"; fail "verify after ADD COLUMN found differences"; }
  exports_match "id, item, qty, note"
  held_in_status "" && fail "orders is still held: $(cat status.out)"
  pass "ADD COLUMN: column added on the target, orders copied again, 0 differences"

  # ---- DROP COLUMN of a mapped column.
  echo noqty > mode
  drift_start_writer
  sleep 1
  src_sql "ALTER TABLE orders DROP COLUMN qty"
  wait_for 30 "the hold for the dropped column" grep -q "column orders.qty (.*) was dropped" follower.out
  held_in_status 'qty: {drop:' || fail "status does not show the drop: $(cat status.out)"
  grep -q "the target column orders.qty stays" status.out || fail "the message does not say the target column stays"
  pass "DROP COLUMN: the follower holds orders and says to write drop:"
  events_arrive
  drift_mapping "      qty: {drop: \"dropped from the source during the migration\"}
      note: {to: note, type: text}"
  stop_follower
  sleep 1
  start_follower
  sleep 3
  drift_stop_writer
  expect_exit 0 verify -c tandem.yaml
  grep -q "^0 differences" "$WORK/out" || { cat "$WORK/out"; fail "verify after DROP COLUMN found differences"; }
  exports_match "id, item, note"
  stop_follower
  pass "DROP COLUMN: drop: in the mapping, the kept changes applied, 0 differences"
}
