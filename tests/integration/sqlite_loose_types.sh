#!/usr/bin/env bash
# SQLite's declared types do not bind its values. Columns with no declared type, a STRICT
# table's ANY column, a DATETIME holding Unix seconds and a STRING (NUMERIC affinity) holding
# words, copied into PostgreSQL and MariaDB with the mapping `tandem init` drafts: each column
# is drafted from what it stores, every value lands as the source holds it (compared with the
# engines' own CLIs), and only the values no type can take are rejects, counted exactly.
. "$TANDEM_REPO/tests/lib/common.sh"
. "$TANDEM_REPO/tests/lib/oracle.sh"
. "$TANDEM_REPO/tests/lib/matrix.sh"

sqlite3 -batch "$(db_uri sqlite src)" <<'SQL'
-- notes.body: integers, reals and text; notes.score: integers and reals; notes.later: no value.
CREATE TABLE notes (id INTEGER PRIMARY KEY, body, score, later);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 300)
INSERT INTO notes SELECT i,
  CASE i % 3 WHEN 0 THEN i WHEN 1 THEN i + 0.25 ELSE 'note ' || i END,
  CASE i % 2 WHEN 0 THEN i ELSE i + 0.5 END, NULL FROM n;
-- events.at: Unix seconds in a DATETIME; events.seen: ISO text but row 7 holds 17 (a reject).
CREATE TABLE events (id INTEGER PRIMARY KEY, at DATETIME, seen DATETIME, kind STRING);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200)
INSERT INTO events SELECT i, 1700000000 + i,
  CASE WHEN i = 7 THEN 17 ELSE printf('2024-01-%02d 10:00:00', i % 28 + 1) END,
  CASE WHEN i % 4 = 0 THEN i ELSE 'kind ' || (i % 5) END FROM n;
CREATE TABLE strictly (id INTEGER PRIMARY KEY, name TEXT NOT NULL, anything ANY) STRICT;
INSERT INTO strictly VALUES (1, 'a', 5), (2, 'b', 'five'), (3, 'c', 5.5), (4, 'd', NULL);
SQL

# The engines' own reading of the source, as text: SQLite prints each value as stored.
expected() {
  sqlite3 -batch -separator $'\t' "$(db_uri sqlite src)" "$1"
}

one_target() {
  local engine=$1
  create_db "$engine" "dst"
  expect_exit 0 init --source "sqlite:$(db_uri sqlite src)" --target "$(tandem_uri "$engine" dst)" \
    -o tandem.yaml
  grep -q "column(s) hold values of other types than declared" "$WORK/out" || fail "$engine: init summary: $(cat "$WORK/out")"
  for want in 'body: {to: body, type: text}' 'score: {to: score, type: decimal}' \
      'later: {to: later, type: text}' 'at: {to: at, type: bigint}' \
      'seen: {to: seen, type: timestamp}' 'kind: {to: kind, type: text}' \
      'anything: {to: anything, type: text}'; do
    grep -qF "$want" tandem.yaml || fail "$engine: draft lacks '$want': $(grep -A6 columns: tandem.yaml)"
  done
  grep -q 'seen: .*1 of 200 value(s) cannot become timestamp' tandem.yaml ||
    fail "$engine: the draft does not warn of the one integer in events.seen"
  expect_exit 1 copy -c tandem.yaml
  grep -Eq "^events +200 +199 +1 +ok" "$WORK/out" || fail "$engine: events summary: $(cat "$WORK/out")"
  grep -Eq "^notes +300 +300 +0 +ok" "$WORK/out" || fail "$engine: notes summary: $(cat "$WORK/out")"
  grep -Eq "^strictly +4 +4 +0 +ok" "$WORK/out" || fail "$engine: strictly summary: $(cat "$WORK/out")"
  expect_exit 1 rejects -c tandem.yaml
  grep -q "events key (7): seen: integer 17 cannot become a timestamp" "$WORK/out" ||
    fail "$engine: reject reason: $(cat "$WORK/out")"

  local db score seen
  db=$(db_uri "$engine" dst)
  # Numbers and times printed the same way on both sides: decimals without trailing zeros,
  # timestamps to the second.
  if [[ $engine == postgres ]]; then
    cli() { pg_cli "$db" -At -F $'\t' -c "$1"; }
    score="trim_scale(score)" seen="to_char(seen, 'YYYY-MM-DD HH24:MI:SS')"
  else
    cli() { mysql_cli "$db" -e "$1"; }
    score="TRIM(TRAILING '.' FROM TRIM(TRAILING '0' FROM score))"
    seen="DATE_FORMAT(seen, '%Y-%m-%d %H:%i:%s')"
  fi
  diff <(expected "SELECT id, CAST(body AS TEXT), score, ifnull(later, 'N') FROM notes ORDER BY id") \
       <(cli "SELECT id, body, $score, COALESCE(later, 'N') FROM notes ORDER BY id") ||
    fail "$engine: notes differ"
  diff <(expected "SELECT id, at, seen, CAST(kind AS TEXT) FROM events WHERE id <> 7 ORDER BY id") \
       <(cli "SELECT id, at, $seen, kind FROM events ORDER BY id") || fail "$engine: events differ"
  diff <(expected "SELECT id, name, ifnull(CAST(anything AS TEXT), 'N') FROM strictly ORDER BY id") \
       <(cli "SELECT id, name, COALESCE(anything, 'N') FROM strictly ORDER BY id") ||
    fail "$engine: strictly differs"
  expect_exit 0 verify -c tandem.yaml
  grep -q "^0 differences" "$WORK/out" || fail "$engine: verify: $(cat "$WORK/out")"
  pass "$engine: untyped and mis-declared SQLite columns drafted from their values, copied exactly"
}

isolate postgres one_target postgres
isolate mysql one_target mysql
[[ ${#FAILED[@]} == 0 ]] || fail "failed: ${FAILED[*]}"
