#!/usr/bin/env bash
# Every phase with a live writer that follows the hooks: switch reads, roll back, switch
# reads, switch writes, roll back, switch writes, finalize. Writes land on both sides before
# and after each step; both databases end equal to the writer's committed rows.
. "$TANDEM_REPO/tests/lib/common.sh"
. "$TANDEM_REPO/tests/scenarios/lib/scenario.sh"
make_scenario 4000 500
start_writer 33 150
start_follower
wait_phase dual-write 120

expect_exit 3 switch reads -c tandem.yaml
grep -q "no clean \`tandem verify\`" err || fail "switch reads guard: $(cat err)"
pass "switch reads refuses before a clean verify"
expect_exit 0 verify -c tandem.yaml
[[ $(phase) == verified ]] || fail "phase after a clean verify: $(phase)"
expect_exit 0 switch reads -c tandem.yaml
[[ $(phase) == read-new ]] || fail "phase after switch reads: $(phase)"
sleep 0.5
expect_exit 0 rollback -c tandem.yaml
[[ $(phase) == verified ]] || fail "phase after rolling back reads: $(phase)"
pass "reads switched and rolled back"
expect_exit 0 switch reads -c tandem.yaml

expect_exit 0 switch writes -c tandem.yaml
cat out
[[ $(phase) == write-new && $(cat pointer) == new ]] || fail "after switch writes: $(phase), pointer $(cat pointer)"
sleep 1.5
expect_exit 0 status -c tandem.yaml
cat out
expect_exit 0 rollback -c tandem.yaml
cat out
[[ $(phase) == read-new && $(cat pointer) == old ]] || fail "after rollback: $(phase), pointer $(cat pointer)"
sleep 1.5
expect_exit 0 switch writes -c tandem.yaml
cat out
sleep 1
# The follower prunes what the reverse stream applied (every 5 s) from new's change table.
mark=$(sqlite3 -cmd ".timeout 5000" new.db "SELECT coalesce(max(seq), 0) FROM _tandem_changes")
sleep 6.5
left=$(sqlite3 -cmd ".timeout 5000" new.db "SELECT count(*) FROM _tandem_changes WHERE seq <= $mark")
((mark > 0)) || fail "no change recorded on new while the writer wrote there"
[[ $left == 0 ]] || fail "$left reverse changes up to seq $mark were not pruned from new"
pass "the reverse stream's applied changes are pruned from new (up to seq $mark)"
stop_writer
grep -q '"new": [1-9]' writer.log || fail "the writer never wrote on new"
expect_exit 0 verify -c tandem.yaml
check_side new
check_side old
pass "rollback of writes lost nothing on either side"

expect_exit 0 finalize -c tandem.yaml
wait "$FOLLOWER_PID" || fail "follower did not stop cleanly at finalize"
[[ $(phase) == finalized ]] || fail "phase: $(phase)"
for db in old.db new.db; do
  left=$(sqlite3 "$db" "select count(*) from sqlite_master where name like '_tandem%'")
  [[ $left == 0 ]] || fail "$db still has $left tandem objects after finalize"
done
diff <(printf 'reads -> new\nreads -> old\nrollback (verified)\nreads -> new\nwrites -> new\nwrites -> old\nrollback (read-new)\nwrites -> new\n') hooks.log ||
  fail "hooks ran in the wrong order"
pass "finalized; capture removed from both sides; hooks ran in order"
