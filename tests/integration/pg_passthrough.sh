#!/usr/bin/env bash
# PostgreSQL -> PostgreSQL pass-through (issue 9): a table whose mapping is the identity and
# whose columns are declared alike on both sides goes through as binary COPY, undecoded; a
# renamed column or a type declared differently takes the decoded path; a chunk the target
# refuses (an existing unique index, a check) is copied again decoded, which keeps the
# refused rows as rejects, so that source = target + rejected; a kill -9 during a
# pass-through copy resumes. The oracle: psql exports of source and target, sorted, compared.
. "$TANDEM_REPO/tests/lib/common.sh"
. "$TANDEM_REPO/tests/lib/oracle.sh"
MATRIX_PREFIX=pt
. "$TANDEM_REPO/tests/lib/matrix.sh"
. "$TANDEM_REPO/tests/lib/passthrough.sh"

create_db postgres src > /dev/null
create_db postgres dst > /dev/null
src=$(db_uri postgres src)
dst=$(db_uri postgres dst)

# The application's schema, on both sides (an enum, a domain, a generated column: tandem
# would create the target's columns from portable types, so the target has them already).
every_ddl="CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE DOMAIN price AS numeric(10,2) CHECK (VALUE >= 0);
CREATE TABLE every (
  id bigint PRIMARY KEY, b boolean, i2 smallint, i4 integer, n numeric, n2 numeric(12,3),
  f4 real, f8 double precision, t text, vc varchar(20), ch char(3), by bytea, d date,
  ts timestamp, tz timestamptz, tm time, iv interval, j json, jb jsonb, u uuid,
  ia integer[], ta text[], m mood, p price, ip inet, r int4range,
  created timestamptz NOT NULL DEFAULT now(),
  twice bigint GENERATED ALWAYS AS (id * 2) STORED);"
pg_cli "$src" > /dev/null <<<"$every_ddl"
pg_cli "$dst" > /dev/null <<<"$every_ddl"
pg_cli "$src" > /dev/null <<'SQL'
INSERT INTO every (id, b, i2, i4, n, n2, f4, f8, t, vc, ch, by, d, ts, tz, tm, iv, j, jb, u,
                   ia, ta, m, p, ip, r) VALUES
  (1, true, -32768, 2147483647, 12345678901234567890.123456789, -0.001, 1.5, 'NaN',
   E'ü 😀 \t\\ "q"\nnext line', 'v1', 'ab', '\x00ff', '0044-03-15 BC', 'infinity',
   '2016-07-04 10:00:00.123456+02', '24:00:00', '1 day 02:03:04.5', '{"a": 15.0, "a": 1}',
   '{"b": 1, "a": [1.50, null]}', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{1,NULL,3}',
   '{"x y",NULL,""}', 'happy', 3.50, '10.0.0.1/8', '[1,10)'),
  (2, false, 0, 0, 'NaN', 0, '-0', '-Infinity', '', '', '', '\x', '9999-12-31', '-infinity',
   '-infinity', '00:00', '-1 mons', '[]', '{}', NULL, '{}', '{}', 'sad', 0, '::1', 'empty'),
  (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
   NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
INSERT INTO every (id, t, n, by, m, tz, ia)
  SELECT i, repeat('é', i % 40) || i, i * 1.25, decode(md5(i::text), 'hex'),
         (ARRAY['sad','ok','happy']::mood[])[i % 3 + 1], '2020-01-01'::timestamptz + i * interval '1 min',
         ARRAY[i, -i]
  FROM generate_series(4, 3000) i;
-- The target refuses some of these rows: a unique index on email (id % 100 = 50 repeats the
-- email of id - 1, in the same chunk) and a check on amount (id % 300 = 7 is negative).
CREATE TABLE guarded (id int PRIMARY KEY, email text NOT NULL, amount int NOT NULL);
INSERT INTO guarded SELECT i, 'u' || CASE WHEN i % 100 = 50 THEN i - 1 ELSE i END,
                           CASE WHEN i % 300 = 7 THEN -i ELSE i END
  FROM generate_series(1, 1000) i;
-- Created by tandem on the target, from the declared types.
CREATE TABLE plain (id bigint PRIMARY KEY, t text NOT NULL, n numeric(12,2), tz timestamptz,
                    ia int[], j jsonb, b bytea);
INSERT INTO plain SELECT i, 'plain ' || i, i / 3.0, '2024-01-01'::timestamptz + i * interval '1 h',
                         ARRAY[i, NULL], jsonb_build_object('i', i), decode(lpad(to_hex(i), 8, '0'), 'hex')
  FROM generate_series(1, 600) i;
-- Not eligible: the mapping renames a column; the target declares a column wider.
CREATE TABLE renamed (id int PRIMARY KEY, note text);
INSERT INTO renamed SELECT i, 'note ' || i FROM generate_series(1, 700) i;
CREATE TABLE widened (id int PRIMARY KEY, v varchar(20));
INSERT INTO widened SELECT i, 'v' || i FROM generate_series(1, 700) i;
SQL
pg_cli "$dst" > /dev/null <<'SQL'
CREATE TABLE guarded (id int PRIMARY KEY, email text NOT NULL,
                      amount int NOT NULL CONSTRAINT amount_nonneg CHECK (amount >= 0));
CREATE UNIQUE INDEX guarded_email ON guarded (email);
CREATE TABLE widened (id int PRIMARY KEY, v varchar(50));
SQL

# The draft, with the passwords, small chunks, and one column renamed.
expect_exit 0 init --source "$(tandem_uri postgres src)" --target "$(tandem_uri postgres dst)" -o draft.yaml
with_small_chunks draft.yaml pt.yaml
"$PYTHON" - pt.yaml <<'PY'
import sys, yaml
p = sys.argv[1]
d = yaml.safe_load(open(p))
for t in d["tables"]:
    if t["source"] == "every":
        t["columns"]["twice"] = {"drop": "generated on the target too"}
open(p, "w").write(yaml.safe_dump(d, sort_keys=False, allow_unicode=True))
PY
rename_column pt.yaml renamed note remark

expect_exit 1 copy -c pt.yaml --jobs 2
path_of every | grep -q '"path":"pass-through"' || fail "every: $(path_of every)"
path_of guarded | grep -q '"path":"pass-through"' || fail "guarded: $(path_of guarded)"
path_of plain | grep -q '"path":"pass-through"' || fail "plain: $(path_of plain)"
path_of renamed | grep -q '"path":"decoded".*renamed to remark' || fail "renamed: $(path_of renamed)"
path_of widened | grep -q '"path":"decoded".*declared differently' || fail "widened: $(path_of widened)"
pass "pass-through chosen for the identity tables, the decoded path for a renamed column and a wider type"

# Every chunk of guarded holds a refused row: each fell back, none of every's did.
fallbacks=$(grep -c '"event":"pass_through_fallback"' err || true)
((fallbacks == 4)) || fail "$fallbacks fallbacks, expected the 4 chunks of guarded: $(grep fallback err)"
grep '"event":"pass_through_fallback"' err | grep -v '"table":"guarded"' && fail "a chunk of another table fell back"
# Each names the server's words: the first refused row of its chunk (here the check's).
[[ $(grep '"event":"pass_through_fallback"' err | grep -c 'violates .*SQLSTATE 23') == 4 ]] ||
  fail "a fallback without the server's words: $(grep fallback err)"
grep -q '"event":"table_finished","passthrough":true.*"table":"every"' err || fail "every: $(grep table_finished err)"
grep -q "copied $((3000 + 1000 + 600 + 700 + 700)) rows" out || fail "copy: $(cat out)"
grep -q "; 14 rejected" out || fail "rejects: $(cat out)"
pass "the 4 refused pass-through chunks fell back to the decoded path: 14 rejected"

export_rows() {  # export_rows URI TABLE [WHERE]: every row as psql prints it, sorted
  pg_cli "$1" -c "COPY (SELECT * FROM $2 ${3:-}) TO STDOUT" | LC_ALL=C sort
}
for t in every plain renamed widened; do
  export_rows "$src" "$t" > "src.$t"
  export_rows "$dst" "$t" > "dst.$t"
  [[ -s src.$t ]] || fail "no rows exported from $t"
  diff "src.$t" "dst.$t" > diff.txt || { head -5 diff.txt; fail "$t: target differs from source"; }
done
# every's generated column is computed on the target, not copied: the export includes it.
[[ $(pg_cli "$dst" -At -c "SELECT count(*) FROM every WHERE twice = id * 2") == 3000 ]] || fail "every.twice"
export_rows "$src" guarded "WHERE NOT (id % 100 = 50 OR id % 300 = 7)" > src.guarded
export_rows "$dst" guarded > dst.guarded
[[ $(wc -l < src.guarded) == 986 ]] || fail "oracle: $(wc -l < src.guarded) rows expected in guarded"
diff src.guarded dst.guarded > diff.txt || { head -5 diff.txt; fail "guarded: target is not the source minus the refused rows"; }
pass "targets equal the sources (guarded: less exactly its 14 refused rows)"

expect_exit 1 rejects -c pt.yaml --table guarded
grep -q "^14 reject(s) shown" out || fail "rejects: $(tail -3 out)"
[[ $(grep -c 'guarded key (.*duplicate key value violates unique constraint "guarded_email"' out) == 10 ]] ||
  fail "duplicate rejects: $(grep 'guarded key' out | head -3)"
[[ $(grep -c 'guarded key (.*amount_nonneg' out) == 4 ]] || fail "check rejects: $(grep 'guarded key' out | head -3)"
for id in 50 150 950 7 307 907; do
  grep -q "^guarded key ($id)" out || fail "reject of id $id missing"
done
pass "the 14 rejects name their keys and the target's words"

# ---- kill -9 during a pass-through copy, then resume ------------------------------------
pg_cli "$src" > /dev/null <<'SQL'
CREATE TABLE big (id bigint PRIMARY KEY, owner text NOT NULL, n numeric(12,2), at timestamptz, tags text[]);
INSERT INTO big SELECT i, 'owner ' || (i % 977), i / 7.0, '2024-01-01'::timestamptz + i * interval '1 s',
                       ARRAY['t' || (i % 5), NULL]
  FROM generate_series(1, 400000) i;
ANALYZE big;
SQL
create_db postgres dst2 > /dev/null
dst2=$(db_uri postgres dst2)
expect_exit 0 init --source "$(tandem_uri postgres src)" --target "$(tandem_uri postgres dst2)" -o draft2.yaml
# Only big, in chunks of 4000 rows: every other table is left behind on purpose.
only_table draft2.yaml big 4000 > big.yaml
kill_copy_after 5 big.yaml --jobs 2
grep -q '"path":"pass-through","table":"big"' kill.err || fail "big: $(grep copy_path kill.err)"
done_before=$(pg_cli "$dst2" -At -c "SELECT count(*) FROM big")
((done_before > 0 && done_before < 400000)) || fail "killed copy left $done_before rows"
expect_exit 0 copy -c big.yaml --jobs 2
grep -q '"event":"resume"' err || fail "the second copy did not resume: $(head -3 err)"
grep -q "copied 400000 rows" out || fail "resume: $(cat out)"
export_rows "$src" big > src.big
export_rows "$dst2" big > dst.big
cmp -s src.big dst.big || { diff src.big dst.big | head -5; fail "big: target differs from source after the resume"; }
pass "kill -9 during a pass-through copy ($done_before rows in) resumed to an exact target"
