#!/usr/bin/env bash
# A table named with a space and a reserved word column, a composite text key, a text value
# in an INTEGER column (a reject with its reason), copied SQLite -> SQLite in small chunks.
. "$TANDEM_REPO/tests/lib/common.sh"
sqlite3 source.db <<'SQL'
CREATE TABLE "order details" ("select" TEXT, "group" INTEGER, "we""ird" TEXT, PRIMARY KEY ("select", "group"));
CREATE TABLE parts (region TEXT NOT NULL, code TEXT NOT NULL, qty INTEGER, label TEXT, PRIMARY KEY (region, code));
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 500)
INSERT INTO "order details" SELECT 'k' || (i % 7), i, 'v"' || i || '''' FROM n;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000)
INSERT INTO parts SELECT CASE i % 3 WHEN 0 THEN 'north' WHEN 1 THEN 'süd' ELSE 'Ost' END,
  printf('P-%04d', i), CASE WHEN i = 777 THEN 'many' ELSE i END,
  CASE WHEN i % 10 = 0 THEN NULL WHEN i % 10 = 1 THEN '' ELSE 'part ' || i END FROM n;
SQL
expect_exit 0 init --source sqlite:source.db --target sqlite:target.db -o tandem.yaml
printf 'options: {chunk_rows: 64, batch_rows: 10}\n' >> tandem.yaml
# The drafted identity mapping keeps 'many' as text, as SQLite stored it; a portable integer
# type asks for a cast, which refuses it.
grep -q '      qty: {to: qty, type: bigint, engine_type: "INTEGER"}' tandem.yaml || fail "draft of qty: $(grep qty tandem.yaml)"
sed -i 's/      qty: {to: qty, type: bigint, engine_type: "INTEGER"}/      qty: {to: qty, type: integer}/' tandem.yaml
expect_exit 1 copy -c tandem.yaml
grep -Eq "parts +1000 +999 +1 +ok" out || fail "parts summary: $(cat out)"
expect_exit 1 rejects -c tandem.yaml
grep -q "parts key ('north', 'P-0777'): qty: text 'many' is not an integer" out || fail "reject reason: $(cat out)"
pass "text in an INTEGER column is a reject naming key and column"

diff <(sqlite_dump source.db "order details") <(sqlite_dump target.db "order details") ||
  fail "order details differs"
diff <(sqlite_dump source.db parts | grep -v "'P-0777'") <(sqlite_dump target.db parts) ||
  fail "parts differs (other than the reject)"
[[ $(sqlite_dump target.db "order details" | wc -l) == 500 ]] || fail "order details row count"
pass "space/reserved names and composite text keys copy exactly"
