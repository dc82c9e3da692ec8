#!/usr/bin/env bash
# Tables without a key (`key: none`): a table with duplicate rows and NULLs is drafted by
# `init` as key: none, copied while a writer inserts duplicates, updates one of two identical
# rows and deletes one of two identical rows, then verified (0 differences) and compared by the
# oracle outside tandem (sorted exports, duplicates kept); an extra duplicate planted on the
# target is reported by verify. Pairs: SQLite -> PostgreSQL, PostgreSQL -> MariaDB,
# PostgreSQL -> PostgreSQL.
. "$TANDEM_REPO/tests/lib/common.sh"
. "$TANDEM_REPO/tests/lib/oracle.sh"
MATRIX_PREFIX=kl
. "$TANDEM_REPO/tests/lib/matrix.sh"

sql() {  # sql ENGINE NAME SQL
  case $1 in
    sqlite) sqlite3 -batch -cmd ".timeout 10000" "$(db_uri sqlite "$2")" "$3" ;;
    postgres) pg_cli "$(db_uri postgres "$2")" -At -c "$3" ;;
    mysql) mysql_cli "$(db_uri mysql "$2")" -e "$3" ;;
  esac
}

make_source() {  # make_source ENGINE ROWS
  local e=$1 n=$2 gen txt="'x' || (i % 13)" dbl=DOUBLE
  create_db "$e" "$S"
  case $e in
    sqlite) gen="(WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $n) SELECT i FROM n)"; dbl=REAL ;;
    postgres) gen="generate_series(1, $n) AS g(i)"; dbl="DOUBLE PRECISION" ;;
    mysql) gen="(SELECT seq AS i FROM seq_1_to_$n) AS g"; txt="CONCAT('x', i % 13)" ;;
  esac
  [[ $e == sqlite ]] && sql sqlite "$S" "PRAGMA journal_mode = WAL" >/dev/null
  sql "$e" "$S" "CREATE TABLE hist (a INTEGER, b VARCHAR(20), c $dbl, d VARCHAR(20))" >/dev/null
  # Few distinct rows: many exact duplicates, NULLs in every column.
  sql "$e" "$S" "INSERT INTO hist SELECT CASE WHEN i % 11 = 0 THEN NULL ELSE i % 40 END,
      CASE WHEN i % 7 = 0 THEN NULL ELSE $txt END, CASE WHEN i % 5 = 0 THEN NULL ELSE (i % 3) + 0.5 END,
      CASE WHEN i % 2 = 0 THEN NULL ELSE 'd' END FROM $gen" >/dev/null
}

# One of the rows equal to (a, b) changed or removed: the engine's own "one row" form.
one_row() {  # one_row ENGINE update|delete A B
  local e=$1 what=$2 a=$3 b=$4 set="c = COALESCE(c, 0) + 100"
  case $e in
    sqlite) [[ $what == update ]] && echo "UPDATE hist SET $set WHERE rowid = (SELECT rowid FROM hist WHERE a IS $a AND b IS $b LIMIT 1);" \
              || echo "DELETE FROM hist WHERE rowid = (SELECT rowid FROM hist WHERE a IS $a AND b IS $b LIMIT 1);" ;;
    postgres) [[ $what == update ]] && echo "UPDATE hist SET $set WHERE ctid = (SELECT ctid FROM hist WHERE a IS NOT DISTINCT FROM $a AND b IS NOT DISTINCT FROM $b LIMIT 1);" \
              || echo "DELETE FROM hist WHERE ctid = (SELECT ctid FROM hist WHERE a IS NOT DISTINCT FROM $a AND b IS NOT DISTINCT FROM $b LIMIT 1);" ;;
    mysql) [[ $what == update ]] && echo "UPDATE hist SET $set WHERE a <=> $a AND b <=> $b LIMIT 1;" \
              || echo "DELETE FROM hist WHERE a <=> $a AND b <=> $b LIMIT 1;" ;;
  esac
}

writer() {  # writer ENGINE ROUNDS: duplicates in, one of two identical rows updated, one deleted
  local e=$1 i a b s
  for ((i = 1; i <= $2; i++)); do
    a=$((i % 40)); b="'x$((i % 13))"\'
    ((i % 9 == 0)) && a=NULL
    ((i % 10 == 0)) && b=NULL
    s="INSERT INTO hist VALUES ($a, $b, 7.25, NULL); INSERT INTO hist VALUES ($a, $b, 7.25, NULL);"
    s+=" INSERT INTO hist VALUES (NULL, NULL, NULL, NULL);"
    s+=" $(one_row "$e" update "$a" "$b") $(one_row "$e" delete "$a" "$b")"
    ((i % 4 == 0)) && s+=" $(one_row "$e" delete NULL NULL)"
    sql "$e" "$S" "$s" >/dev/null
  done
}

dump_equal() {  # dump_equal SRC DST LABEL
  oracle_rows "$1" "$(db_uri "$1" "$S")" hist > old.txt
  oracle_rows "$2" "$(db_uri "$2" "$D")" hist > new.txt
  [[ $(wc -l < old.txt) -gt 1000 ]] || fail "$3: the export has only $(wc -l < old.txt) rows"
  diff old.txt new.txt > diff.txt || { head -20 diff.txt; fail "$3: the exports differ"; }
  [[ $(sort old.txt | uniq -d | wc -l) -gt 0 ]] || fail "$3: no duplicate rows left to compare"
}

pair() {  # pair SRC DST
  local src=$1 dst=$2
  S=${src}_$3_src D=${dst}_$3_dst
  make_source "$src" 20000
  create_db "$dst" "$D"
  expect_exit 0 init --source "$(tandem_uri "$src" "$S")" --target "$(tandem_uri "$dst" "$D")" -o tandem.yaml
  grep -q '^    key: none$' tandem.yaml || { cat tandem.yaml; fail "init did not draft key: none"; }
  # Small batches, so the copy is still running while the writer writes.
  sed -i 's/^options:.*$//' tandem.yaml
  printf 'options: {batch_rows: 500}\n' >> tandem.yaml
  expect_exit 0 check -c tandem.yaml
  writer "$src" 150 &
  local wpid=$!
  expect_exit 0 start -c tandem.yaml --until-synced
  wait "$wpid"
  expect_exit 0 start -c tandem.yaml --until-synced
  expect_exit 0 verify -c tandem.yaml
  grep -q "^0 differences;" "$WORK/out" || { cat "$WORK/out"; fail "$src -> $dst: verify found differences"; }
  dump_equal "$src" "$dst" "$src -> $dst"
  pass "$src -> $dst: key: none copied and followed, verify 0 differences, exports equal"
  # One more copy of a row that is already there twice: verify must see it.
  local row
  row=$(sql "$dst" "$D" "SELECT a FROM hist WHERE a IS NOT NULL GROUP BY a HAVING count(*) > 1 LIMIT 1")
  sql "$dst" "$D" "INSERT INTO hist SELECT a, b, c, d FROM hist WHERE a = $row LIMIT 1" >/dev/null
  expect_exit 1 verify -c tandem.yaml
  grep -q "extra in target" "$WORK/out" || { cat "$WORK/out"; fail "$src -> $dst: the planted duplicate is not reported"; }
  pass "$src -> $dst: a planted extra duplicate is reported by verify"
}

isolate sqlite_pg pair sqlite postgres a
isolate pg_mysql pair postgres mysql b
isolate pg_pg pair postgres postgres c
((${#FAILED[@]} == 0)) || fail "failed pairs: ${FAILED[*]}"
