#!/usr/bin/env bash
# kill -9 at every stage of `switch writes`, `rollback` and `finalize` (and of a rollback
# before any switch), with a live writer that follows the hooks. After each kill, `status`
# names the interrupted step, the next command finishes or undoes it, old is never left
# frozen, and at the end both sides hold exactly the writer's committed rows.
. "$TANDEM_REPO/tests/lib/common.sh"
. "$TANDEM_REPO/tests/scenarios/lib/scenario.sh"
make_scenario 3000 500
start_writer 71 120
start_follower
wait_phase dual-write 120
expect_exit 0 verify -c tandem.yaml
expect_exit 0 switch reads -c tandem.yaml

# crash COMMAND... : the command killed at TANDEM_CRASH_AT, then status names the step.
crash() {
  local at=$1; shift
  set +e
  TANDEM_CRASH_AT=$at "$TANDEM" "$@" -c tandem.yaml > "$WORK/out" 2> "$WORK/err"
  local rc=$?
  set -e
  [[ $rc == 137 ]] || { cat "$WORK/out" "$WORK/err"; fail "tandem $* with TANDEM_CRASH_AT=$at exited $rc, not killed"; }
  expect_exit 0 status -c tandem.yaml
  grep -q "INTERRUPTED: " "$WORK/out" || fail "status after a kill at $at does not name the step: $(cat "$WORK/out")"
}
# old (and new) accept a write at once: nothing stays frozen. The write lock is taken and
# given back without writing: a write on the side the writer is not on, even one that changes
# nothing, fires capture, and the stream would copy that side's row over a newer one the
# writer just committed on the other (it lost row 1's updates in a CI run that did so).
writable() {
  timeout 8 sqlite3 -cmd ".timeout 5000" old.db "BEGIN IMMEDIATE; ROLLBACK;" || fail "old stays frozen ($1)"
  timeout 8 sqlite3 -cmd ".timeout 5000" new.db "BEGIN IMMEDIATE; ROLLBACK;" || fail "new stays frozen ($1)"
}
at_phase() {  # at_phase PHASE POINTER
  [[ $(phase) == "$1" && $(cat pointer) == "$2" ]] || fail "expected phase $1 with writes on $2, got $(phase) on $(cat pointer)"
}

for stage in freezing draining reverse hooking unfreezing; do
  crash "switch-writes:$stage" switch writes
  expect_exit 0 switch writes -c tandem.yaml
  grep -q "interrupted step recovered" "$WORK/out" || fail "switch writes after a kill at $stage did not recover: $(cat "$WORK/out")"
  at_phase write-new new
  writable "after switch writes killed at $stage"
  sleep 0.5
  if [[ $stage != reverse ]]; then  # rollback has no reverse stage
    crash "rollback-writes:$stage" rollback
    expect_exit 0 rollback -c tandem.yaml
    grep -q "interrupted step recovered" "$WORK/out" || fail "rollback after a kill at $stage did not recover: $(cat "$WORK/out")"
  else
    expect_exit 0 rollback -c tandem.yaml
  fi
  at_phase read-new old
  writable "after rollback killed at $stage"
  pass "kill -9 during switch writes and rollback at stage $stage: recovered"
  sleep 0.5
done

expect_exit 0 switch writes -c tandem.yaml
sleep 1
stop_writer
expect_exit 0 verify -c tandem.yaml
check_side old
check_side new

crash finalize:draining finalize
crash finalize:removing finalize
crash finalize:removed finalize
expect_exit 0 finalize -c tandem.yaml
[[ $(phase) == finalized ]] || fail "phase after finalize: $(phase)"
wait "$FOLLOWER_PID" || fail "the follower did not stop cleanly at finalize"
for db in old.db new.db; do
  left=$(sqlite3 "$db" "select count(*) from sqlite_master where name like '_tandem%'")
  [[ $left == 0 ]] || fail "$db still has $left tandem objects after finalize"
done
check_side old
check_side new
pass "kill -9 at each stage of finalize: the next finalize completes it; nothing lost"

# Rollback before any switch, killed while removing capture and after: re-run completes it.
rm -rf stop2 && mkdir stop2 && cd stop2
make_scenario 500 100
expect_exit 0 start -c tandem.yaml --until-synced
crash stop:removing rollback
crash stop:removed rollback
expect_exit 0 rollback -c tandem.yaml
[[ $(phase) == stopped ]] || fail "phase after the re-run rollback: $(phase)"
left=$(sqlite3 old.db "select count(*) from sqlite_master where name like '_tandem%'")
[[ $left == 0 ]] || fail "old still has $left tandem objects after rollback"
expect_exit 3 rollback -c tandem.yaml
grep -q "already stopped" "$WORK/err" || fail "a third rollback: $(cat "$WORK/err")"
pass "kill -9 during a rollback before any switch: the next rollback removes capture"

# A freeze by hooks: a kill while frozen, or a failing freeze hook, never leaves old frozen.
sed -i 's/^hooks:$/hooks:\n  freeze: test ! -e fail_freeze \&\& touch frozen.$TANDEM_SIDE\n  unfreeze: rm -f frozen.$TANDEM_SIDE/' tandem.yaml
expect_exit 0 start -c tandem.yaml --until-synced
expect_exit 0 verify -c tandem.yaml
expect_exit 0 switch reads -c tandem.yaml
touch fail_freeze
expect_exit 3 switch writes -c tandem.yaml
expect_exit 0 status -c tandem.yaml --json
grep -q '"frozen": null' "$WORK/out" || fail "a failed freeze hook left a freeze recorded: $(cat "$WORK/out")"
rm fail_freeze
crash switch-writes:draining switch writes
[[ -e frozen.old ]] || fail "the freeze hook did not run before the kill"
expect_exit 0 verify -c tandem.yaml
[[ ! -e frozen.old ]] || fail "old is still frozen after the next command"
grep -q "interrupted step recovered" "$WORK/out" || fail "verify did not recover the interrupted switch: $(cat "$WORK/out")"
at_phase read-new old
pass "a failed freeze hook and a kill while frozen by hooks: old is unfrozen by the next command"

# The same with a real kill -9 (no crash point) while a slow freeze hook holds old frozen.
sed -i 's/touch frozen.$TANDEM_SIDE$/touch frozen.$TANDEM_SIDE \&\& sleep $(cat freeze_sleep 2>\/dev\/null || echo 0)/' tandem.yaml
grep -q freeze_sleep tandem.yaml || fail "the freeze hook was not made slow"
echo 20 > freeze_sleep
"$TANDEM" switch writes -c tandem.yaml > sw.out 2>&1 &
pid=$!
for ((i = 0; i < 100; i++)); do [[ -e frozen.old ]] && break; sleep 0.1; done
[[ -e frozen.old ]] || fail "the slow freeze hook never ran: $(cat sw.out)"
kill -9 "$pid"
wait "$pid" 2>/dev/null || true
rm freeze_sleep
expect_exit 0 status -c tandem.yaml
grep -q "writes on old are frozen" "$WORK/out" || fail "status does not say old is frozen: $(cat "$WORK/out")"
expect_exit 0 verify -c tandem.yaml
[[ ! -e frozen.old ]] || fail "old is still frozen after a kill -9 during the freeze hook and the next command"
at_phase read-new old
expect_exit 0 switch writes -c tandem.yaml
at_phase write-new new
pass "kill -9 during a slow freeze hook: status says old is frozen, the next command unfreezes it"
