#!/usr/bin/env bash
# mysql -> postgres: writer + kill -9 + resume + verify, checked against the writer's commits.
. "$TANDEM_REPO/tests/lib/common.sh"
. "$TANDEM_REPO/tests/scenarios/lib/cross.sh"
run_cross mysql postgres
