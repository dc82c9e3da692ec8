#!/usr/bin/env bash
# Backfill while an application writes (inserts, updates, deletes, key-changing updates,
# multi-row transactions); verify during and after the writes; the writer's own record of its
# commits is the oracle for both databases.
. "$TANDEM_REPO/tests/lib/common.sh"
. "$TANDEM_REPO/tests/scenarios/lib/scenario.sh"
make_scenario 6000 250
start_writer 11 250
sleep 0.5
start_follower
wait_phase dual-write 120  # polls `tandem status` while the follower starts: must not disturb it
follower=$("$TANDEM" status -c tandem.yaml --json | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["follower"])')
[[ $follower == "$FOLLOWER_PID" ]] || fail "status names follower '$follower', expected $FOLLOWER_PID"
expect_exit 3 start -c tandem.yaml
grep -q "pid $FOLLOWER_PID is already following" err || fail "second start: $(cat err)"
pass "status names the running follower; a second start refuses"
expect_exit 0 verify -c tandem.yaml
grep -E "^0 differences" out || fail "verify during writes: $(cat out)"
pass "verify while the writer runs: 0 lasting differences ($(grep -o '[0-9]* transient' out))"
sleep 1
stop_writer
expect_exit 0 verify -c tandem.yaml
stop_follower
check_side new
check_side old
