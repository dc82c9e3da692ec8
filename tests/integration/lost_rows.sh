#!/usr/bin/env bash
# Rows that used to be lost while tandem reported success (issue 11, items 1-3):
#  1. a key cast that changes the order (TEXT '1'..'100' -> bigint) with small chunks;
#  2. a nullable column used as the key (PostgreSQL UNIQUE with NULLs) is refused by check;
#  3. `tandem copy` under a running migration is refused (it overwrote the application's writes).
. "$TANDEM_REPO/tests/lib/common.sh"
. "$TANDEM_REPO/tests/lib/oracle.sh"
. "$TANDEM_REPO/tests/lib/matrix.sh"

# 1. TEXT keys cast to bigint: chunks planned in text order, target ranges in number order.
sqlite3 cast.db "CREATE TABLE t (k TEXT PRIMARY KEY NOT NULL, v TEXT);
  WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100)
  INSERT INTO t SELECT CAST(i AS TEXT), 'v' || i FROM n;"
cat > cast.yaml <<'YAML'
source: sqlite:cast.db
target: sqlite:cast_new.db
options: {chunk_rows: 10, batch_rows: 7}
tables:
  - source: t
    columns:
      k: {to: k, type: bigint}
      v: {to: v, type: text}
YAML
expect_exit 0 check -c cast.yaml
grep -q "cast from text to integer, which orders keys differently" out || fail "check does not say why t is one range: $(cat out)"
expect_exit 0 start -c cast.yaml --until-synced
got=$(sqlite3 cast_new.db "SELECT count(*), sum(k) FROM t")
[[ $got == "100|5050" ]] || fail "order-changing key cast: target holds $got rows|sum, expected 100|5050"
diff <(sqlite3 cast.db "SELECT CAST(k AS INTEGER), v FROM t" | sort) <(sqlite3 cast_new.db "SELECT k, v FROM t" | sort) ||
  fail "order-changing key cast: rows differ"
expect_exit 0 verify -c cast.yaml
pass "a key cast that changes the order copies every row (one range)"

# 2. A nullable UNIQUE column as the key.
create_db postgres nullkey
pg_cli "$(db_uri postgres nullkey)" -c "CREATE TABLE u (code text UNIQUE, v int);
  INSERT INTO u SELECT CASE WHEN i % 6 = 0 THEN NULL ELSE 'c' || i END, i FROM generate_series(1, 100) i;"
cat > nullkey.yaml <<YAML
source: $(tandem_uri postgres nullkey)
target: sqlite:nullkey_new.db
tables:
  - source: u
    key: [code]
    columns:
      code: {to: code, type: text}
      v: {to: v, type: integer}
YAML
expect_exit 2 check -c nullkey.yaml
grep -q "key column u.code is nullable" err || fail "nullable key message: $(cat err)"
expect_exit 2 start -c nullkey.yaml --until-synced
[[ ! -e nullkey_new.db ]] || [[ $(sqlite3 nullkey_new.db "select count(*) from sqlite_master where name = 'u'") == 0 ]] ||
  fail "a refused mapping still created the target table"
pass "a nullable key column is refused by check and start, naming table and column"

# 3. `tandem copy` while a migration runs (and after capture was installed).
sqlite3 app.db "CREATE TABLE a (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO a VALUES (1, 'one'), (2, 'two');"
cat > app.yaml <<'YAML'
source: sqlite:app.db
target: sqlite:app_new.db
hooks:
  writes: "true"
tables:
  - source: a
    columns:
      id: {to: id, type: bigint}
      v: {to: v, type: text}
YAML
expect_exit 0 start -c app.yaml --until-synced
expect_exit 3 copy -c app.yaml
grep -q "a migration is under way here (phase dual-write" err || fail "copy during dual-write: $(cat err)"
expect_exit 0 verify -c app.yaml
expect_exit 0 switch reads -c app.yaml
expect_exit 0 switch writes -c app.yaml
# The application now writes to new.
sqlite3 app_new.db "UPDATE a SET v = 'changed on new' WHERE id = 1; INSERT INTO a VALUES (3, 'three');"
expect_exit 3 copy -c app.yaml
grep -q "phase write-new" err || fail "copy during write-new: $(cat err)"
[[ $(sqlite3 app_new.db "SELECT v FROM a WHERE id = 1")/$(sqlite3 app_new.db "SELECT count(*) FROM a") == "changed on new/3" ]] ||
  fail "the application's writes on new were touched by a refused copy"
"$TANDEM" start -c app.yaml >/dev/null 2>&1 &
follower=$!
sleep 1
expect_exit 3 copy -c app.yaml
grep -q "is following this migration" err || fail "copy while a follower runs: $(cat err)"
kill $follower; wait $follower || true
pass "tandem copy refuses under a running migration and while a follower runs"

# A resume with an edited key or table is refused with the reason (the setup recorded at start).
sqlite3 keyed.db "CREATE TABLE k (a INTEGER NOT NULL, b INTEGER NOT NULL, v TEXT, PRIMARY KEY (a, b));
  INSERT INTO k VALUES (1, 1, 'x'), (1, 2, 'y'), (2, 1, 'z');"
cat > keyed.yaml <<'YAML'
source: sqlite:keyed.db
target: sqlite:keyed_new.db
tables:
  - source: k
    columns:
      a: {to: a, type: bigint}
      b: {to: b, type: bigint}
      v: {to: v, type: text}
YAML
expect_exit 0 start -c keyed.yaml --until-synced
sed -i 's/  - source: k$/  - source: k\n    key: [b, a]/' keyed.yaml
expect_exit 3 start -c keyed.yaml --until-synced
grep -q 'table k now has key \["b","a"\] (it was \["a","b"\])' err || fail "an edited key on resume: $(cat err)"
expect_exit 3 verify -c keyed.yaml
grep -q "no longer matches the migration in progress" err || fail "verify with an edited key: $(cat err)"
pass "a resume with an edited key is refused, naming the table and both keys"

# status with a server down shows what the state store knows (it used to exit 3 with nothing).
create_db postgres down
pg_cli "$(db_uri postgres down)" -c "CREATE TABLE d (id int PRIMARY KEY, v text); INSERT INTO d VALUES (1, 'a');" >/dev/null
cat > down.yaml <<YAML
source: $(tandem_uri postgres down)
target: sqlite:down_new.db
tables:
  - source: d
    columns:
      id: {to: id, type: bigint}
      v: {to: v, type: text}
YAML
expect_exit 0 start -c down.yaml --until-synced
sed -i "s#^source: .*#source: postgres://nobody@127.0.0.1:1/none#" down.yaml
# The mapping now points at a port where nothing listens: status still reports the phase.
expect_exit 1 status -c down.yaml
grep -q "phase: dual-write" out || fail "status without the source: $(cat out)"
grep -q "databases not reachable" out || fail "status does not say the source is unreachable: $(cat out)"
expect_exit 1 status -c down.yaml --json
grep -q '"unreachable"' out || fail "status --json without the source: $(cat out)"
pass "status with the source down shows the phase and what the state store knows (exit 1)"

# A kill while capture is being installed: the resumed start installs it again (a table
# whose triggers were never created would otherwise lose every change).
sqlite3 inst.db "CREATE TABLE a (id INTEGER PRIMARY KEY, v TEXT); CREATE TABLE b (id INTEGER PRIMARY KEY, v TEXT);
  INSERT INTO a VALUES (1, 'a1'); INSERT INTO b VALUES (1, 'b1');"
cat > inst.yaml <<'YAML'
source: sqlite:inst.db
target: sqlite:inst_new.db
tables:
  - source: a
    columns: {id: {to: id, type: bigint}, v: {to: v, type: text}}
  - source: b
    columns: {id: {to: id, type: bigint}, v: {to: v, type: text}}
YAML
set +e
TANDEM_CRASH_AT=start:installing "$TANDEM" start -c inst.yaml --until-synced > /dev/null 2>&1
rc=$?
set -e
[[ $rc == 137 ]] || fail "start with a crash while installing exited $rc"
expect_exit 0 start -c inst.yaml --until-synced
sqlite3 inst.db "UPDATE a SET v = 'a2'; UPDATE b SET v = 'b2';"
expect_exit 0 start -c inst.yaml --until-synced
[[ $(sqlite3 inst_new.db "SELECT (SELECT v FROM a) || (SELECT v FROM b)") == a2b2 ]] ||
  fail "changes after a kill during the capture install were lost: $(sqlite3 inst_new.db "SELECT * FROM a; SELECT * FROM b")"
pass "a kill during the capture install: the resumed start installs it, no change lost"
