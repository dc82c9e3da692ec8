#!/usr/bin/env bash
# Verify by in-database digests (issue 9, item 3): PostgreSQL -> PostgreSQL and MariaDB ->
# MariaDB with the identity mapping `tandem init` drafts. A clean copy verifies with every range
# equal by digest; the planted differences (a changed value, a missing row, an extra row, NULL
# instead of '', 'NULL' instead of NULL, a trailing space, a composite key's value) are each
# reported exactly as the row-by-row comparison reports them, at --jobs 1 and 2, and the same
# as with --no-digests. A mapping with a transform is never digested. The oracle for the report
# is the list of planted changes, made with the engines' own CLIs.
. "$TANDEM_REPO/tests/lib/common.sh"
. "$TANDEM_REPO/tests/lib/oracle.sh"
MATRIX_PREFIX=vd
. "$TANDEM_REPO/tests/lib/matrix.sh"

sql() {  # sql ENGINE NAME STATEMENTS
  case $1 in
    postgres) pg_cli "$(db_uri postgres "$2")" -c "$3" >/dev/null ;;
    mysql) mysql_cli "$(db_uri mysql "$2")" -e "$3" ;;
  esac
}

make_source() {  # make_source ENGINE NAME
  local rows at
  case $1 in
    postgres) rows="generate_series(1, 3000) AS s(i)" at="TIMESTAMP '2020-01-01' + i * INTERVAL '1 second'" ;;
    mysql) rows="(SELECT seq AS i FROM seq_1_to_3000) AS s" at="TIMESTAMP '2020-01-01 00:00:00' + INTERVAL i SECOND" ;;
  esac
  sql "$1" "$2" "CREATE TABLE accounts (id bigint PRIMARY KEY, owner varchar(64) NOT NULL,
      balance bigint, note text, score double precision, at timestamp NULL);
    CREATE TABLE pairs (a varchar(16) NOT NULL, b bigint NOT NULL, v text, PRIMARY KEY (a, b));
    INSERT INTO accounts SELECT i, CONCAT('owner ', i), i * 10,
      CASE WHEN i % 9 = 0 THEN NULL WHEN i % 9 = 1 THEN '' ELSE CONCAT('n', i) END,
      i / 7.0, $at FROM $rows;
    INSERT INTO pairs SELECT CASE i % 4 WHEN 0 THEN 'north' WHEN 1 THEN 'süd' WHEN 2 THEN 'Ost'
      ELSE 'west' END, i, CONCAT('v', i) FROM $rows WHERE i <= 1500"
}

# The planted differences, in the target.
plant() {  # plant ENGINE NAME
  sql "$1" "$2" "UPDATE accounts SET balance = balance + 1 WHERE id = 42;
    DELETE FROM accounts WHERE id = 1500;
    INSERT INTO accounts (id, owner, balance, note) VALUES (99999, 'ghost', 0, NULL);
    UPDATE accounts SET note = NULL WHERE id = 1;
    UPDATE accounts SET note = 'NULL' WHERE id = 9;
    UPDATE accounts SET owner = 'owner 2000 ' WHERE id = 2000;
    UPDATE pairs SET v = 'changed' WHERE a = 'Ost' AND b = 6"
}

expected_lines() {
  cat <<'TXT'
accounts key (1): note: source '' target NULL
accounts key (1500): missing in target
accounts key (2000): owner: source 'owner 2000' target 'owner 2000 '
accounts key (42): balance: source 420 target 421
accounts key (9): note: source NULL target 'NULL'
accounts key (99999): extra in target (no such source row)
pairs key ('Ost', 6): v: source 'v6' target 'changed'
TXT
}

# json_counts FILE TABLE: "ranges digested" of one table in a --json report; with a third
# argument, the ranges digested by tandem's own scans instead.
json_counts() {
  python3 -c 'import json, sys
r = json.load(open(sys.argv[1]))
t = [t for t in r["tables"] if t["source_table"] == sys.argv[2]][0]
print(t["ranges"], t["scan_digested_ranges"] if len(sys.argv) > 3 else t["digested_ranges"])' "$@"
}

same_engine() {  # same_engine ENGINE
  local e=$1 ranges digested
  make_source "$e" src
  "$TANDEM" init --source "$(tandem_uri "$e" src)" --target "$(tandem_uri "$e" dst)" -o tandem.yaml >/dev/null
  grep -q 'engine_type' tandem.yaml || fail "$e: init drafted no same-engine types"
  sed -i 's/^tables:/options: {chunk_rows: 400}\ntables:/' tandem.yaml
  expect_exit 0 copy -c tandem.yaml
  expect_exit 0 verify -c tandem.yaml --json clean.json
  grep -q "^0 differences" "$WORK/out" || fail "$e: a clean copy should verify: $(cat "$WORK/out")"
  read -r ranges digested < <(json_counts clean.json accounts)
  ((ranges > 5)) || fail "$e: accounts verified in $ranges ranges, expected several"
  [[ $digested == "$ranges" ]] || fail "$e: $digested of $ranges clean ranges equal by digest"
  plant "$e" dst
  for run in "--jobs 1" "--jobs 2" "--no-digests"; do
    expect_exit 1 verify -c tandem.yaml $run --json "report.json"
    grep "^    " "$WORK/out" | sed 's/^    //' | LC_ALL=C sort > got.txt
    if ! diff <(expected_lines | LC_ALL=C sort) got.txt; then
      cat "$WORK/out"
      fail "$e, verify $run: the differences reported are not the planted ones"
    fi
    grep -q "^accounts .* 6 differences$" "$WORK/out" || fail "$e, verify $run: accounts should have 6 differences"
    grep -q "^pairs .* 1 difference$" "$WORK/out" || fail "$e, verify $run: pairs should have 1 difference"
    read -r ranges digested < <(json_counts report.json accounts)
    if [[ $run == --no-digests ]]; then
      [[ $digested == 0 ]] || fail "$e: --no-digests still digested $digested ranges"
    else
      # The ranges holding a planted difference (at most 5 of accounts) are read row by row.
      ((digested > 0 && digested < ranges && digested >= ranges - 5)) ||
        fail "$e, verify $run: $digested of $ranges ranges equal by digest"
    fi
  done
  pass "$e -> $e: clean ranges equal by digest; every planted difference reported as row by row"
}

# A transform makes the mapping no identity: no digest, and verify still compares it.
not_identity() {
  local ranges digested
  make_source postgres nsrc
  "$TANDEM" init --source "$(tandem_uri postgres nsrc)" --target "$(tandem_uri postgres ndst)" -o tandem.yaml >/dev/null
  sed -i 's/^tables:/options: {chunk_rows: 400}\ntables:/' tandem.yaml
  sed -i -E 's/^(      note: \{to: note, type: text)[^}]*\}/\1, transform: [trim]}/' tandem.yaml
  grep -q 'transform: \[trim\]' tandem.yaml || fail "could not add the transform: $(grep note tandem.yaml)"
  expect_exit 0 copy -c tandem.yaml
  expect_exit 0 verify -c tandem.yaml --json clean.json
  read -r ranges digested < <(json_counts clean.json accounts)
  local scanned
  read -r ranges scanned < <(json_counts clean.json accounts scan)
  [[ $digested == "$scanned" ]] || fail "a mapping with a transform was digested in the database ($digested of $ranges ranges)"
  [[ $scanned == "$ranges" ]] || fail "$scanned of $ranges clean ranges equal by tandem's scan digests"
  read -r ranges digested < <(json_counts clean.json pairs)
  read -r ranges scanned < <(json_counts clean.json pairs scan)
  ((digested > 0 && scanned == 0)) || fail "the identity table beside it was not digested in the database"
  sql postgres ndst "UPDATE accounts SET note = 'x' WHERE id = 5"
  expect_exit 1 verify -c tandem.yaml
  grep -qF "accounts key (5): note: source 'n5' target 'x'" "$WORK/out" || fail "transform table: $(cat "$WORK/out")"
  pass "a table with a transform is compared by tandem's scan digests, never in the database"
}

# Across engines (MariaDB -> PostgreSQL): tandem digests each range from one scan of each side;
# the planted differences are reported as the row-by-row comparison reports them.
cross() {
  local ranges digested
  make_source mysql xsrc
  "$TANDEM" init --source "$(tandem_uri mysql xsrc)" --target "$(tandem_uri postgres xdst)" -o tandem.yaml >/dev/null
  sed -i 's/^tables:/options: {chunk_rows: 400}\ntables:/' tandem.yaml
  expect_exit 0 copy -c tandem.yaml
  expect_exit 0 verify -c tandem.yaml --json clean.json
  grep -q "^0 differences" "$WORK/out" || fail "cross: a clean copy should verify: $(cat "$WORK/out")"
  # Progress on stderr (not a terminal: JSON events), the first at once.
  python3 -c 'import json, sys
ev = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
rows = [e["rows_read"] for e in ev if e.get("event") == "verify_progress" and e.get("table") == "accounts"]
assert rows and all(0 < r <= 3000 for r in rows) and rows == sorted(rows), rows' "$WORK/err" ||
    fail "cross: verify progress events: $(grep verify_progress "$WORK/err" | head -3)"
  read -r ranges digested < <(json_counts clean.json accounts scan)
  ((ranges > 5)) && [[ $digested == "$ranges" ]] || fail "cross: $digested of $ranges clean ranges equal by digest"
  plant postgres xdst
  for run in "--jobs 1" "--jobs 2" "--no-digests"; do
    expect_exit 1 verify -c tandem.yaml $run --json report.json
    grep "^    " "$WORK/out" | sed 's/^    //' | LC_ALL=C sort > got.txt
    if ! diff <(expected_lines | LC_ALL=C sort) got.txt; then
      cat "$WORK/out"
      fail "cross, verify $run: the differences reported are not the planted ones"
    fi
    read -r ranges digested < <(json_counts report.json accounts scan)
    if [[ $run == --no-digests ]]; then
      [[ $digested == 0 ]] || fail "cross: --no-digests still digested $digested ranges"
    else
      ((digested > 0 && digested < ranges && digested >= ranges - 5)) ||
        fail "cross, verify $run: $digested of $ranges ranges equal by digest"
    fi
  done
  pass "mysql -> postgres: clean ranges equal by tandem's scan digests; every planted difference reported as row by row"
}

# Databases are made here, not in the isolated runs: drop_dbs at exit sees only these.
for e in postgres mysql; do
  create_db "$e" src
  create_db "$e" dst
done
create_db postgres nsrc
create_db postgres ndst
create_db mysql xsrc
create_db postgres xdst
isolate postgres same_engine postgres
isolate mysql same_engine mysql
isolate not_identity not_identity
isolate cross cross
((${#FAILED[@]} == 0)) || fail "failed: ${FAILED[*]}"
