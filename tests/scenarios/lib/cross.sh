# Live-writer scenarios across engines: the source is SQLite, PostgreSQL or MariaDB, the target
# another engine; the writer's committed rows are the oracle for both. Source after common.sh.
SCENARIO_LIB=$TANDEM_REPO/tests/scenarios/lib
. "$SCENARIO_LIB/scenario.sh"

envfile=${TANDEM_TEST_SERVERS:?TANDEM_TEST_SERVERS is not set}/env
[[ -f $envfile ]] || fail "no test servers ($envfile missing): run tests/servers/up.sh"
PG_BASE=$(grep '^TANDEM_TEST_PG=' "$envfile" | cut -d= -f2-)
MY_BASE=$(grep '^TANDEM_TEST_MYSQL=' "$envfile" | cut -d= -f2-)
[[ -n $PG_BASE && -n $MY_BASE ]] || fail "the test server env file lacks a URI"
[[ $MY_BASE =~ ^mysql://([^:]+):([^@]+)@([^:/]+):([0-9]+)/ ]] || fail "bad MariaDB URI"
MY_ARGS=(--protocol=tcp -h "${BASH_REMATCH[3]}" -P "${BASH_REMATCH[4]}" -u "${BASH_REMATCH[1]}" --default-character-set=utf8mb4)
export MYSQL_PWD=${BASH_REMATCH[2]}
DBNAME=scen_$(date +%s)_$$
CREATED=()

uri_of() {  # uri_of ENGINE -> URI of this scenario's database in ENGINE (role: source|target)
  case $1 in
    sqlite) echo "sqlite:$2.db" ;;
    postgres) echo "${PG_BASE%/*}/${DBNAME}_$2" ;;
    mysql) echo "${MY_BASE%/*}/${DBNAME}_$2" ;;
  esac
}

run_sql() {  # run_sql ENGINE ROLE SQL
  case $1 in
    sqlite) sqlite3 -batch "$2.db" "$3" ;;
    postgres) psql -qAtX -v ON_ERROR_STOP=1 "$(uri_of postgres "$2")" -c "$3" ;;
    mysql) mariadb "${MY_ARGS[@]}" -N -B -r "${DBNAME}_$2" -e "$3" ;;
  esac
}

create_db() {  # create_db ENGINE ROLE
  case $1 in
    postgres) psql -qAtX "$PG_BASE" -c "CREATE DATABASE ${DBNAME}_$2" ;;
    mysql) mariadb "${MY_ARGS[@]}" -e "CREATE DATABASE ${DBNAME}_$2" ;;
    *) return 0 ;;
  esac
  CREATED+=("$1:${DBNAME}_$2")
}

drop_dbs() {
  for x in "${CREATED[@]}"; do
    case ${x%%:*} in
      postgres) psql -qAtX "$PG_BASE" -c "DROP DATABASE IF EXISTS ${x#*:} WITH (FORCE)" || true ;;
      mysql) mariadb "${MY_ARGS[@]}" -e "DROP DATABASE IF EXISTS ${x#*:}" || true ;;
    esac
  done
}
trap 'stop_jobs; drop_dbs; rm -rf "$WORK"' EXIT

make_cross_source() {  # make_cross_source ENGINE ROWS
  local e=$1 n=$2 text=TEXT key=TEXT gen
  [[ $e == mysql ]] && key="VARCHAR(16)" && text="VARCHAR(200)"
  create_db "$e" source
  run_sql "$e" source "CREATE TABLE accounts (id BIGINT PRIMARY KEY, owner $text NOT NULL, balance BIGINT, note TEXT)" >/dev/null
  run_sql "$e" source "CREATE TABLE pairs (a $key NOT NULL, b BIGINT NOT NULL, v TEXT, PRIMARY KEY (a, b))" >/dev/null
  local cat_n="CONCAT('n', i)" owner="CONCAT('owner ', i)" v="CONCAT('v', i)"
  if [[ $e == sqlite ]]; then cat_n="'n' || i" owner="'owner ' || i" v="'v' || i"; fi
  local note="CASE WHEN i % 9 = 0 THEN NULL WHEN i % 9 = 1 THEN '' ELSE $cat_n END"
  local region="CASE i % 4 WHEN 0 THEN 'north' WHEN 1 THEN 'süd' WHEN 2 THEN 'Ost' ELSE 'west' END"
  case $e in
    sqlite) gen="(WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $n) SELECT i FROM n)" ;;
    postgres) gen="generate_series(1, $n) AS g(i)" ;;
    mysql) gen="(SELECT seq AS i FROM seq_1_to_$n) AS g" ;;
  esac
  run_sql "$e" source "INSERT INTO accounts SELECT i, $owner, i * 10, $note FROM $gen" >/dev/null
  run_sql "$e" source "INSERT INTO pairs SELECT $region, i, $v FROM $gen WHERE i <= $n / 2" >/dev/null
}

write_cross_config() {  # write_cross_config SRC DST CHUNK
  local src=$1 dst=$2
  create_db "$dst" target
  echo old > pointer
  write_mapping "$(uri_of "$src" source)" "$(uri_of "$dst" target)" "$3"
  side_spec() { if [[ $1 == sqlite ]]; then echo "\"db\": \"$2.db\""; else echo "\"uri\": \"$(uri_of "$1" "$2")\""; fi; }
  cat > profile.json <<JSON
{
  "tables": {
    "accounts": {"key": ["id"], "cols": ["id", "owner", "balance", "note"],
                 "types": {"owner": "text", "balance": "int", "note": "text?"}},
    "pairs": {"key": ["a", "b"], "cols": ["a", "b", "v"], "keygen": "pair", "types": {"v": "text?"}}
  },
  "old": {$(side_spec "$src" source), "tables": {
    "accounts": {"name": "accounts", "cols": {"id": "id", "owner": "owner", "balance": "balance", "note": "note"}},
    "pairs": {"name": "pairs", "cols": {"a": "a", "b": "b", "v": "v"}}}},
  "new": {$(side_spec "$dst" target), "tables": {
    "accounts": {"name": "account", "cols": {"id": "id", "owner": "owner_name", "balance": "balance", "note": "note"}},
    "pairs": {"name": "pair_values", "cols": {"a": "a", "b": "b", "v": "value"}}}}
}
JSON
}

# Rows of one side in the writer's model form: integers bare, text quoted with '' doubled.
engine_dump() {  # engine_dump ENGINE ROLE TABLE COLS... (each col as name:int|name:text)
  local e=$1 role=$2 table=$3; shift 3
  local exprs=() c name kind
  for c in "$@"; do
    name=${c%%:*} kind=${c##*:}
    if [[ $kind == int ]]; then
      exprs+=("COALESCE(CAST($name AS CHAR), 'NULL')")
    elif [[ $e == postgres ]]; then  # PostgreSQL's CONCAT skips NULLs; || keeps them
      exprs+=("COALESCE('''' || REPLACE($name, '''', '''''') || '''', 'NULL')")
    else
      exprs+=("COALESCE(CONCAT('''', REPLACE($name, '''', ''''''), ''''), 'NULL')")
    fi
  done
  local joined sql
  joined=${exprs[0]}
  for c in "${exprs[@]:1}"; do joined+=", ',', $c"; done
  sql="SELECT CONCAT($joined) FROM $table"
  [[ $e == postgres ]] && sql=${sql//AS CHAR/AS TEXT}
  if [[ $e == sqlite ]]; then
    local cols=()
    for c in "$@"; do cols+=("${c%%:*}"); done
    sqlite3 -batch "$role.db" ".mode quote" "SELECT $(IFS=,; echo "${cols[*]}") FROM $table"
    return
  fi
  run_sql "$e" "$role" "$sql"
}

check_cross_side() {  # check_cross_side ENGINE ROLE old|new
  local e=$1 role=$2 side=$3 t
  for t in accounts pairs; do
    [[ -s $t.model ]] || fail "the writer's model of $t is empty"
    if [[ $side == old ]]; then
      case $t in
        accounts) engine_dump "$e" "$role" accounts id:int owner:text balance:int note:text ;;
        pairs) engine_dump "$e" "$role" pairs a:text b:int v:text ;;
      esac
    else
      case $t in
        accounts) engine_dump "$e" "$role" account id:int owner_name:text balance:int note:text ;;
        pairs) engine_dump "$e" "$role" pair_values a:text b:int value:text ;;
      esac
    fi | LC_ALL=C sort > "dump.$side.$t"
    if ! diff <(LC_ALL=C sort "$t.model") "dump.$side.$t" > "diff.$side.$t"; then
      head -20 "diff.$side.$t"
      fail "$side ($e): $t differs from the writer's committed rows"
    fi
  done
  pass "$side ($e) holds exactly the writer's committed rows ($(cat accounts.model pairs.model | wc -l) rows)"
}

# The end-to-end scenario: a writer on the source, kill -9 of `tandem start` at random moments,
# resume, verify, and both sides equal to what the writer committed.
run_cross() {  # run_cross SRC DST
  local src=$1 dst=$2
  make_cross_source "$src" 8000
  write_cross_config "$src" "$dst" 300
  start_writer 44 150
  kill_loop 5
  start_follower
  wait_phase dual-write 180
  sleep 1
  stop_writer
  expect_exit 0 verify -c tandem.yaml
  grep "differences;" out
  stop_follower
  check_cross_side "$dst" target new
  check_cross_side "$src" source old
  pass "$src -> $dst: $KILLS kill -9s with a live writer, resumed, nothing lost"
}
