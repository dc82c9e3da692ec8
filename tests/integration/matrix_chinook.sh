#!/usr/bin/env bash
# Chinook (a third-party database, 11 tables, 15,607 rows) loaded natively into SQLite (the
# shipped file), PostgreSQL (its snake_case script) and MariaDB (its CamelCase script), then
# copied across all nine directed pairs with the identity mapping `tandem init` drafts. Each
# target table is compared with its source table (same name: whatever the source has) through
# the engines' own CLI exports, normalised by tests/lib/normalise.py; `tandem verify` finds no
# difference; nothing is rejected.
. "$TANDEM_REPO/tests/lib/common.sh"
. "$TANDEM_REPO/tests/lib/oracle.sh"
MATRIX_PREFIX=mc
. "$TANDEM_REPO/tests/lib/matrix.sh"
started=$SECONDS

data=$TANDEM_REPO/../shared/datasets/chinook
[[ -d $data ]] || data=/work/shared/datasets/chinook
[[ -f $data/Chinook_Sqlite.sqlite ]] || fail "no Chinook dataset in $data"

# The scripts create their own database (DROP/CREATE DATABASE, then \c or USE): those lines
# go, so that they load into the fresh database made here.
cp "$data/Chinook_Sqlite.sqlite" "$(db_uri sqlite src)"
create_db postgres src
grep -Ev '^(DROP DATABASE|CREATE DATABASE|\\c )' "$data/Chinook_PostgreSql.sql" |
  pg_cli "$(db_uri postgres src)" > /dev/null
create_db mysql src
grep -Ev '^(DROP DATABASE|CREATE DATABASE|USE )' "$data/Chinook_MySql.sql" |
  mysql_cli "$(db_uri mysql src)"

tables_of() {  # tables_of ENGINE DB: the table names, one a line
  case $1 in
    sqlite) sqlite3 -batch "$2" "SELECT name FROM sqlite_master WHERE type = 'table'
                                 AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_tandem_%' ORDER BY 1" ;;
    postgres) pg_cli "$2" -At -c "SELECT tablename FROM pg_tables WHERE schemaname = 'public'
                                  AND tablename NOT LIKE '\_tandem\_%' ORDER BY 1" ;;
    mysql) mysql_cli "$2" -e "SELECT TABLE_NAME FROM information_schema.TABLES
                              WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME NOT LIKE '\_tandem\_%' ORDER BY 1" ;;
  esac
}

# Each source exported once: $WORK/src_<engine>/<table>.
for e in sqlite postgres mysql; do
  mkdir -p "$WORK/src_$e"
  rows=0
  for t in $(tables_of "$e" "$(db_uri "$e" src)"); do
    oracle_rows "$e" "$(db_uri "$e" src)" "$t" > "$WORK/src_$e/$t"
    rows=$((rows + $(wc -l < "$WORK/src_$e/$t")))
  done
  [[ $(ls "$WORK/src_$e" | wc -l) == 11 && $rows == 15607 ]] ||
    fail "$e Chinook: $(ls "$WORK/src_$e" | wc -l) tables, $rows rows (expected 11 and 15607)"
done
pass "Chinook loaded into sqlite, postgres and mysql: 11 tables, 15607 rows each"

check_pair() {
  local src=$1 tgt=$2 pair="$1_to_$2" t n
  expect_exit 0 init --source "$(tandem_uri "$src" src)" --target "$(tandem_uri "$tgt" "$pair")" -o "$pair.yaml"
  grep -q ": 11 tables, 64 columns" "$WORK/out" || fail "$pair: init summary: $(cat "$WORK/out")"
  expect_exit 0 copy -c "$pair.yaml"
  grep -q "^copied 15607 rows .* 0 rejected" "$WORK/out" || { cat "$WORK/out"; fail "$pair: copy summary"; }
  diff <(tables_of "$src" "$(db_uri "$src" src)") <(tables_of "$tgt" "$(db_uri "$tgt" "$pair")") ||
    fail "$pair: the target's tables are not the source's"
  for t in $(tables_of "$src" "$(db_uri "$src" src)"); do
    oracle_rows "$tgt" "$(db_uri "$tgt" "$pair")" "$t" > got
    diff "$WORK/src_$src/$t" got > diff.txt ||
      { head -5 diff.txt; fail "$pair: table $t differs from the source (oracle: CLI exports, normalised)"; }
  done
  expect_exit 0 verify -c "$pair.yaml"
  grep -q "^0 differences" "$WORK/out" || { cat "$WORK/out"; fail "$pair: verify found differences"; }
  pass "$pair: 11 tables, 15607 rows equal the source; verify clean"
}

for src in sqlite postgres mysql; do
  for tgt in sqlite postgres mysql; do
    create_db "$tgt" "${src}_to_$tgt"
    isolate "${src}_to_$tgt" check_pair "$src" "$tgt"
  done
done
echo "matrix_chinook: $((SECONDS - started)) s"
[[ ${#FAILED[@]} == 0 ]] || fail "pairs that failed: ${FAILED[*]}"
pass "Chinook across all nine directed pairs"
