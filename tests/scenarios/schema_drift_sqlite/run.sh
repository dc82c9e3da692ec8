#!/usr/bin/env bash
# Schema changes while following, SQLite -> SQLite (tests/scenarios/lib/drift.sh).
. "$TANDEM_REPO/tests/lib/common.sh"
. "$TANDEM_REPO/tests/scenarios/lib/scenario.sh"
. "$TANDEM_REPO/tests/scenarios/lib/drift.sh"
SRC_KIND=sqlite
SRC_URI=sqlite:old.db
TGT_URI=sqlite:new.db
SRC_WRITER=$WORK/old.db
sqlite3 old.db "PRAGMA journal_mode = WAL" > /dev/null
src_sql() { sqlite3 -batch -cmd ".timeout 10000" "$WORK/old.db" "$1"; }
tgt_sql() { sqlite3 -batch -cmd ".timeout 10000" "$WORK/new.db" "$1"; }
tgt_has_column() { [[ $(tgt_sql "SELECT count(*) FROM pragma_table_info('$1') WHERE name = '$2'") == 1 ]]; }
run_drift_scenario
