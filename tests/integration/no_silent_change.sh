#!/usr/bin/env bash
# Issue 10 item 5: no silent change in either direction.
#  - reverse stream PostgreSQL -> MariaDB: microseconds into a `datetime` without fraction and
#    a text longer than varchar(n) are rejects with their reason (the microseconds used to be
#    dropped without a word), the other rows land;
#  - the same values in the forward backfill into an existing MariaDB table are rejects too;
#  - two column names that PostgreSQL cuts to the same 63 bytes are refused by `check`, with
#    a rename proposed (copy used to fail with the raw server error).
. "$TANDEM_REPO/tests/lib/common.sh"
. "$TANDEM_REPO/tests/lib/oracle.sh"
. "$TANDEM_REPO/tests/lib/matrix.sh"

reverse_rejects() {
  create_db mysql rev_old
  create_db postgres rev_new
  mysql_cli "$(db_uri mysql rev_old)" -e "CREATE TABLE ev (id int PRIMARY KEY, at datetime NOT NULL, label varchar(10));
    INSERT INTO ev VALUES (1, '2024-01-01 00:00:00', 'a'), (2, '2024-01-02 00:00:00', 'b');"
  cat > tandem.yaml <<YAML
source: $(tandem_uri mysql rev_old)
target: $(tandem_uri postgres rev_new)
hooks:
  freeze: "true"
  unfreeze: "true"
tables:
  - source: ev
    columns:
      id: {to: id, type: bigint}
      at: {to: at, type: timestamp}
      label: {to: label, type: text}
YAML
  expect_exit 0 start --until-synced
  expect_exit 0 verify
  expect_exit 0 switch reads
  expect_exit 0 switch writes
  pg_cli "$(db_uri postgres rev_new)" -c "INSERT INTO ev VALUES
    (100, '2024-03-01 10:00:00.123456', 'micro'),
    (101, '2024-03-01 10:00:00', 'longer than ten'),
    (102, '2024-03-01 10:00:00', 'fits');
    UPDATE ev SET at = '2024-01-01 00:00:00.5' WHERE id = 1;"
  "$TANDEM" start >> follower.out 2>> follower.err &
  local fpid=$! deadline=$((SECONDS + 60))
  until [[ $(mysql_cli "$(db_uri mysql rev_old)" -e "SELECT count(*) FROM ev WHERE id = 102") == 1 ]]; do
    ((SECONDS < deadline)) || { tail -5 follower.err; fail "the reverse stream did not apply row 102"; }
    sleep 0.3
  done
  sleep 2
  kill -TERM "$fpid"; wait "$fpid" || true
  local old
  old=$(mysql_cli "$(db_uri mysql rev_old)" -e "SELECT id, at, label FROM ev ORDER BY id")
  echo "$old"
  grep -q "^100" <<<"$old" && fail "row 100 landed on old without its microseconds: $old"
  grep -q "^101" <<<"$old" && fail "row 101 landed on old with its text cut: $old"
  # A row whose new value cannot land is a reject and leaves the receiving side (the invariant
  # source rows = target rows + rejected), never a silently rounded copy.
  grep -q "^1	2024-01-01 00:00:00	a" <<<"$old" || true
  grep -q "^1	2024-01-01 00:00:01" <<<"$old" && fail "row 1 landed on old rounded: $old"
  grep -q "^2	2024-01-02 00:00:00	b" <<<"$old" || fail "row 2 (not changed) is gone from old: $old"
  expect_exit 1 rejects
  cat "$WORK/out"
  grep -q "fractional seconds" "$WORK/out" || fail "no reject for the microseconds: $(cat "$WORK/out")"
  grep -q "too long" "$WORK/out" || fail "no reject for the long text: $(cat "$WORK/out")"
  [[ $(grep -c "^ev key" "$WORK/out") == 3 ]] || fail "expected 3 rejects (rows 100, 101 and 1): $(cat "$WORK/out")"
  pass "reverse stream: microseconds into datetime and a long text into varchar(10) are rejects"
}

forward_rejects() {
  create_db postgres fwd_old
  create_db mysql fwd_new
  pg_cli "$(db_uri postgres fwd_old)" -c "CREATE TABLE ev (id int PRIMARY KEY, at timestamp NOT NULL);
    INSERT INTO ev VALUES (1, '2024-01-01 00:00:00'), (2, '2024-01-01 00:00:00.25');"
  mysql_cli "$(db_uri mysql fwd_new)" -e "CREATE TABLE ev (id bigint PRIMARY KEY, at datetime NOT NULL)"
  cat > tandem.yaml <<YAML
source: $(tandem_uri postgres fwd_old)
target: $(tandem_uri mysql fwd_new)
tables:
  - source: ev
    columns:
      id: {to: id, type: bigint}
      at: {to: at, type: timestamp(0)}
YAML
  expect_exit 1 copy
  cat "$WORK/out"
  expect_exit 1 rejects
  grep -q "fractional seconds" "$WORK/out" || fail "no reject for the fraction in the backfill: $(cat "$WORK/out")"
  [[ $(mysql_cli "$(db_uri mysql fwd_new)" -e "SELECT count(*) FROM ev") == 1 ]] || fail "the row with a fraction landed"
  pass "backfill: a fraction into timestamp(0) is a reject"
}

long_names() {
  local a b
  a="customer_shipping_address_line_for_the_primary_residence_of_the_buyer_one"
  b="customer_shipping_address_line_for_the_primary_residence_of_the_buyer_two"
  sqlite3 src.db "CREATE TABLE t (id integer PRIMARY KEY, $a text, $b text)"
  create_db postgres names_new
  cat > tandem.yaml <<YAML
source: sqlite:src.db
target: $(tandem_uri postgres names_new)
tables:
  - source: t
    columns:
      id: {to: id, type: bigint}
      $a: {to: $a, type: text}
      $b: {to: $b, type: text}
YAML
  expect_exit 2 check
  cat "$WORK/err"
  grep -q "one identifier on PostgreSQL" "$WORK/err" || fail "check did not name the collision: $(cat "$WORK/err")"
  grep -q "'$a' -> to: ${a:0:50}_" "$WORK/err" || fail "check proposed no rename: $(cat "$WORK/err")"
  pass "check refuses two column names that PostgreSQL cuts to the same 63 bytes, with a rename"
}

# A decimal with more fraction digits than the target scale is a reject, not a rounding.
decimal_scale() {
  sqlite3 dec.db "CREATE TABLE p (id INTEGER PRIMARY KEY, price TEXT);
    INSERT INTO p VALUES (1, '19.99'), (2, '1.005'), (3, '7.50');"
  printf 'source: sqlite:dec.db\ntarget: sqlite:dec_new.db\ntables:\n  - source: p\n    columns:\n      id: {to: id, type: bigint}\n      price: {to: price, type: "decimal(10,2)"}\n' > dec.yaml
  expect_exit 1 copy -c dec.yaml
  expect_exit 1 rejects -c dec.yaml
  grep -q "p key (2): price: .*has 3 fraction digits, more than decimal(10,2) keeps" "$WORK/out" ||
    fail "decimal rounding is not a reject: $(cat "$WORK/out")"
  [[ $(sqlite3 dec_new.db "SELECT group_concat(id || '=' || price, ' ') FROM p") == "1=19.99 3=7.5" ]] ||
    fail "decimal rows: $(sqlite3 dec_new.db "SELECT * FROM p")"
  pass "a decimal the target scale cannot hold is a reject"
}

isolate decimals decimal_scale
isolate reverse reverse_rejects
isolate forward forward_rejects
isolate names long_names
((${#FAILED[@]} == 0)) || fail "failed: ${FAILED[*]}"
pass "no silent change"
