#!/usr/bin/env bash
# Guards and hooks: a failing hook aborts its switch and leaves the phase and the writes where
# they were; a transform that cannot run in reverse refuses `switch writes` until the mapping
# says `reverse:`; rollback before any switch stops the migration and removes capture, and
# `tandem start` begins again from there.
. "$TANDEM_REPO/tests/lib/common.sh"
. "$TANDEM_REPO/tests/scenarios/lib/scenario.sh"
make_scenario 2000 500
sed -i 's/^  reads: .*/  reads: exit $(cat fail_reads 2>\/dev\/null || echo 0)/' tandem.yaml
sed -i 's/^  writes: .*/  writes: test ! -e fail_writes \&\& echo "$TANDEM_WRITES" > pointer/' tandem.yaml
expect_exit 0 start -c tandem.yaml --until-synced
expect_exit 0 verify -c tandem.yaml

echo 7 > fail_reads
expect_exit 3 switch reads -c tandem.yaml
grep -q "hook reads .* failed with exit code 7" err || fail "failed reads hook message: $(cat err)"
[[ $(phase) == verified ]] || fail "a failed reads hook must leave phase verified, not $(phase)"
rm fail_reads
expect_exit 0 switch reads -c tandem.yaml
pass "a failing reads hook aborts the switch"

touch fail_writes
expect_exit 3 switch writes -c tandem.yaml
grep -q "aborted, writes stay on old" err || fail "failed writes hook message: $(cat err)"
[[ $(phase) == read-new && $(cat pointer) == old ]] || fail "after a failed writes hook: $(phase), pointer $(cat pointer)"
timeout 5 sqlite3 old.db "UPDATE accounts SET balance = balance + 1 WHERE id = 1" ||
  fail "old must not stay frozen after an aborted switch"
rm fail_writes
pass "a failing writes hook aborts the cutover and unfreezes old"

# A transform with no inverse: refused until the mapping says reverse: as_is.
sed -i 's/      owner: {to: owner_name, type: varchar(64)}/      owner: {to: owner_name, type: varchar(64), transform: [trim]}/' tandem.yaml
expect_exit 3 switch writes -c tandem.yaml
grep -q "column accounts.owner has a transform that cannot be inverted" err || fail "reverse guard: $(cat err)"
[[ $(phase) == read-new ]] || fail "phase after a refused switch: $(phase)"
sed -i 's/transform: \[trim\]}/transform: [trim], reverse: as_is}/' tandem.yaml
expect_exit 0 switch writes -c tandem.yaml
[[ $(phase) == write-new && $(cat pointer) == new ]] || fail "switch writes after reverse: as_is"
pass "a non-invertible transform refuses switch writes until reverse: as_is"

expect_exit 0 rollback -c tandem.yaml
expect_exit 0 rollback -c tandem.yaml
[[ $(phase) == verified ]] || fail "two rollbacks from write-new lead to verified, not $(phase)"
expect_exit 0 rollback -c tandem.yaml
[[ $(phase) == stopped ]] || fail "rollback before any switch stops the migration, not $(phase)"
left=$(sqlite3 old.db "select count(*) from sqlite_master where name like '_tandem%'")
[[ $left == 0 ]] || fail "old.db keeps $left tandem objects after the migration stopped"
[[ $(sqlite3 new.db "select count(*) from account") -gt 0 ]] || fail "the target's rows must stay"
expect_exit 3 rollback -c tandem.yaml
pass "rollback before any switch removes capture and keeps the target's rows"

sqlite3 old.db "INSERT INTO accounts VALUES (424242, 'late', 1, 'after the stop')"
expect_exit 0 start -c tandem.yaml --until-synced
expect_exit 0 verify -c tandem.yaml
[[ $(sqlite3 new.db "select owner_name from account where id = 424242") == late ]] || fail "restart after stop"
pass "tandem start begins again after a stop"

# A rollback while a follower is still backfilling stops that follower cleanly.
expect_exit 0 rollback -c tandem.yaml
sqlite3 old.db "WITH RECURSIVE n(i) AS (SELECT 500000 UNION ALL SELECT i + 1 FROM n WHERE i < 700000)
                INSERT INTO accounts SELECT i, 'bulk ' || i, i, NULL FROM n"
"$TANDEM" start -c tandem.yaml > follower.out 2> follower.err &
follower=$!
wait_phase backfill 30
expect_exit 0 rollback -c tandem.yaml
set +e; wait "$follower"; rc=$?; set -e
[[ $rc == 0 ]] || { cat follower.err; fail "the follower exited $rc after a rollback during its backfill"; }
grep -q "rolled back during the backfill" follower.out || fail "follower said: $(tail -2 follower.out)"
[[ $(phase) == stopped ]] || fail "phase after rollback during the backfill: $(phase)"
pass "a rollback during the backfill stops the follower cleanly"
