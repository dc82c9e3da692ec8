#!/usr/bin/env bash
# postgres (bigserial) -> mariadb (AUTO_INCREMENT): ids picked by the database across switch
# writes, rollback and switch writes; zero collisions, zero lost writes.
. "$TANDEM_REPO/tests/lib/common.sh"
. "$TANDEM_REPO/tests/scenarios/lib/sequences.sh"
run_sequences postgres mysql
