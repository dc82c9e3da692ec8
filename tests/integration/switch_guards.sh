#!/usr/bin/env bash
# The reverse stream is proven before writes move, and never stops on one row (issue 10,
# item 4): a generated column on old is computed by old, not written by the reverse stream; a
# row old refuses becomes a reject while the follower goes on; `switch writes` waits for the
# follower to poll the reverse stream and aborts (writes stay on old) when it does not; a
# follower that stops on an error is shown by `status` with the error.
. "$TANDEM_REPO/tests/lib/common.sh"
sqlite3 old.db "PRAGMA journal_mode = WAL;
  CREATE TABLE customer (id INTEGER PRIMARY KEY, status TEXT NOT NULL CHECK (status IN ('on', 'off')),
                         active INTEGER GENERATED ALWAYS AS (status = 'on') STORED);
  WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200)
  INSERT INTO customer (id, status) SELECT i, CASE WHEN i % 3 = 0 THEN 'off' ELSE 'on' END FROM n;" >/dev/null
cat > tandem.yaml <<'YAML'
source: sqlite:old.db
target: sqlite:new.db
hooks:
  writes: echo "$TANDEM_WRITES" > pointer
tables:
  - source: customer
    columns:
      id: {to: id, type: bigint}
      status: {to: status, type: text}
      active: {to: active, type: bigint}
YAML
"$TANDEM" start -c tandem.yaml > follower.out 2> follower.err &
follower=$!
trap 'kill -CONT "$follower" 2>/dev/null || true; stop_jobs; rm -rf "$WORK"' EXIT
for ((i = 0; i < 100; i++)); do
  [[ $("$TANDEM" status -c tandem.yaml --json 2>/dev/null | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["phase"])') == dual-write ]] && break
  sleep 0.1
done
expect_exit 0 verify -c tandem.yaml
expect_exit 0 switch reads -c tandem.yaml

# The follower cannot poll (stopped): switch writes aborts after the probe time-out.
kill -STOP "$follower"
expect_exit 3 switch writes -c tandem.yaml --probe-timeout 2
grep -q "did not run the reverse stream within 2 s" "$WORK/err" || fail "probe time-out message: $(cat "$WORK/err")"
[[ ! -e pointer ]] || fail "the writes hook ran although the probe failed"
kill -CONT "$follower"
timeout 8 sqlite3 -cmd ".timeout 5000" old.db "UPDATE customer SET status = status WHERE id = 1" || fail "old stays frozen after the aborted switch"
pass "switch writes waits for the follower's reverse poll and aborts when it does not come"

expect_exit 0 switch writes -c tandem.yaml
[[ $(cat pointer) == new ]] || fail "writes hook did not move writes to new"
# The application on new: new's `active` is a plain column; old computes its own.
sqlite3 -cmd ".timeout 5000" new.db "BEGIN; INSERT INTO customer (id, status, active) VALUES (201, 'on', 1);
  UPDATE customer SET status = 'off', active = 0 WHERE id = 1;
  INSERT INTO customer (id, status, active) VALUES (202, 'maybe', 0); COMMIT;"
for ((i = 0; i < 100; i++)); do
  [[ $(sqlite3 -cmd ".timeout 5000" old.db "SELECT count(*) FROM customer WHERE id = 201") == 1 ]] && break
  sleep 0.1
done
[[ $(sqlite3 -cmd ".timeout 5000" old.db "SELECT status, active FROM customer WHERE id IN (1, 201) ORDER BY id" | tr '\n' ' ') == "off|0 on|1 " ]] ||
  fail "the reverse stream did not land rows with old's generated column: $(sqlite3 old.db "SELECT * FROM customer WHERE id IN (1, 201)")"
kill -0 "$follower" 2>/dev/null || fail "the follower stopped: $(tail -3 follower.err)"
pass "a generated column on old is computed by old; the reverse stream does not write it"
expect_exit 1 rejects -c tandem.yaml
grep -q "key (202): old refused the row" "$WORK/out" || fail "the row old refuses is not a reject: $(cat "$WORK/out")"
[[ $(sqlite3 -cmd ".timeout 5000" old.db "SELECT count(*) FROM customer WHERE id = 202") == 0 ]] || fail "row 202 landed on old"
pass "a row old refuses (CHECK) is a reject in the reverse stream; the follower goes on"

# A follower that stops on an error is shown as stopped, with the error.
sqlite3 -cmd ".timeout 5000" new.db "DROP TABLE _tandem_changes"
for ((i = 0; i < 100; i++)); do kill -0 "$follower" 2>/dev/null || break; sleep 0.1; done
kill -0 "$follower" 2>/dev/null && fail "the follower did not stop when new's change table went away"
wait "$follower" || true
expect_exit 0 status -c tandem.yaml
grep -q "FOLLOWER STOPPED at .* with an error: " "$WORK/out" || fail "status does not show the stopped follower: $(cat "$WORK/out")"
pass "status shows a follower that stopped with its error"
