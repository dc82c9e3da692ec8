#!/usr/bin/env bash
# tandem against its peers, in one run, on the same rows (1,000,000 by default):
#
#   SQLite     -> SQLite      tandem copy   vs  sqlite3 ATTACH + INSERT ... SELECT (in-process ceiling)
#   SQLite     -> PostgreSQL  tandem copy   vs  pgloader
#   MariaDB    -> PostgreSQL  tandem copy   vs  pgloader
#   PostgreSQL -> PostgreSQL  tandem copy   vs  pgcopydb copy table-data, psql binary \copy pipe
#   file       -> PostgreSQL  psql \copy FROM a binary COPY file            (ingestion ceiling)
#   SQLite     -> MariaDB     tandem copy   vs  LOAD DATA LOCAL INFILE       (ingestion ceiling)
#   PostgreSQL -> MariaDB     tandem copy   vs  LOAD DATA LOCAL INFILE
#
# Every run gets an empty target (a fresh database, a fresh tandem directory with no state
# file), is timed with /usr/bin/time (wall seconds, peak RSS of the tool's own processes; the
# servers are not counted), and is checked afterwards: the target must hold exactly ROWS rows.
# The rows (bench/gen_sqlite.sql) are generated once in SQLite and loaded into PostgreSQL and
# MariaDB from one tab-separated export, so all three sources hold the same values.
#
# Usage:  bash bench/run.sh                       (from a clean clone: bash scripts/setup.sh bench)
# Environment:
#   ROWS=1000000            rows to generate
#   REPEAT=1                run every case REPEAT times and keep the fastest
#   ONLY="pg-pg mariadb"    run only the groups named (sqlite, sqlite-pg, mariadb-pg, pg-pg,
#                           pg-ceiling, mariadb); default all
#   TANDEM=build/tandem     the binary under test
#   BENCH_PG_PORT=55439 BENCH_MARIADB_PORT=33079   ports of the bench's own servers (not the
#                           test suite's 54329/33069, so both can run at once)
#   BENCH_SERVERS=/tmp/tandem-bench-servers        where the servers keep their data
#   BENCH_KEEP_SERVERS=1    leave the servers, their databases and the work directory (with
#                           src.db and the bench's tandem.yaml files) at the end, for
#                           profiling one case by hand (default: stop and remove them)
#   BENCH_OUT=/tmp/tandem-bench-results.txt        the final table is also written there
#   BENCH_OBJECTS=1         the application's schema too: a parent table (100,000 rows) that
#                           bench.n references (a foreign key) and three secondary indexes on
#                           bench (name; created; day, amount) in every source. tandem builds
#                           them after the load, pgloader builds them too; after each run the
#                           target's catalog must hold them (counted in the log line).
#                           With REPEAT > 1 the report also gives each case's runs, median
#                           and spread.
# Needs root (or the packages already installed) for pgloader, pgcopydb, time and bc.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
tandem=${TANDEM:-$repo/build/tandem}
rows=${ROWS:-1000000}
repeat=${REPEAT:-1}
only=${ONLY:-sqlite sqlite-pg mariadb-pg pg-pg pg-ceiling mariadb}
pg_port=${BENCH_PG_PORT:-55439}
my_port=${BENCH_MARIADB_PORT:-33079}
servers=${BENCH_SERVERS:-/tmp/tandem-bench-servers}
out=${BENCH_OUT:-/tmp/tandem-bench-results.txt}
tool_timeout=${BENCH_TOOL_TIMEOUT:-900}  # seconds; pgloader can hang in its debugger
objects=${BENCH_OBJECTS:-}

say() { printf '[%4ds] %s\n' "$SECONDS" "$*" >&2; }
die() { printf 'bench: %s\n' "$*" >&2; exit 1; }
want() { [[ " $only " == *" $1 "* ]]; }

# --- 1. peers ------------------------------------------------------------------------------
need=()
command -v pgloader >/dev/null || need+=(pgloader)
command -v pgcopydb >/dev/null || need+=(pgcopydb)
[[ -x /usr/bin/time ]] || need+=(time)
command -v bc >/dev/null || need+=(bc)
command -v sqlite3 >/dev/null || need+=(sqlite3)
if ((${#need[@]})); then
  [[ $(id -u) == 0 ]] || die "missing ${need[*]}: run as root or install them"
  say "installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y --no-install-recommends "${need[@]}" >/dev/null 2>&1 ||
    { apt-get update -qq && apt-get install -y --no-install-recommends "${need[@]}" >/dev/null; }
fi
[[ -x $tandem ]] || die "$tandem not found: build it first (ninja -C build tandem)"

# --- 2. servers and data -------------------------------------------------------------------
work=$(mktemp -d /tmp/tandem-bench.XXXXXX)
# Run a private copy: a rebuild during the bench must not change the binary between cases.
tandem_built=$(date -u -r "$tandem" +%Y-%m-%dT%H:%M:%SZ)
tree=$(git -C "$repo" describe --always --dirty 2>/dev/null || echo unknown)
cp "$tandem" "$work/tandem.bin"
tandem=$work/tandem.bin
cleanup() {
  local rc=$?
  if [[ -n ${BENCH_KEEP_SERVERS:-} ]]; then
    echo "bench: servers, databases and $work kept (BENCH_KEEP_SERVERS)" >&2
    return
  fi
  if [[ -n ${pg:-} ]]; then
    psql -X -q "$pg/postgres" -c 'DROP DATABASE IF EXISTS bench_src WITH (FORCE)' \
      -c 'DROP DATABASE IF EXISTS bench_dst WITH (FORCE)' >/dev/null 2>&1 || true
  fi
  if [[ -f $work/my.cnf ]]; then
    mariadb --defaults-file="$work/my.cnf" -e 'DROP DATABASE IF EXISTS bench_src; DROP DATABASE IF EXISTS bench_dst' >/dev/null 2>&1 || true
  fi
  bash "$repo/tests/servers/pg-down.sh" "$servers/pg" >/dev/null 2>&1 || true
  bash "$repo/tests/servers/mariadb-down.sh" "$servers/mariadb" >/dev/null 2>&1 || true
  if ((rc == 0)); then rm -rf "$work"; else echo "bench: failed; logs kept in $work" >&2; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM  # so that cleanup runs

say "starting PostgreSQL on $pg_port and MariaDB on $my_port (data under $servers)"
mkdir -p "$servers"
# To files, not $(...): the servers inherit the scripts' stdout, and a command substitution
# would wait for them to exit.
TANDEM_PG_PORT=$pg_port bash "$repo/tests/servers/pg-up.sh" "$servers/pg" >"$work/pg.env" 2>"$work/pg-up.log" </dev/null ||
  { cat "$work/pg-up.log" >&2; die "PostgreSQL did not start"; }
TANDEM_MARIADB_PORT=$my_port bash "$repo/tests/servers/mariadb-up.sh" "$servers/mariadb" >"$work/mariadb.env" 2>"$work/mariadb-up.log" </dev/null ||
  { cat "$work/mariadb-up.log" >&2; die "MariaDB did not start"; }
pg_line=$(grep -m1 '^TANDEM_TEST_PG=' "$work/pg.env") || die "pg-up.sh printed no TANDEM_TEST_PG line"
my_line=$(grep -m1 '^TANDEM_TEST_MYSQL=' "$work/mariadb.env") || die "mariadb-up.sh printed no TANDEM_TEST_MYSQL line"
pg=${pg_line#TANDEM_TEST_PG=}
pg=${pg%/*}        # postgres://user:pass@host:port
my=${my_line#TANDEM_TEST_MYSQL=}
my=${my%/*}        # mysql://user:pass@host:port
my_user=${my#mysql://}; my_user=${my_user%%:*}
my_pass=${my#mysql://*:}; my_pass=${my_pass%%@*}
cat > "$work/my.cnf" <<CNF
[client]
host = 127.0.0.1
port = $my_port
protocol = tcp
user = $my_user
password = $my_pass
local-infile = 1
CNF

# `tandem init` keeps passwords out of the mapping file; tandem reads them from here.
export TANDEM_SOURCE_PASSWORD=$my_pass TANDEM_TARGET_PASSWORD=$my_pass
[[ $pg == *":$my_pass@"* ]] || die "the PostgreSQL and MariaDB test passwords differ"

psqlc() { local db=$1; shift; psql -X -q -v ON_ERROR_STOP=1 "$pg/$db" "$@"; }
mysqlc() { mariadb --defaults-file="$work/my.cnf" "$@"; }
pg_fresh() {
  psqlc postgres -c 'SET client_min_messages = warning' -c "DROP DATABASE IF EXISTS $1 WITH (FORCE)" \
    -c "CREATE DATABASE $1" >/dev/null
}
# The MariaDB source uses utf8mb4_bin, not the server's utf8mb4_nopad_bin: pgloader 3.6.9 dies
# on collation id 1070 ("1070 fell through ECASE expression") and then hangs in its debugger.
# The key is a bigint, so the PAD SPACE difference cannot matter here.
my_fresh() { mysqlc -e "DROP DATABASE IF EXISTS $1; CREATE DATABASE $1 ${2:-}"; }

pg_ddl='CREATE TABLE bench (id bigint PRIMARY KEY, n integer, name varchar(64), amount numeric(12,2),
  created timestamp, active boolean, maybe text, body text, day date)'
my_ddl='CREATE TABLE bench (id BIGINT PRIMARY KEY, n INT, name VARCHAR(64), amount DECIMAL(12,2),
  created DATETIME, active BOOLEAN, maybe TEXT, body TEXT, day DATE)'
load_data="LOAD DATA LOCAL INFILE '$work/bench.tsv' INTO TABLE bench CHARACTER SET utf8mb4
  FIELDS TERMINATED BY '\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\n'"

say "generating $rows rows in SQLite"
cd "$work"
sqlite3 src.db ".parameter set :rows $rows" ".read $repo/bench/gen_sqlite.sql"
# BENCH_OBJECTS: the parent table and the objects, the same in every engine. SQLite keeps
# foreign keys only in CREATE TABLE, so its bench table is rebuilt with the clause.
parent_ddl='CREATE TABLE bench_parent (id INTEGER PRIMARY KEY, label VARCHAR(32) NOT NULL)'
index_ddl='CREATE INDEX bench_name ON bench (name); CREATE INDEX bench_created ON bench (created);
  CREATE INDEX bench_day_amount ON bench (day, amount);'
if [[ -n $objects ]]; then
  say "adding bench_parent, a foreign key and three indexes to the sources"
  sqlite3 src.db "$parent_ddl;
    WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i < 99999)
    INSERT INTO bench_parent SELECT i, 'parent ' || i FROM s;
    ALTER TABLE bench RENAME TO bench_old;
    $(sqlite3 src.db "SELECT sql FROM sqlite_schema WHERE name = 'bench'" |
      sed 's/n INTEGER,/n INTEGER REFERENCES bench_parent (id),/');
    INSERT INTO bench SELECT * FROM bench_old; DROP TABLE bench_old; $index_ddl VACUUM;"
  sqlite3 -batch -noheader -list -separator $'\t' src.db 'SELECT * FROM bench_parent ORDER BY id' > parent.tsv
fi
# One export feeds both servers: tab-separated, \N for NULL (PostgreSQL text COPY and MariaDB
# LOAD DATA both read it). The generated text holds no tab, newline or backslash.
sqlite3 -batch -noheader -list -separator $'\t' -nullvalue '\N' src.db 'SELECT * FROM bench ORDER BY id' > bench.tsv
say "loading PostgreSQL and MariaDB sources"
pg_fresh bench_src
psqlc bench_src -c "$pg_ddl" -c "\\copy bench FROM '$work/bench.tsv'" -c 'VACUUM ANALYZE bench' \
  -c "\\copy bench TO '$work/bench.bin' (FORMAT binary)"
my_fresh bench_src 'CHARACTER SET utf8mb4 COLLATE utf8mb4_bin'
mysqlc bench_src -e "$my_ddl; $load_data; ANALYZE TABLE bench" >/dev/null
if [[ -n $objects ]]; then
  psqlc bench_src -c "$parent_ddl" -c "\\copy bench_parent FROM '$work/parent.tsv'" \
    -c 'ALTER TABLE bench ADD CONSTRAINT bench_n_fkey FOREIGN KEY (n) REFERENCES bench_parent (id)' \
    -c "$index_ddl" -c 'VACUUM ANALYZE' >/dev/null
  mysqlc bench_src -e "$parent_ddl; LOAD DATA LOCAL INFILE '$work/parent.tsv' INTO TABLE bench_parent
      CHARACTER SET utf8mb4 FIELDS TERMINATED BY '\t' LINES TERMINATED BY '\n';
    ALTER TABLE bench ADD CONSTRAINT bench_n_fkey FOREIGN KEY (n) REFERENCES bench_parent (id);
    $index_ddl ANALYZE TABLE bench, bench_parent" >/dev/null
fi

# Same rows everywhere: count, NULL count, sums of the int and the decimal, text length.
fp_sql="SELECT count(*), count(maybe), sum(n), sum(amount * 100), sum(char_length(name) + char_length(body))"
fp_lite=$(sqlite3 -separator ' ' src.db "SELECT count(*), count(maybe), sum(n), sum(CAST(round(amount * 100) AS INTEGER)), sum(length(name) + length(body)) FROM bench")
fp_pg=$(psqlc bench_src -tA -F ' ' -c "$fp_sql FROM bench" | sed 's/\.00\b//g')
fp_my=$(mysqlc bench_src -N -e "$fp_sql FROM bench" | tr '\t' ' ' | sed 's/\.00\b//g')
[[ $fp_lite == "$fp_pg" && $fp_lite == "$fp_my" ]] ||
  die "sources differ: sqlite [$fp_lite] postgres [$fp_pg] mariadb [$fp_my]"
[[ ${fp_lite%% *} == "$rows" ]] || die "sources hold ${fp_lite%% *} rows, not $rows"
say "sources agree: $fp_lite (rows, non-null maybe, sum n, sum amount*100, text chars)"

# --- 3. the runs ---------------------------------------------------------------------------
results=()  # "pair|tool|seconds|kb|role"  role: tandem, peer or ceiling
# measure PAIR TOOL ROLE PREP COUNT CMD...: PREP (untimed) empties the target, CMD is timed,
# COUNT prints the target's row count, which must be ROWS. The fastest of REPEAT runs is kept.
measure() {
  local pair=$1 tool=$2 role=$3 prep=$4 count=$5; shift 5
  local best="" best_kb="" secs kb n log all=""
  log="$work/log.$(echo "$pair.$tool" | tr -c 'A-Za-z0-9.\n' '_')"
  for ((r = 1; r <= repeat; r++)); do
    "$prep"
    if ! /usr/bin/time -f '%e %M' -o "$work/time.txt" timeout -s KILL "$tool_timeout" "$@" \
        </dev/null >"$log" 2>&1; then
      tail -n 30 "$log" >&2
      die "$pair / $tool failed (log: $log)"
    fi
    read -r secs kb < <(tail -n 1 "$work/time.txt")
    n=$("$count")
    [[ $n == "$rows" ]] || { tail -n 30 "$log" >&2; die "$pair / $tool: target holds '$n' rows, expected $rows"; }
    say "$pair / $tool: ${secs}s, $((kb / 1024)) MB, $n rows checked$(objects_of "$count") $(grep -m1 -o '^copied .*' "$log" || true)"
    all+=" $secs"
    if [[ -z $best ]] || (($(echo "$secs < $best" | bc))); then best=$secs best_kb=$kb; fi
  done
  results+=("$pair|$tool|$best|$best_kb|$role|${all# }")
}
# objects_of COUNT_FUNCTION: with BENCH_OBJECTS, what the target's catalog holds on bench
# (PostgreSQL: secondary indexes and foreign keys, in any schema: pgloader makes its own).
objects_of() {
  [[ -n $objects && $1 == count_pg_dst ]] || return 0
  local got
  got=$(psqlc bench_dst -tA -F ' ' -c "SELECT
      (SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
        WHERE c.relname = 'bench' AND NOT i.indisprimary),
      (SELECT count(*) FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
        WHERE c.relname = 'bench' AND k.contype = 'f' AND k.convalidated)")
  # 3 indexes and 1 foreign key; from MariaDB 4 indexes: MariaDB made one for the foreign key.
  echo "; target has ${got% *} secondary indexes, ${got#* } validated foreign keys on bench"
  [[ $got == "3 1" || $got == "4 1" ]] || say "WARNING: $got (indexes, foreign keys): expected 3 (4 from MariaDB) and 1"
}

# tandem runs: a fresh directory (no state file) with a freshly drafted identity mapping.
tandem_prep() {  # tandem_prep SOURCE_URI TARGET_URI (the caller empties the target first)
  rm -rf "$work/tandem" && mkdir "$work/tandem"
  "$tandem" init --source "$1" --target "$2" -o "$work/tandem/tandem.yaml" >/dev/null
}
tandem_copy=("$tandem" copy -c "$work/tandem/tandem.yaml" --restart)
count_pg_dst() { psqlc bench_dst -tA -c 'SELECT count(*) FROM bench'; }
count_my_dst() { mysqlc bench_dst -N -e 'SELECT count(*) FROM bench'; }

if want sqlite; then
  prep_t() { rm -f "$work/dst.db"; tandem_prep "sqlite://$work/src.db" "sqlite://$work/dst.db"; }
  count_t() { sqlite3 "$work/dst.db" 'SELECT count(*) FROM bench'; }
  measure "SQLite -> SQLite" "tandem" tandem prep_t count_t "${tandem_copy[@]}"
  prep_c() { rm -f "$work/ceiling.db"; sqlite3 "$work/ceiling.db" "$(sqlite3 "$work/src.db" .schema)"; }
  count_c() { sqlite3 "$work/ceiling.db" 'SELECT count(*) FROM bench'; }
  measure "SQLite -> SQLite" "sqlite3 INSERT..SELECT" ceiling prep_c count_c \
    sqlite3 "$work/ceiling.db" "ATTACH '$work/src.db' AS s; INSERT INTO bench SELECT * FROM s.bench;"
  rm -f "$work/dst.db" "$work/ceiling.db"
fi

pgloader_opts=(--with "prefetch rows = 10000" --with "batch rows = 10000")
prep_pg_empty() { pg_fresh bench_dst; }
prep_pg_table() { pg_fresh bench_dst; psqlc bench_dst -c "$pg_ddl" >/dev/null; }

if want sqlite-pg; then
  prep_t() { pg_fresh bench_dst; tandem_prep "sqlite://$work/src.db" "$pg/bench_dst"; }
  measure "SQLite -> PostgreSQL" "tandem" tandem prep_t count_pg_dst "${tandem_copy[@]}"
  measure "SQLite -> PostgreSQL" "pgloader" peer prep_pg_empty count_pg_dst \
    pgloader "${pgloader_opts[@]}" "sqlite://$work/src.db" "${pg/postgres:/postgresql:}/bench_dst"
fi

if want mariadb-pg; then
  prep_t() { pg_fresh bench_dst; tandem_prep "$my/bench_src" "$pg/bench_dst"; }
  measure "MariaDB -> PostgreSQL" "tandem" tandem prep_t count_pg_dst "${tandem_copy[@]}"
  # pgloader puts the table in a schema named after the MariaDB database and sets the target
  # database's search_path to it, so `bench` still resolves.
  measure "MariaDB -> PostgreSQL" "pgloader" peer prep_pg_empty count_pg_dst \
    pgloader "${pgloader_opts[@]}" "$my/bench_src" "${pg/postgres:/postgresql:}/bench_dst"
fi

if want pg-pg; then
  prep_t() { pg_fresh bench_dst; tandem_prep "$pg/bench_src" "$pg/bench_dst"; }
  measure "PostgreSQL -> PostgreSQL" "tandem" tandem prep_t count_pg_dst "${tandem_copy[@]}"
  prep_pgcopydb() { prep_pg_table; rm -rf "$work/pgcopydb"; }
  measure "PostgreSQL -> PostgreSQL" "pgcopydb copy table-data" peer prep_pgcopydb count_pg_dst \
    pgcopydb copy table-data --dir "$work/pgcopydb" --source "$pg/bench_src" --target "$pg/bench_dst"
  measure "PostgreSQL -> PostgreSQL" "psql binary \\copy pipe" peer prep_pg_table count_pg_dst \
    bash -c 'set -o pipefail
      psql -X -q -v ON_ERROR_STOP=1 "$1/bench_src" -c "\\copy (SELECT * FROM bench) TO pstdout (FORMAT binary)" |
      psql -X -q -v ON_ERROR_STOP=1 "$1/bench_dst" -c "\\copy bench FROM pstdin (FORMAT binary)"' _ "$pg"
fi

if want pg-ceiling; then
  measure "file -> PostgreSQL" "psql \\copy FROM binary file" ceiling prep_pg_table count_pg_dst \
    psql -X -q -v ON_ERROR_STOP=1 "$pg/bench_dst" -c "\\copy bench FROM '$work/bench.bin' (FORMAT binary)"
fi

if want mariadb; then
  prep_my_table() { my_fresh bench_dst; mysqlc bench_dst -e "$my_ddl"; }
  measure "file -> MariaDB" "LOAD DATA LOCAL INFILE" ceiling prep_my_table count_my_dst \
    mariadb --defaults-file="$work/my.cnf" bench_dst -e "$load_data"
  prep_t() { my_fresh bench_dst; tandem_prep "sqlite://$work/src.db" "$my/bench_dst"; }
  measure "SQLite -> MariaDB" "tandem" tandem prep_t count_my_dst "${tandem_copy[@]}"
  prep_t() { my_fresh bench_dst; tandem_prep "$pg/bench_src" "$my/bench_dst"; }
  measure "PostgreSQL -> MariaDB" "tandem" tandem prep_t count_my_dst "${tandem_copy[@]}"
fi

# --- 4. the table --------------------------------------------------------------------------
result_of() {  # result_of PAIR TOOL FIELD: FIELD of that result ("pair|tool|seconds|kb|role")
  local r p t fields
  for r in "${results[@]}"; do
    IFS='|' read -r -a fields <<<"$r"
    p=${fields[0]} t=${fields[1]}
    [[ $p == "$1" && $t == "$2" ]] && { echo "${fields[$3]}"; return; }
  done
  return 0
}
secs_of() { result_of "$1" "$2" 2; }  # secs_of PAIR TOOL
kb_of() { result_of "$1" "$2" 3; }    # kb_of PAIR TOOL
ratio() { if [[ -n $1 && -n $2 ]]; then printf '%.2f' "$(echo "$2 / $1" | bc -l)"; fi; }  # ratio TANDEM_S PEER_S: how many times faster tandem is
ceil_pg=$(secs_of "file -> PostgreSQL" "psql \\copy FROM binary file")
ceil_my=$(secs_of "file -> MariaDB" "LOAD DATA LOCAL INFILE")

report() {
  echo "tandem benchmark: $rows rows, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $("$tandem" --version 2>/dev/null | head -n 1)"
  echo "tandem binary built $tandem_built; source tree at start $tree"
  echo "peers: $(pgloader --version 2>/dev/null | head -n 1); $(pgcopydb --version 2>&1 | grep -m1 -o 'pgcopydb version.*'); $(psql --version); $(mariadb --version | sed 's/,.*//')"
  echo "seconds = wall time of the whole command (start-up, schema work, copy, index build);"
  echo "peak MB = max RSS of the tool's process tree (servers excluded); speed = peer seconds / tandem seconds"
  echo
  printf '%-26s %-30s %8s %10s %8s %8s\n' pair tool seconds rows/s "peak MB" speed
  printf '%-26s %-30s %8s %10s %8s %8s\n' "$(printf '%.0s-' {1..26})" "$(printf '%.0s-' {1..30})" -------- ---------- -------- --------
  local r p t s k role ts speed
  for r in "${results[@]}"; do
    IFS="|" read -r p t s k role _ <<<"$r"
    speed=""
    if [[ $role != tandem ]]; then
      ts=$(secs_of "$p" tandem)
      [[ -n $ts ]] && speed="$(ratio "$ts" "$s")x"
    fi
    printf '%-26s %-30s %8.2f %10.0f %8.0f %8s\n' "$p" "$t" "$s" "$(echo "$rows / $s" | bc -l)" \
      "$(echo "$k / 1024" | bc -l)" "$speed"
  done
  echo
  echo "goals (tandem speed relative to the peer or ceiling; memory of every tandem run)"
  printf '%-58s %9s %8s  %s\n' goal measured wanted verdict
  goal() {  # goal TEXT MEASURED WANTED (a number: pass when measured >= wanted)
    local verdict=MISS
    [[ -z $2 ]] && return
    (($(echo "$2 >= $3" | bc -l))) && verdict=ok
    printf '%-58s %9s %8s  %s\n' "$1" "$2" ">= $3" "$verdict"
  }
  goal "SQLite -> PostgreSQL: tandem vs pgloader" "$(ratio "$(secs_of "SQLite -> PostgreSQL" tandem)" "$(secs_of "SQLite -> PostgreSQL" pgloader)")" 3
  goal "MariaDB -> PostgreSQL: tandem vs pgloader" "$(ratio "$(secs_of "MariaDB -> PostgreSQL" tandem)" "$(secs_of "MariaDB -> PostgreSQL" pgloader)")" 3
  goal "PostgreSQL -> PostgreSQL: tandem vs pgcopydb" "$(ratio "$(secs_of "PostgreSQL -> PostgreSQL" tandem)" "$(secs_of "PostgreSQL -> PostgreSQL" "pgcopydb copy table-data")")" 1.3
  local src
  if [[ -n $ceil_pg ]]; then
    for src in SQLite MariaDB PostgreSQL; do
      goal "$src -> PostgreSQL: tandem vs binary COPY ceiling" "$(ratio "$(secs_of "$src -> PostgreSQL" tandem)" "$ceil_pg")" 0.75
    done
  fi
  if [[ -n $ceil_my ]]; then
    for src in SQLite PostgreSQL; do
      goal "$src -> MariaDB: tandem vs LOAD DATA ceiling" "$(ratio "$(secs_of "$src -> MariaDB" tandem)" "$ceil_my")" 0.80
    done
  fi
  local worst=0 name=""
  for r in "${results[@]}"; do
    IFS="|" read -r p t s k role _ <<<"$r"
    [[ $role == tandem ]] && ((k > worst)) && worst=$k name=$p
  done
  if ((worst > 0)); then
    local mb=$((worst / 1024)) verdict=MISS
    ((mb < 300)) && verdict=ok
    printf '%-58s %9s %8s  %s\n' "tandem peak memory (largest: $name)" "${mb} MB" "< 300 MB" "$verdict"
  fi
}
# With REPEAT > 1: every run of each case, its median and spread (max - min, of the median).
runs_report() {
  ((repeat > 1)) || return 0
  echo
  echo "runs (seconds), median, spread; ratio of medians against tandem's"
  local r p t s k role runs med spread tmed line
  for r in "${results[@]}"; do
    IFS='|' read -r p t s k role runs <<<"$r"
    read -r med spread < <(echo "$runs" | tr ' ' '\n' | sort -g | awk '{v[NR] = $1}
      END {m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2;
           printf "%.2f %.0f\n", m, 100 * (v[NR] - v[1]) / m}')
    line=$(printf '%-26s %-30s %-24s median %6.2f  spread %3s%%' "$p" "$t" "$runs" "$med" "$spread")
    if [[ $role == tandem ]]; then
      eval "tmed_$(echo "$p" | tr -c 'A-Za-z0-9\n' '_')=$med"
    else
      tmed=$(eval echo "\${tmed_$(echo "$p" | tr -c 'A-Za-z0-9\n' '_'):-}")
      [[ -n $tmed ]] && line+="  $(ratio "$tmed" "$med")x tandem"
    fi
    echo "$line"
  done
}
{ report; runs_report; } | tee "$out"
echo "(also written to $out)" >&2
