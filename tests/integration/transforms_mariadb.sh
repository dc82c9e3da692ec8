#!/usr/bin/env bash
# Issue 7 item 1: transforms on real servers. A MariaDB source with
#  - a DATETIME holding Europe/Paris wall-clock time, including a DST gap (2024-03-31 02:30,
#    shifted forward by the policy) and a DST fold (2024-10-27 02:30, refused by the policy),
#  - zero and impossible dates (zero_date: null; and a column without the rule: a reject),
#  - cp1252 text stored in a latin1 column (MariaDB's latin1 is cp1252: euro, curly quotes),
#  - cp1252 bytes in a VARBINARY column decoded by {decode: cp1252} (0x81 is no character),
#  - mojibake repaired by fix_mojibake, next to correct UTF-8 that must stay as it is,
#  - two columns combined by an expression into one,
# copied into PostgreSQL. The oracle: psql's export compared with values computed by Python's
# zoneinfo and codecs (independent of tandem); the refused rows appear in `tandem rejects`
# with their column, rule and value.
. "$TANDEM_REPO/tests/lib/common.sh"
. "$TANDEM_REPO/tests/lib/oracle.sh"
MATRIX_PREFIX=tf
. "$TANDEM_REPO/tests/lib/matrix.sh"
trap 'stop_jobs; drop_dbs; rm -rf "$WORK"' EXIT

create_db mysql old
create_db postgres new
SRC=$(db_uri mysql old)
DST=$(db_uri postgres new)

# 'Ã©' etc. as the bytes a cp1252 decode of UTF-8 gives, written as utf8mb4 text.
MOJI=$("$PYTHON" -c 'print("café".encode("utf-8").decode("cp1252"))')
mysql_cli "$SRC" -e "
  SET SESSION sql_mode = 'ALLOW_INVALID_DATES';
  CREATE TABLE ev (
    id int PRIMARY KEY,
    at datetime,
    born date,
    due date,
    note varchar(40) CHARACTER SET latin1,
    raw varbinary(40),
    city varchar(40),
    first varchar(20),
    last varchar(20)
  ) DEFAULT CHARSET = utf8mb4;
  INSERT INTO ev VALUES
    (1, '2024-06-01 12:00:00', '1990-05-17', '2024-01-01', X'80209368699420', X'636166E9',
        'SÃO PAULO', 'Ada', 'Lovelace'),
    (2, '2024-03-31 02:30:00', '0000-00-00', NULL, 'plain', X'6E61EF7665', '$MOJI', 'Grace', NULL),
    (3, '2024-10-27 02:30:00', NULL, NULL, 'fold', NULL, 'x', 'Alan', 'Turing'),
    (4, '2024-12-24 18:00:00', '2023-02-30', NULL, 'impossible', X'E28093', 'y', 'Edsger', 'Dijkstra'),
    (5, '2024-07-14 10:00:00', NULL, NULL, 'bad bytes', X'6181', 'z', 'Barbara', 'Liskov'),
    (6, '2024-01-02 03:04:05', NULL, '0000-00-00', 'zero due', NULL, 'w', 'Ken', 'Thompson'),
    (7, '2024-10-27 01:59:59', NULL, NULL, 'before fold', X'93', 'v', 'Dennis', 'Ritchie');"

cat > tandem.yaml <<YAML
source: $(tandem_uri mysql old)
target: $(tandem_uri postgres new)
tables:
  - source: ev
    columns:
      id: id
      at: {to: at, type: timestamptz, transform: [{from_tz: Europe/Paris, on_gap: shift_forward, on_fold: reject}]}
      born: {to: born, zero_date: null}
      due: due
      note: note
      raw: {to: raw, type: text, transform: [{decode: cp1252}]}
      city: {to: city, transform: [fix_mojibake]}
    add:
      full_name: {from: [first, last], expr: "first || coalesce(' ' || last, '')", type: text}
YAML

expect_exit 0 check
expect_exit 1 copy
cat "$WORK/out"

# The oracle's expected rows, from Python (zoneinfo for Europe/Paris, codecs for cp1252).
"$PYTHON" - > expected.txt <<'PY'
from datetime import datetime, timezone
from zoneinfo import ZoneInfo
paris = ZoneInfo("Europe/Paris")
def utc(s, fold=0):
    # A nonexistent time with fold=0 takes the offset before the gap: shift_forward.
    d = datetime.fromisoformat(s).replace(tzinfo=paris, fold=fold)
    return d.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
rows = [
    (1, utc("2024-06-01 12:00:00"), "1990-05-17", "2024-01-01",
     b"\x80 \x93hi\x94 ".decode("cp1252"), b"caf\xe9".decode("cp1252"), "SÃO PAULO",
     "Ada Lovelace"),
    (2, utc("2024-03-31 02:30:00"), "", "", "plain", b"na\xefve".decode("cp1252"), "café",
     "Grace"),
    (4, utc("2024-12-24 18:00:00"), "", "", "impossible", b"\xe2\x80\x93".decode("cp1252"), "y",
     "Edsger Dijkstra"),
    (7, utc("2024-10-27 01:59:59"), "", "", "before fold", b"\x93".decode("cp1252"), "v",
     "Dennis Ritchie"),
]
for r in rows:
    print("|".join(str(x) for x in r))
PY
pg_cli "$DST" -At -c "SELECT id, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'),
    coalesce(born::text, ''), coalesce(due::text, ''), note, raw, city, full_name
  FROM ev ORDER BY id" > actual.txt
diff expected.txt actual.txt || fail "PostgreSQL rows differ from the independently computed ones"
# The gap was shifted forward: 02:30 local does not exist; 01:30 UTC is 03:30 CEST.
grep -q '^2|2024-03-31 01:30:00|' actual.txt || fail "the gap row was not shifted forward"
pass "zones, zero dates, cp1252, decode, fix_mojibake and an expression land as computed by Python"

# The refused rows: the fold (3), the undefined cp1252 byte (5), the zero date without a rule (6).
expect_exit 1 rejects
cat "$WORK/out"
grep -q "^ev key" "$WORK/out" || fail "no reject lines: $(cat "$WORK/out")"
[[ $(grep -c "^ev key" "$WORK/out") == 3 ]] || fail "expected 3 rejects: $(cat "$WORK/out")"
grep "^ev key" "$WORK/out" | grep "3" | grep -q "2024-10-27 02:30:00 happens twice in Europe/Paris" ||
  fail "the fold reject does not say what happened"
grep -q "(from_tz: Europe/Paris (on_fold: reject))" "$WORK/out" || fail "the fold reject has no rule"
grep -q "raw: cp1252 bytes 0x81 (at byte 1 of 2) have no Unicode mapping (decode: cp1252)" "$WORK/out" ||
  fail "the cp1252 reject does not name the byte and the rule"
grep -q "due: text '0000-00-00' is not a valid date" "$WORK/out" ||
  fail "the zero date without a rule is not a reject naming the value"
pass "the fold, the undefined cp1252 byte and the unruled zero date are rejects with column, rule and value"
