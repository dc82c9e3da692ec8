#!/usr/bin/env bash
# postgres -> mysql: writer + kill -9 + resume + verify, checked against the writer's commits.
. "$TANDEM_REPO/tests/lib/common.sh"
. "$TANDEM_REPO/tests/scenarios/lib/cross.sh"
run_cross postgres mysql
