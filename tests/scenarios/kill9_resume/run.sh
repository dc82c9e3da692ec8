#!/usr/bin/env bash
# kill -9 of `tandem start` at random moments (backfill and following), 6 times, while the
# application writes; each restart resumes; nothing is lost.
. "$TANDEM_REPO/tests/lib/common.sh"
. "$TANDEM_REPO/tests/scenarios/lib/scenario.sh"
make_scenario 40000 200
start_writer 22 250
kill_loop 6
start_follower
wait_phase dual-write 180
sleep 1
stop_writer
expect_exit 0 verify -c tandem.yaml
stop_follower
check_side new
check_side old
pass "$KILLS kill -9s, resumed, nothing lost"
