#!/usr/bin/env bash
# The invariant source rows = target rows + rejected rows: `tandem status` and the copy summary
# show it per table; a target row deleted behind tandem's back makes status say so loudly and
# exit 3 (plain and --json), until a copy puts the row back.
. "$TANDEM_REPO/tests/lib/common.sh"
sqlite3 old.db "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT);
  WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100)
  INSERT INTO t SELECT i, 'v' || i FROM n;"
"$TANDEM" init --source sqlite:old.db --target sqlite:new.db -o tandem.yaml >/dev/null
expect_exit 0 copy -c tandem.yaml
grep -qE "^t +100 +100 +0  ok" out || fail "copy summary: $(cat out)"
expect_exit 0 status -c tandem.yaml
grep -q "source 100 = target 100 + rejected 0: ok" out || fail "status: $(cat out)"
sqlite3 new.db "DELETE FROM t WHERE id = 42"
expect_exit 3 status -c tandem.yaml
grep -q "!!! BROKEN: source 100 != target 99 + rejected 0 (1 row(s) missing from the target)" out ||
  fail "status should be loud: $(cat out)"
grep -q "ROWS DO NOT ADD UP for t" err || fail "status error: $(cat err)"
expect_exit 3 status -c tandem.yaml --json
"$PYTHON" -c "import json,sys; j=json.load(open('$WORK/out')); assert j['balance_broken']==['t'], j; assert j['tables'][0]['balance']=='broken'" ||
  fail "status --json should say broken"
expect_exit 0 copy -c tandem.yaml
expect_exit 0 status -c tandem.yaml
pass "a target row deleted behind tandem's back: status is loud and exits 3; a copy restores it"
