#!/usr/bin/env bash
# Rejects you can read, export and retry. A copy SQLite -> PostgreSQL rejects four rows (two
# names too long, a text quantity, a name with a comma, quotes and a newline); `rejects show`
# prints one whole, `export --csv` writes all four with proper quoting (read back by Python's
# csv module), then the source changes (a rejected row is deleted, another edited) and the
# mapping is fixed; `rejects retry` lands the current rows, removes the deleted one's reject,
# and the invariant holds. The oracle: sqlite3 and psql exports of the mapped rows, sorted,
# equal. Then under a running `tandem start` (SQLite -> SQLite), retry is refused while the
# follower runs and works once it is stopped, and the next start keeps the rows equal.
. "$TANDEM_REPO/tests/lib/common.sh"
. "$TANDEM_REPO/tests/lib/oracle.sh"
. "$TANDEM_REPO/tests/lib/matrix.sh"

sqlite3 old.db <<'SQL'
CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, qty TEXT);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 50)
INSERT INTO items SELECT i, 'item ' || i, CAST(i AS TEXT) FROM n;
UPDATE items SET name = 'a name far too long' WHERE id IN (5, 6);
UPDATE items SET qty = 'lots' WHERE id = 7;
UPDATE items SET name = 'x,"y"' || char(10) || 'z, and more' WHERE id = 9;
SQL
create_db postgres new
mapping() {  # mapping NAME_TYPE QTY_EXTRA
  cat <<YAML
source: sqlite:old.db
target: $(tandem_uri postgres new)
tables:
  - source: items
    target: item
    columns:
      id:   {to: id, type: bigint}
      name: {to: name, type: $1}
      qty:  {to: qty, type: integer$2}
YAML
}
mapping "varchar(10)" "" > tandem.yaml
expect_exit 1 copy -c tandem.yaml
expect_exit 1 rejects -c tandem.yaml
[[ $(grep -c "^items key" out) == 4 ]] || fail "expected 4 rejects: $(cat out)"
grep -q "^items key (5): name: .*\[too_long; cast to varchar(10)\]" out || fail "list should give kind and rule: $(cat out)"
expect_exit 1 rejects list -c tandem.yaml --table items --limit 2
[[ $(grep -c "^items key" out) == 2 ]] || fail "--limit 2 should list 2"

expect_exit 0 rejects show 7 -c tandem.yaml
grep -q "kind:   type_mismatch" out && grep -q "rule:   cast to integer" out &&
  grep -qE "^    qty +lots$" out && grep -qE "^    name +item 7$" out || fail "show 7: $(cat out)"
expect_exit 2 rejects show 8 -c tandem.yaml
grep -q "no reject with key 8" err || fail "show of a key without reject: $(cat err)"

expect_exit 1 rejects export --csv rejects.csv -c tandem.yaml
"$PYTHON" - <<'PY' || fail "CSV export"
import csv, json
rows = list(csv.DictReader(open("rejects.csv", newline="")))
assert [r["key"] for r in rows] == ["[5]", "[6]", "[7]", "[9]"], [r["key"] for r in rows]
assert {r["kind"] for r in rows} == {"too_long", "type_mismatch"}, rows
nine = [r for r in rows if r["key"] == "[9]"][0]
assert json.loads(nine["row"])["name"] == 'x,"y"\nz, and more', nine["row"]
assert all(r["table"] == "items" and r["rule"] and r["reason"] for r in rows), rows
PY

# The source moves on; the mapping is fixed.
sqlite3 old.db "DELETE FROM items WHERE id = 6; UPDATE items SET name = 'edited after the reject' WHERE id = 5;"
mapping "varchar(40)" ", map: {lots: '100'}, on_unmapped: keep" > tandem.yaml
# The target table exists already: its column is widened by hand, as a user would.
pg_cli "$(db_uri postgres new)" -c "ALTER TABLE item ALTER COLUMN name TYPE varchar(40)"
expect_exit 0 rejects retry -c tandem.yaml
grep -q "items: 4 rejected key(s) retried: 3 landed, 1 gone from the source, 0 still rejected" out ||
  fail "retry summary: $(cat out)"
grep -qE "^items -> item +49 +49 +0  ok" out || fail "invariant after retry: $(cat out)"
expect_exit 0 rejects -c tandem.yaml
a=$(sqlite3 -batch old.db "SELECT id, name, CASE qty WHEN 'lots' THEN 100 ELSE qty END FROM items" | LC_ALL=C sort)
b=$(pg_cli "$(db_uri postgres new)" -At -F '|' -c "SELECT id, name, qty FROM item" | LC_ALL=C sort)
[[ "$a" == "$b" ]] || fail "target differs from the source after retry: $(diff <(echo "$a") <(echo "$b"))"
expect_exit 0 status -c tandem.yaml
grep -q "source 49 = target 49 + rejected 0: ok" out || fail "status invariant: $(cat out)"
pass "copy -> rejects list/show/export -> fix the mapping -> retry: invariant holds, target = oracle"

# Under a migration: refused while the follower runs, then done with it stopped.
mkdir mig && cd mig
sqlite3 old.db "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
  INSERT INTO items VALUES (1, 'short'), (2, 'much too long a name'), (3, 'ok');"
printf 'source: sqlite:old.db\ntarget: sqlite:new.db\ntables:\n  - source: items\n    target: items\n    columns:\n      id: {to: id, type: bigint}\n      name: {to: name, type: %s}\n' "varchar(8)" > tandem.yaml
"$TANDEM" start -c tandem.yaml > follower.out 2> follower.log &
follower=$!
for _ in $(seq 100); do grep -q "phase dual-write" follower.out && break; sleep 0.1; done
grep -q "phase dual-write" follower.out || fail "follower did not finish the backfill: $(cat follower.log)"
printf 'source: sqlite:old.db\ntarget: sqlite:new.db\ntables:\n  - source: items\n    target: items\n    columns:\n      id: {to: id, type: bigint}\n      name: {to: name, type: %s}\n' "varchar(40)" > tandem.yaml
expect_exit 3 rejects retry -c tandem.yaml
grep -q "is following this migration" "$WORK/err" || fail "retry beside the follower should be refused: $(cat "$WORK/err")"
kill "$follower"; wait "$follower" || true
sqlite3 old.db "INSERT INTO items VALUES (4, 'written while stopped')"
expect_exit 0 rejects retry -c tandem.yaml
grep -q "1 landed" "$WORK/out" || fail "retry after stopping the follower: $(cat "$WORK/out")"
expect_exit 0 start -c tandem.yaml --until-synced
[[ "$(sqlite_dump old.db items)" == "$(sqlite_dump new.db items)" ]] || fail "old and new differ after retry and start"
pass "retry is refused beside a running follower and safe once it is stopped"
