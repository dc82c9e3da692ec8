#!/usr/bin/env bash
# A unique index that the data violates (issue 8, item 3), on PostgreSQL and MariaDB targets:
# `tandem start` reports it with the table, the index, the server's words and the colliding
# keys; every other object of the table (an index, a foreign key, a check) is still built;
# `tandem status` lists it (state key schema.failed); `switch reads` refuses until the data is
# fixed and `tandem start` builds it, then goes ahead.
. "$TANDEM_REPO/tests/lib/common.sh"
. "$TANDEM_REPO/tests/lib/oracle.sh"
MATRIX_PREFIX=sf
. "$TANDEM_REPO/tests/lib/matrix.sh"

pair() {
  local tgt=$1 src db follower got
  src="$WORK/$tgt.d/old.db"
  db=$(db_uri "$tgt" new)
  sqlite3 "$src" "PRAGMA journal_mode = WAL;
    CREATE TABLE region (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
    CREATE TABLE customer (id INTEGER PRIMARY KEY, email VARCHAR(100) NOT NULL,
      region_id INTEGER NOT NULL REFERENCES region (id), code INTEGER NOT NULL,
      qty INTEGER NOT NULL CHECK (qty > 0));
    CREATE INDEX ix_email ON customer (email);
    INSERT INTO region VALUES (1, 'eu'), (2, 'us');
    INSERT INTO customer VALUES (1, 'a@x', 1, 10, 1), (2, 'b@x', 1, 10, 2), (3, 'c@x', 2, 10, 3),
                                (4, 'd@x', 2, 11, 1), (5, 'e@x', 2, 11, 1);" > /dev/null
  expect_exit 0 init --source "sqlite:$src" --target "$(tandem_uri "$tgt" new)" -o tandem.yaml
  # The application's unique rule, which the source never enforced: the data breaks it twice.
  "$PYTHON" - tandem.yaml <<'PY'
import sys
p = sys.argv[1]
s = open(p).read()
s = s.replace("      - {name: ix_email, columns: [email]}\n",
              "      - {name: ix_email, columns: [email]}\n"
              "      - {name: ux_region_code, columns: [region_id, code], unique: true}\n")
open(p, "w").write(s)
PY
  grep -q "ux_region_code" tandem.yaml || fail "$tgt: could not add the unique index to the mapping"
  "$TANDEM" start -c tandem.yaml > follower.out 2> follower.err &
  follower=$!
  trap 'kill "${follower:-}" 2>/dev/null || true' EXIT
  for ((i = 0; i < 200; i++)); do
    [[ $("$TANDEM" status -c tandem.yaml --json 2>/dev/null | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["phase"])' 2>/dev/null) == dual-write ]] && break
    sleep 0.1
  done
  expect_exit 0 status -c tandem.yaml --json
  "$PYTHON" - "$WORK/out" "$tgt" <<'PY' || fail "$tgt: status --json does not list the failed index: $(cat "$WORK/out")"
import json, sys
j = json.load(open(sys.argv[1]))
f = j.get("schema_failed", [])
assert len(f) == 1, f
f = f[0]
assert f["table"] == "customer" and f["object"] == "ux_region_code" and f["kind"] == "unique index", f
e = f["error"]
# The colliding keys with how many rows hold each: (1, 10) twice, (2, 11) twice.
assert "(1, 10) x2" in e and "(2, 11) x2" in e, e
assert "customer" in e and "ux_region_code" in e, e
PY
  expect_exit 0 status -c tandem.yaml
  grep -q "SCHEMA OBJECTS NOT BUILT" "$WORK/out" && grep -q "unique index ux_region_code on customer" "$WORK/out" ||
    fail "$tgt: status does not show the failed index: $(cat "$WORK/out")"
  pass "$tgt: the unique index the data violates is reported with its colliding keys (status, status --json)"

  # Every other object is there (the target's own catalog).
  case $tgt in
    postgres)
      got=$(pg_cli "$db" -At -c "SELECT string_agg(c, ' ' ORDER BY c) FROM (
             SELECT indexrelid::regclass::text c FROM pg_index WHERE indrelid = 'customer'::regclass AND NOT indisprimary
             UNION ALL SELECT conname || ':' || contype::text || ':' || convalidated::text FROM pg_constraint
             WHERE conrelid = 'customer'::regclass AND contype IN ('f', 'c')) x")
      [[ $got == "customer_check:c:true customer_region_id_fkey:f:true ix_email" ]] ||
        fail "$tgt: objects on customer: $got" ;;
    mysql)
      got=$(mysql_cli "$db" -e "SELECT GROUP_CONCAT(n ORDER BY n SEPARATOR ' ') FROM (
             SELECT DISTINCT INDEX_NAME n FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE()
               AND TABLE_NAME = 'customer' AND INDEX_NAME NOT IN ('PRIMARY')
             UNION SELECT CONCAT(CONSTRAINT_NAME, ':', CONSTRAINT_TYPE) FROM information_schema.TABLE_CONSTRAINTS
             WHERE CONSTRAINT_SCHEMA = DATABASE() AND TABLE_NAME = 'customer'
               AND CONSTRAINT_TYPE IN ('FOREIGN KEY', 'CHECK')) x")
      [[ $got == "customer_check:CHECK customer_region_id_fkey customer_region_id_fkey:FOREIGN KEY ix_email" ]] ||
        fail "$tgt: objects on customer: $got" ;;
  esac
  pass "$tgt: the other objects (index, foreign key, check) are built"

  expect_exit 0 verify -c tandem.yaml
  expect_exit 3 switch reads -c tandem.yaml
  grep -q "ux_region_code on customer" "$WORK/err" || fail "$tgt: switch reads does not name the index: $(cat "$WORK/err")"
  pass "$tgt: switch reads refuses while the unique index is missing"

  # The fix: the data obeys the rule; `tandem start` again builds what failed.
  sqlite3 -cmd ".timeout 5000" "$src" "UPDATE customer SET code = 12 WHERE id = 2; UPDATE customer SET code = 13 WHERE id = 5;"
  local q="SELECT count(*) FROM customer WHERE code IN (12, 13)"
  for ((i = 0; i < 200; i++)); do
    case $tgt in
      postgres) [[ $(pg_cli "$db" -At -c "$q") == 2 ]] && break ;;
      mysql) [[ $(mysql_cli "$db" -e "$q") == 2 ]] && break ;;
    esac
    sleep 0.1
  done
  kill "$follower"; wait "$follower" 2>/dev/null || true
  "$TANDEM" start -c tandem.yaml > follower.out 2> follower.err &
  follower=$!
  for ((i = 0; i < 200; i++)); do
    "$TANDEM" status -c tandem.yaml --json 2>/dev/null | "$PYTHON" -c 'import json,sys; sys.exit(0 if "schema_failed" not in json.load(sys.stdin) else 1)' 2>/dev/null && break
    sleep 0.1
  done
  expect_exit 0 verify -c tandem.yaml
  expect_exit 0 switch reads -c tandem.yaml
  kill "$follower"; wait "$follower" 2>/dev/null || true
  pass "$tgt: after the fix, start builds the index and switch reads goes ahead"
}

for tgt in postgres mysql; do
  create_db "$tgt" new
  isolate "$tgt" pair "$tgt"
done
[[ ${#FAILED[@]} == 0 ]] || fail "targets that failed: ${FAILED[*]}"
pass "a unique index the data violates is reported, the rest is built, switch reads waits"
