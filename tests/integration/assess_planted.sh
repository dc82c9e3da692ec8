#!/usr/bin/env bash
# `tandem assess` finds every planted edge case, in known numbers and keys, and nothing in the
# clean rows. The source (SQLite, then MariaDB) is made by assess_source.py, which also writes
# the expected findings (the oracle, written independently of tandem): too_long, mojibake,
# control characters (a warning in text, a reject for NUL into PostgreSQL), null_violation,
# invalid_date, out_of_range, type_mismatch, invalid_encoding, dst_gap, dst_fold (rejects, and
# warnings for the times an on_gap/on_fold policy changed),
# duplicate_key (a unique index after `trim, lower`; a text key cast to bigint), and
# orphan_reference (a missing parent, a parent the copy would reject, and a parent in a
# target table the mapping does not copy into). Target: PostgreSQL
# with a unique index and a foreign key. Then `tandem copy` must reject exactly the rows
# assess said it would (the reject store and the target, counted by psql).
. "$TANDEM_REPO/tests/lib/common.sh"
. "$TANDEM_REPO/tests/lib/oracle.sh"
. "$TANDEM_REPO/tests/lib/matrix.sh"
gen=$TANDEM_REPO/tests/integration/assess_source.py

mapping() {  # mapping SOURCE_URI TARGET_URI
  cat <<YAML
source: $1
target: $2
tables:
  - source: customers
    target: customer
    columns:
      id:     {to: id, type: bigint}
      email:  {to: email, type: varchar(40), transform: [trim, lower]}
      name:   {to: name, type: varchar(20)}
      note:   {to: note, type: text}
      code:   {to: code, type: text, on_null: reject}
      born:   {to: born, type: date}
      qty:    {to: qty, type: smallint}
      legacy: {to: legacy, type: text}
      visit:  {to: visit, type: timestamptz, transform: [{from_tz: Europe/Paris}]}
    indexes:
      - {name: customer_email_key, columns: [email], unique: true}
  - source: orders
    target: purchase
    columns:
      id:          {to: id, type: bigint}
      customer_id: {to: customer_id, type: bigint}
      amount:      {to: amount, type: "decimal(6,2)"}
    foreign_keys:
      - {name: purchase_customer_fk, columns: [customer_id], references: customers, ref_columns: [id]}
  - source: tags
    target: tag
    columns:
      code:  {to: code, type: bigint}
      label: {to: label, type: text}
  - source: seats
    target: seat
    columns:
      id:   {to: id, type: bigint}
      hall: {to: hall, type: text, transform: [lower]}
      num:  {to: num, type: integer}
    indexes:
      - {name: seat_hall_num_key, columns: [hall, num], unique: true}
  - source: branches
    target: branch
    columns:
      id:     {to: id, type: bigint}
      region: {to: region, type: bigint}
  - source: shifts
    target: shift
    columns:
      id: {to: id, type: bigint}
      at: {to: at, type: timestamptz, transform: [{from_tz: Europe/Paris, on_gap: shift_forward, on_fold: later}]}
YAML
}

run_case() {  # run_case ENGINE
  local e=$1 src
  create_db postgres "${e}_target"
  # A target table that exists already, with a foreign key to a table this mapping does not
  # copy into: assess checks the references against the rows the target holds.
  pg_cli "$(db_uri postgres "${e}_target")" -c "CREATE TABLE region (code bigint PRIMARY KEY);
    INSERT INTO region VALUES (1), (2);
    CREATE TABLE branch (id bigint PRIMARY KEY, region bigint REFERENCES region (code))"
  if [[ $e == sqlite ]]; then
    "$PYTHON" "$gen" make sqlite "$(db_uri sqlite source)"
  else
    create_db mysql source
    [[ $MY_BASE =~ ^mysql://([^:]+):([^@]+)@([^:/]+):([0-9]+)/ ]]
    "$PYTHON" "$gen" make mysql "${BASH_REMATCH[3]}" "${BASH_REMATCH[4]}" "${BASH_REMATCH[1]}" \
      "${BASH_REMATCH[2]}" "${RUN}_source"
  fi
  mapping "$(tandem_uri "$e" source)" "$(tandem_uri postgres "${e}_target")" > tandem.yaml
  expect_exit 1 assess -c tandem.yaml --json report.json --html report.html
  "$PYTHON" "$gen" check expected.json report.json || { cat "$WORK/out"; fail "$e: findings differ"; }
  grep -q "^reject .*customers -> customer .*too_long .* 2  1201 1202" "$WORK/out" ||
    fail "$e: the terminal summary lacks the too_long line: $(cat "$WORK/out")"
  grep -qF "fix: name: {..., type: varchar(29)}" "$WORK/out" ||
    fail "$e: the too_long suggestion should widen to the longest value (29)"
  # The HTML page stands alone: no external asset, every finding in it.
  grep -q "<!doctype html>" report.html || fail "$e: report.html is not HTML"
  ! grep -qiE '(src|href)="?(https?:)?//' report.html || fail "$e: report.html loads an external asset"
  [[ $(grep -o 'class="finding ' report.html | wc -l) == 19 ]] || fail "$e: report.html should show 19 findings"

  # Several jobs, with ranges and batches smaller than the planted tables (so that findings,
  # their samples and the rows of one duplicate or orphan fall in different ranges and jobs):
  # the same report as one scan in key order.
  { cat tandem.yaml; printf 'options: {chunk_rows: 3, batch_rows: 2}\n'; } > jobs.yaml
  for j in 1 3; do
    expect_exit 1 assess -c jobs.yaml --jobs "$j" --json "report.j$j.json"
    "$PYTHON" - report.json "report.j$j.json" <<'PY' || fail "$e: assess --jobs $j (small ranges) reports otherwise than one scan"
import json, sys
def strip(path):
    r = json.load(open(path))
    for k in ("at", "seconds"):
        r.pop(k, None)
    for t in r["tables"]:
        t.pop("seconds", None)
    return r
a, b = strip(sys.argv[1]), strip(sys.argv[2])
if a != b:
    print(json.dumps(a, indent=1, sort_keys=True))
    print(json.dumps(b, indent=1, sort_keys=True))
    sys.exit(1)
PY
  done
  # The copy rejects exactly the rows assess said it would (the orphan and duplicate rows land,
  # and their objects fail to build).
  expect_exit 1 copy -c tandem.yaml
  local want got
  want=$("$PYTHON" -c "import json; r=json.load(open('report.json')); print(sum(t['rejected'] for t in r['tables']))")
  got=$(sqlite3 tandem.state.db "select count(*) from rejects")
  [[ $want == "$got" ]] || fail "$e: assess predicted $want rejects, the copy made $got"
  got=$(sqlite3 tandem.state.db "select group_concat(kind || ':' || key, ' ') from (select kind, key from rejects where tbl = 'customers' order by key)")
  [[ $got == *"too_long:[1201]"* && $got == *"dst_gap:[2001]"* && $got == *"null_violation:[1503]"* ]] ||
    fail "$e: rejects should carry their kind: $got"
  want=$("$PYTHON" -c "import json; t=[t for t in json.load(open('report.json'))['tables'] if t['table']=='customers'][0]; print(t['rows'] - t['rejected'])")
  got=$(pg_cli "$(db_uri postgres "${e}_target")" -At -c "select count(*) from customer")
  [[ $want == 206 && $got == 206 ]] || fail "$e: 206 customers should land (assess: $want, psql: $got)"
  pass "$e -> postgres: assess reports exactly the planted findings; the copy rejects exactly those rows"
}

isolate sqlite run_case sqlite
isolate mysql run_case mysql
[[ ${#FAILED[@]} == 0 ]] || fail "failed: ${FAILED[*]}"
