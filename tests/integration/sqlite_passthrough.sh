#!/usr/bin/env bash
# SQLite -> SQLite pass-through (issue 9): a table whose mapping is the identity and whose
# columns store values alike (the same affinity) is copied inside SQLite, the target
# attaching the source file read-only and running INSERT ... SELECT per chunk; every value
# keeps its storage class (an untyped column's integers and reals too, which the decoded
# path would cast to bytes). A renamed column takes the decoded path; a chunk the target
# refuses (a unique index, a check) is copied again decoded, which keeps the refused rows as
# rejects; the application's writes to the source are never blocked by a chunk; a kill -9
# during the copy resumes. The oracle: sqlite3's own typed exports (.mode quote), sorted.
. "$TANDEM_REPO/tests/lib/common.sh"
. "$TANDEM_REPO/tests/lib/passthrough.sh"

src=$WORK/src.db
dst=$WORK/dst.db
sqlite3 -batch "$src" <<'SQL'
-- Values of every storage class in every declared type, as an application's loose typing
-- leaves them: text in an INTEGER column, a blob in a DATE one, invalid UTF-8, a NUL.
CREATE TABLE every (id BIGINT PRIMARY KEY, n INTEGER, r REAL, d DATE, ts TIMESTAMP,
                    amount NUMERIC(12,2), t TEXT, v VARCHAR(8), b BLOB, anything);
WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 3000)
INSERT INTO every SELECT i, i * 7, i / 3.0, date('2024-01-01', '+' || (i % 400) || ' days'),
  '2024-03-31 02:' || printf('%02d', i % 60) || ':00', i / 8.0, 'ü 😀 ' || i, 'v' || (i % 100),
  randomblob(i % 9), CASE i % 4 WHEN 0 THEN i WHEN 1 THEN 'x' || i WHEN 2 THEN i / 2.0 END
FROM s;
UPDATE every SET n = 'twelve', d = x'0102', amount = 'n/a', v = 'far longer than eight'
  WHERE id = 17;
UPDATE every SET t = CAST(x'c328ff' AS TEXT), r = 1e308, ts = 0 WHERE id = 18;
UPDATE every SET t = 'nul' || char(0) || 'inside', n = 9223372036854775807 WHERE id = 19;
-- The target refuses some of these rows: a unique index on email (id % 100 = 50 repeats the
-- email of id - 1, in the same chunk) and a check on amount (id % 300 = 7 is negative).
CREATE TABLE guarded (id INTEGER PRIMARY KEY, email TEXT NOT NULL, amount INT NOT NULL);
WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 1000)
INSERT INTO guarded SELECT i, 'u' || CASE WHEN i % 100 = 50 THEN i - 1 ELSE i END,
                              CASE WHEN i % 300 = 7 THEN -i ELSE i END FROM s;
-- Not eligible: the mapping renames a column.
CREATE TABLE renamed (id INTEGER PRIMARY KEY, note TEXT);
WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 700)
INSERT INTO renamed SELECT i, 'note ' || i FROM s;
-- A history table without a key, duplicates included.
CREATE TABLE history (at TEXT, what TEXT);
WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 500)
INSERT INTO history SELECT '2024-01-' || (10 + i % 3), 'event ' || (i % 7) FROM s;
SQL
sqlite3 -batch "$dst" <<'SQL'
CREATE TABLE guarded (id INTEGER PRIMARY KEY, email TEXT NOT NULL,
                      amount INT NOT NULL CONSTRAINT amount_nonneg CHECK (amount >= 0));
CREATE UNIQUE INDEX guarded_email ON guarded (email);
SQL

expect_exit 0 init --source "sqlite:$src" --target "sqlite:$dst" -o draft.yaml
with_small_chunks draft.yaml pt.yaml
rename_column pt.yaml renamed note remark

expect_exit 1 copy -c pt.yaml
for t in every guarded history; do
  path_of "$t" | grep -q '"path":"pass-through".*INSERT ... SELECT' || fail "$t: $(path_of "$t")"
done
path_of renamed | grep -q '"path":"decoded".*renamed to remark' || fail "renamed: $(path_of renamed)"
pass "pass-through inside SQLite for the identity tables (the keyless one too), decoded for a renamed column"

# Every chunk of guarded holds a refused row: each fell back, none of every's did.
fallbacks=$(grep -c '"event":"pass_through_fallback"' err || true)
((fallbacks == 4)) || fail "$fallbacks fallbacks, expected the 4 chunks of guarded: $(grep fallback err)"
grep '"event":"pass_through_fallback"' err | grep -v '"table":"guarded"' && fail "a chunk of another table fell back"
[[ $(grep '"event":"pass_through_fallback"' err | grep -c 'constraint failed') == 4 ]] ||
  fail "a fallback without SQLite's words: $(grep fallback err)"
grep -q "copied $((3000 + 1000 + 700 + 500)) rows" out || fail "copy: $(cat out)"
grep -q "; 14 rejected" out || fail "rejects: $(cat out)"
pass "the 4 refused chunks fell back to the decoded path: 14 rejected"

for t in every history; do
  sqlite_dump "$src" "$t" > "src.$t"
  sqlite_dump "$dst" "$t" > "dst.$t"
  [[ -s src.$t ]] || fail "no rows exported from $t"
  cmp -s "src.$t" "dst.$t" || { diff "src.$t" "dst.$t" | head -5; fail "$t: target differs from source"; }
done
sqlite3 -batch "$src" ".mode quote" "SELECT id, note FROM renamed" | LC_ALL=C sort > src.renamed
sqlite3 -batch "$dst" ".mode quote" "SELECT id, remark FROM renamed" | LC_ALL=C sort > dst.renamed
cmp -s src.renamed dst.renamed || fail "renamed: target differs from source"
sqlite3 -batch "$src" ".mode quote" "SELECT * FROM guarded WHERE NOT (id % 100 = 50 OR id % 300 = 7)" |
  LC_ALL=C sort > src.guarded
sqlite_dump "$dst" guarded > dst.guarded
[[ $(wc -l < src.guarded) == 986 ]] || fail "oracle: $(wc -l < src.guarded) rows expected in guarded"
cmp -s src.guarded dst.guarded || fail "guarded: target is not the source minus the refused rows"
# The loose values kept their storage class, typeof() and all.
for q in "SELECT typeof(n), typeof(d), typeof(amount), quote(t) FROM every WHERE id IN (17, 18, 19)" \
         "SELECT typeof(anything), count(*) FROM every GROUP BY 1"; do
  [[ $(sqlite3 "$src" "$q") == "$(sqlite3 "$dst" "$q")" ]] || fail "storage classes differ: $q"
done
pass "targets equal the sources value for value, storage class included (guarded: less its 14 refused rows)"

expect_exit 1 rejects -c pt.yaml --table guarded
grep -q "^14 reject(s) shown" out || fail "rejects: $(tail -3 out)"
[[ $(grep -c 'guarded key (.*UNIQUE constraint failed' out) == 10 ]] ||
  fail "duplicate rejects: $(grep 'guarded key' out | head -3)"
[[ $(grep -c 'guarded key (.*CHECK constraint failed' out) == 4 ]] || fail "check rejects: $(grep 'guarded key' out | head -3)"
pass "the 14 rejects name their keys and SQLite's words"

# ---- the application writes the source all through a copy; then kill -9 and resume ------
sqlite3 -batch "$src" <<'SQL'
CREATE TABLE big (id BIGINT PRIMARY KEY, owner TEXT NOT NULL, n NUMERIC(12,2), at TIMESTAMP, body TEXT);
WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 400000)
INSERT INTO big SELECT i, 'owner ' || (i % 977), i / 7.0, datetime(1700000000 + i, 'unixepoch'),
                       printf('%.*c', 40 + i % 60, 'b') FROM s;
CREATE TABLE app_log (id INTEGER PRIMARY KEY, at TEXT);
SQL
expect_exit 0 init --source "sqlite:$src" --target "sqlite:$WORK/dst2.db" -o draft2.yaml
# Only big, in chunks of 50,000 rows: every other table is left behind on purpose.
only_table draft2.yaml big 50000 > big.yaml
# The application: one autocommit insert after another with a busy timeout of 20 ms, which
# rides out SQLite's momentary locks (another connection opening the file, a checkpoint) but
# not a lock held for a chunk (50,000 rows: a tenth of a second or more), so a write that
# had to wait for a chunk fails (and is counted).
app_writer() {
  local i=0 failed=0
  while [[ ! -e stop_app ]]; do
    i=$((i + 1))
    sqlite3 -batch -cmd ".timeout 20" "$src" "INSERT INTO app_log (at) VALUES ('write $i')" \
      2>> app.err || failed=$((failed + 1))
  done
  echo "$i $failed" > app.result
}
app_writer &
app=$!
kill_copy_after 3 big.yaml
grep -q '"path":"pass-through","table":"big"' kill.err || fail "big: $(grep copy_path kill.err)"
done_before=$(sqlite3 "$WORK/dst2.db" "SELECT count(*) FROM big")
((done_before > 0 && done_before < 400000)) || fail "killed copy left $done_before rows"
expect_exit 0 copy -c big.yaml
touch stop_app
wait "$app"
read -r writes failed < app.result
grep -q '"event":"resume"' err || fail "the second copy did not resume: $(head -3 err)"
grep -q "copied 400000 rows" out || fail "resume: $(cat out)"
((writes > 20)) || fail "the application wrote only $writes times during the copies"
((failed == 0)) || fail "$failed of the application's $writes writes failed: $(sort app.err | uniq -c | head -3)"
sqlite_dump "$src" big > src.big
sqlite_dump "$WORK/dst2.db" big > dst.big
cmp -s src.big dst.big || { diff src.big dst.big | head -5; fail "big: target differs from source after the resume"; }
pass "kill -9 during a pass-through copy ($done_before rows in) resumed to an exact target; the application's $writes writes to the source never waited"
