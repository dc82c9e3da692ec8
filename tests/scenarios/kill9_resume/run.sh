#!/usr/bin/env bash
# kill -9 of `tandem start` at random moments (backfill and following), 6 times, while the
# application writes; each restart resumes; nothing is lost.
. "$TANDEM_REPO/tests/lib/common.sh"
. "$TANDEM_REPO/tests/scenarios/lib/scenario.sh"
make_scenario 40000 200
start_writer 22 250
kills=0
for i in 1 2 3 4 5 6; do
  "$TANDEM" start -c tandem.yaml >> follower.out 2>> follower.err &
  pid=$!
  # Early kills land in the backfill, later ones while following.
  sleep "$(python3 -c "import random; random.seed($i); print(round(random.uniform(0.1, 0.4) if $i <= 3 else random.uniform(0.2, 1.5), 2))")"
  if kill -9 "$pid" 2>/dev/null; then kills=$((kills + 1)); fi
  wait "$pid" 2>/dev/null || true
  echo "kill $i: phase $(phase), $(sqlite3 new.db 'select count(*) from account' 2>/dev/null) accounts in new" 
done
((kills >= 5)) || fail "only $kills kills landed"
start_follower
wait_phase dual-write 180
sleep 1
stop_writer
expect_exit 0 verify -c tandem.yaml
stop_follower
check_side new
check_side old
pass "$kills kill -9s, resumed, nothing lost"
