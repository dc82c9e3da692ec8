#!/usr/bin/env bash
# Chinook (a third-party database) copied SQLite -> SQLite, identity-mapped, compared with
# sorted sqlite3 exports; init lists every table and column; a missing column fails check.
. "$TANDEM_REPO/tests/lib/common.sh"
cp "$TANDEM_REPO/../shared/datasets/chinook/Chinook_Sqlite.sqlite" source.db 2>/dev/null ||
  cp /work/shared/datasets/chinook/Chinook_Sqlite.sqlite source.db

expect_exit 0 init --source sqlite:source.db --target sqlite:target.db -o tandem.yaml
grep -q "wrote tandem.yaml: 11 tables, 64 columns" out || fail "init summary: $(cat out)"
tables=$(sqlite3 source.db "select name from sqlite_master where type='table' and name not like 'sqlite_%' order by 1")
for t in $tables; do
  grep -q "^  - source: $t\$" tandem.yaml || fail "init did not list table $t"
  for c in $(sqlite3 source.db "select name from pragma_table_info('$t')"); do
    grep -q "^      $c: {to: $c, type: " <(awk -v t="$t" '$0 ~ "^  - source: "t"$" {on=1; next} /^  - source:/ {on=0} on' tandem.yaml) ||
      fail "init did not list column $t.$c"
  done
done
pass "init lists all 11 tables and every column"

# Removing one column makes check exit 2 naming it.
grep -v '^      Composer: ' tandem.yaml > missing.yaml
expect_exit 2 check -c missing.yaml
grep -q "column Track.Composer is neither mapped nor dropped" err || fail "check did not name Track.Composer: $(cat err)"
pass "check names the unmapped column and exits 2"

expect_exit 0 check -c tandem.yaml
expect_exit 0 copy -c tandem.yaml
for t in $tables; do
  diff <(sqlite_dump source.db "$t") <(sqlite_dump target.db "$t") > diff.txt ||
    { head diff.txt; fail "table $t differs from the source"; }
  [[ -n "$(sqlite_dump source.db "$t")" ]] || fail "oracle read nothing from $t"
done
pass "all 11 tables equal the source (sqlite3 oracle)"
grep "copied" out

# Running copy again starts over and still matches (idempotent).
expect_exit 0 copy -c tandem.yaml
diff <(sqlite_dump source.db Track) <(sqlite_dump target.db Track) >/dev/null || fail "second copy differs"
pass "a second copy is idempotent"
