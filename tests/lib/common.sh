# Shared helpers for script tests. Source it: `. "$TANDEM_REPO/tests/lib/common.sh"`.
set -euo pipefail
: "${TANDEM_REPO:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
: "${TANDEM:=$TANDEM_REPO/build/tandem}"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tandem-test.XXXXXX")
# On any exit (a failure included) stop what the test started in the background.
stop_jobs() { local p; for p in $(jobs -p); do kill "$p" 2>/dev/null; done; wait 2>/dev/null || true; }
trap 'stop_jobs; rm -rf "$WORK"' EXIT
cd "$WORK"

# Debian's python3 (with python3-psycopg2 and python3-pymysql from install-deps).
PYTHON=$(command -v /usr/bin/python3 || command -v python3)

fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok: $*"; }

# Runs tandem, expecting exit code $1; keeps stdout in $WORK/out and stderr in $WORK/err.
expect_exit() {
  local want=$1; shift
  set +e
  "$TANDEM" "$@" >"$WORK/out" 2>"$WORK/err"
  local got=$?
  set -e
  if [[ $got != "$want" ]]; then
    echo "--- stdout"; cat "$WORK/out"; echo "--- stderr"; tail -20 "$WORK/err"
    fail "tandem $* exited $got, expected $want"
  fi
}

# The oracle: every row of a SQLite table, typed (.mode quote), sorted. Independent of tandem.
sqlite_dump() {
  local db=$1 table=$2
  sqlite3 -batch "$db" ".mode quote" "SELECT * FROM \"${table//\"/\"\"}\"" | LC_ALL=C sort
}
