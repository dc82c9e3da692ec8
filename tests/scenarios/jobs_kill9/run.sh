#!/usr/bin/env bash
# `tandem start --jobs 2` with a live writer, killed with -9 during the parallel backfill (and
# later): every resumed run redoes the chunks left copying, and the result converges to the
# writer's committed rows on both sides (sqlite -> postgres).
. "$TANDEM_REPO/tests/lib/common.sh"
. "$TANDEM_REPO/tests/scenarios/lib/cross.sh"
START_ARGS=(--jobs 2)
make_cross_source sqlite 150000
write_cross_config sqlite postgres 400
start_writer 45 150
kill_loop 5 > kills.log
cat kills.log
# A kill hit the backfill while two jobs were copying.
(($(grep -c "phase backfill" kills.log) >= 1)) || fail "no kill landed during the backfill"
grep -q '"event":"chunk_started".*"job":2,"jobs":2' follower.err || fail "job 2 never copied a chunk"
start_follower
wait_phase dual-write 180
sleep 1
stop_writer
expect_exit 0 verify -c tandem.yaml --jobs 2
grep "differences;" out
grep -q "^0 differences" out || fail "verify: $(cat out)"
stop_follower
check_cross_side postgres target new
check_cross_side sqlite source old
pass "--jobs 2: $KILLS kill -9s with a live writer, each parallel backfill resumed, nothing lost"
