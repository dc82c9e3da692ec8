#!/usr/bin/env bash
# Schema changes while following, PostgreSQL -> PostgreSQL (tests/scenarios/lib/drift.sh).
. "$TANDEM_REPO/tests/lib/common.sh"
. "$TANDEM_REPO/tests/scenarios/lib/cross.sh"
. "$TANDEM_REPO/tests/scenarios/lib/drift.sh"
SRC_KIND=postgres
create_db postgres source
create_db postgres target
SRC_URI=$(uri_of postgres source)
TGT_URI=$(uri_of postgres target)
SRC_WRITER=$SRC_URI
src_sql() { psql -qAtX -v ON_ERROR_STOP=1 "$SRC_URI" -c "$1"; }
tgt_sql() { psql -qAtX -v ON_ERROR_STOP=1 "$TGT_URI" -c "$1"; }
tgt_has_column() {
  [[ $(tgt_sql "SELECT count(*) FROM information_schema.columns WHERE table_name = '$1' AND column_name = '$2'") == 1 ]]
}
run_drift_scenario
