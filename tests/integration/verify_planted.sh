#!/usr/bin/env bash
# Differences planted directly in the target (a changed value, a missing row, an extra row,
# NULL instead of an empty string) are each reported with key and column, and nothing else.
. "$TANDEM_REPO/tests/lib/common.sh"
. "$TANDEM_REPO/tests/scenarios/lib/scenario.sh"
make_scenario 3000 400
expect_exit 0 start -c tandem.yaml --until-synced
expect_exit 0 verify -c tandem.yaml
grep -q "^0 differences" out || fail "clean copy should verify: $(cat out)"

note1=$(sqlite3 old.db "select quote(note) from accounts where id = 1")
[[ $note1 == "''" ]] || fail "fixture: account 1 should have an empty note, has $note1"
sqlite3 new.db <<'SQL'
UPDATE account SET balance = balance + 1 WHERE id = 42;
DELETE FROM account WHERE id = 1500;
INSERT INTO account (id, owner_name, balance, note) VALUES (99999, 'ghost', 0, NULL);
UPDATE account SET note = NULL WHERE id = 1;
UPDATE pair_values SET value = 'changed' WHERE a = 'Ost' AND b = 6;
SQL
# The same differences whatever the number of jobs (ranges compared at once, each job on its
# own connections): 3000 accounts in ranges of 400 rows.
check_planted() {  # check_planted JOBS
  expect_exit 1 verify -c tandem.yaml --jobs "$1" --json report.json
  cat out
  grep -q "^accounts -> account .* 4 differences" out || fail "--jobs $1: accounts should have 4 differences"
  grep -q "^pairs -> pair_values .* 1 difference$" out || fail "--jobs $1: pairs should have 1 difference"
  grep -qF "accounts key (42): balance: source 420 target 421" out || fail "--jobs $1: changed value not reported"
  grep -qF "accounts key (1500): missing in target" out || fail "--jobs $1: missing row not reported"
  grep -qF "accounts key (99999): extra in target" out || fail "--jobs $1: extra row not reported"
  grep -qF "accounts key (1): note: source '' target NULL" out || fail "--jobs $1: NULL vs empty string not reported"
  grep -qF "pairs key ('Ost', 6): value: source 'v6' target 'changed'" out || fail "--jobs $1: composite key difference"
  [[ $(grep -c "^    " out) == 5 ]] || fail "--jobs $1: expected exactly 5 difference lines"
  python3 - <<'PY' || fail "--jobs $1: JSON report"
import json
r = json.load(open("report.json"))
assert r["differences"] == 5, r["differences"]
kinds = sorted(d["kind"] for t in r["tables"] for d in t["differences"])
assert kinds == ["changed", "changed", "changed", "extra", "missing"], kinds
PY
}
check_planted 1
check_planted 2
[[ $(phase) == dual-write ]] || fail "a verify with differences leaves phase dual-write, not $(phase)"
pass "each planted difference reported with its key and column, nothing else"
