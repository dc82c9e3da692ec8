#!/usr/bin/env bash
# Issue 11 item 7: right after `switch writes` (PostgreSQL -> PostgreSQL), two concurrent
# transactions on new each update three rows and then fail. Nothing else commits on new, as
# in an emergency. The reverse stream must show no lag and `tandem rollback` must succeed at
# once (it used to wait 60 s and give up with "writes stay on new").
. "$TANDEM_REPO/tests/lib/common.sh"
. "$TANDEM_REPO/tests/lib/oracle.sh"
. "$TANDEM_REPO/tests/lib/matrix.sh"
create_db postgres old
create_db postgres new
pg_cli "$(db_uri postgres old)" -c "CREATE TABLE acct (id bigint PRIMARY KEY, balance bigint NOT NULL);
  INSERT INTO acct SELECT i, i * 10 FROM generate_series(1, 50) i;" >/dev/null
cat > tandem.yaml <<YAML
source: $(tandem_uri postgres old)
target: $(tandem_uri postgres new)
hooks:
  freeze: "true"
  unfreeze: "true"
tables:
  - source: acct
    columns:
      id: {to: id, type: bigint}
      balance: {to: balance, type: bigint}
YAML
expect_exit 0 start --until-synced
expect_exit 0 verify
expect_exit 0 switch reads
expect_exit 0 switch writes
NEW=$(db_uri postgres new)
# Two concurrent transactions on new, three updates each, then an error: both roll back.
for c in 1 2; do
  psql -qAtX "$NEW" -v ON_ERROR_STOP=1 > "abort.$c" 2>&1 <<SQL &
BEGIN;
UPDATE acct SET balance = balance + 1 WHERE id IN ($c, $((c + 10)), $((c + 20)));
SELECT pg_sleep(0.5);
SELECT 1 / 0;
COMMIT;
SQL
done
wait || true
grep -q "division by zero" abort.1 && grep -q "division by zero" abort.2 || fail "the transactions did not fail: $(cat abort.*)"
expect_exit 0 status --json
lag=$("$PYTHON" -c 'import json,sys; print(json.load(open(sys.argv[1]))["reverse"]["lag_changes"])' "$WORK/out")
[[ $lag == 0 ]] || fail "reverse lag after two failed transactions is $lag changes, not 0"
SECONDS=0
expect_exit 0 rollback --drain-timeout 20
((SECONDS < 10)) || fail "rollback took ${SECONDS} s after failed transactions on new"
[[ $(pg_cli "$NEW" -c "SELECT sum(balance) FROM acct") == $(pg_cli "$(db_uri postgres old)" -c "SELECT sum(balance) FROM acct") ]] ||
  fail "old and new differ after the rollback"
pass "two failed transactions on new: reverse lag 0, rollback in ${SECONDS} s"
