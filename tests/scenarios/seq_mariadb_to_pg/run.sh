#!/usr/bin/env bash
# mariadb (AUTO_INCREMENT) -> postgres (identity): ids picked by the database across switch
# writes, rollback and switch writes; zero collisions, zero lost writes.
. "$TANDEM_REPO/tests/lib/common.sh"
. "$TANDEM_REPO/tests/scenarios/lib/sequences.sh"
run_sequences mysql postgres
