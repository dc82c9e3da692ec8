# Helpers for tests that copy across engines (matrix_*.sh): the test servers' URIs, a fresh
# database per engine and name (dropped at exit), and pairs run in isolation. Source it after
# common.sh and oracle.sh.

envfile=${TANDEM_TEST_SERVERS:?TANDEM_TEST_SERVERS is not set}/env
[[ -f $envfile ]] || fail "no test servers ($envfile missing): run tests/servers/up.sh"
PG_BASE=$(grep '^TANDEM_TEST_PG=' "$envfile" | cut -d= -f2-)
MY_BASE=$(grep '^TANDEM_TEST_MYSQL=' "$envfile" | cut -d= -f2-)
[[ $PG_BASE =~ ^postgres://([^:]+):([^@]+)@(.*)/[^/]*$ ]] || fail "bad PostgreSQL URI"
PG_NOPW="postgres://${BASH_REMATCH[1]}@${BASH_REMATCH[3]}"
export TANDEM_SOURCE_PASSWORD=${BASH_REMATCH[2]}
[[ $MY_BASE =~ ^mysql://([^:]+):([^@]+)@(.*)/[^/]*$ ]] || fail "bad MariaDB URI"
MY_NOPW="mysql://${BASH_REMATCH[1]}@${BASH_REMATCH[3]}"
[[ ${BASH_REMATCH[2]} == "$TANDEM_SOURCE_PASSWORD" ]] ||
  fail "this test expects one password for both test servers"
export TANDEM_TARGET_PASSWORD=$TANDEM_SOURCE_PASSWORD
RUN=${MATRIX_PREFIX:-mx}_$(date +%s)_$$
CREATED=()

# db_uri ENGINE NAME: what the CLIs connect to; tandem_uri ENGINE NAME: what the mapping names.
db_uri() {
  case $1 in
    sqlite) echo "$WORK/$2.db" ;;
    postgres) echo "${PG_BASE%/*}/${RUN}_$2" ;;
    mysql) echo "${MY_BASE%/*}/${RUN}_$2" ;;
  esac
}
tandem_uri() {
  case $1 in
    sqlite) echo "sqlite:$WORK/$2.db" ;;
    postgres) echo "$PG_NOPW/${RUN}_$2" ;;
    mysql) echo "$MY_NOPW/${RUN}_$2" ;;
  esac
}
create_db() {
  case $1 in
    postgres) pg_cli "$PG_BASE" -c "CREATE DATABASE ${RUN}_$2" ;;
    mysql) mysql_cli "$MY_BASE" -e "CREATE DATABASE ${RUN}_$2 CHARACTER SET utf8mb4" ;;
    *) return 0 ;;
  esac
  CREATED+=("$1:${RUN}_$2")
}
drop_dbs() {
  for x in "${CREATED[@]}"; do
    case ${x%%:*} in
      postgres) pg_cli "$PG_BASE" -c "DROP DATABASE IF EXISTS ${x#*:} WITH (FORCE)" || true ;;
      mysql) mysql_cli "$MY_BASE" -e "DROP DATABASE IF EXISTS ${x#*:}" || true ;;
    esac
  done
}
trap 'drop_dbs; rm -rf "$WORK"' EXIT

# isolate NAME COMMAND...: runs COMMAND in a subshell (with errexit) in $WORK/NAME.d; a failure
# is recorded in FAILED and the caller goes on, so one failing pair does not hide the others.
FAILED=()
isolate() {
  local name=$1 rc; shift
  mkdir -p "$WORK/$name.d"
  set +e
  (set -e; cd "$WORK/$name.d"; "$@")
  rc=$?
  set -e
  [[ $rc == 0 ]] || FAILED+=("$name")
}
