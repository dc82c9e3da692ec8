#!/usr/bin/env bash
# tandem against the physical limit of each pair and against its peers, in one run, on the
# same rows (1,000,000 by default; issue 9).
#
# A copy is a pipeline (read the source, map, write the target); with reading and writing
# overlapped it cannot beat its slowest stage. So for every pair the bench measures, in the
# same run and on the same rows:
#   the source's raw read       PostgreSQL binary COPY ... TO STDOUT into /dev/null,
#                               `mariadb --quick` into /dev/null, `sqlite3` reading every
#                               column (max() of each, so that every value is read);
#   the target's ingest ceiling PostgreSQL binary `\copy FROM` a file, MariaDB
#                               `LOAD DATA LOCAL INFILE` of a file (as one statement and as 20,
#                               the faster counting), SQLite `INSERT ... SELECT`
#                               from an attached file (which reads too: SQLite -> SQLite's limit);
# and prints limit = the slower of the two, tandem's time, ratio = limit / tandem and a verdict
# against the goals:
#   every pair                  ratio >= 0.8 (within 1.25x of the limit), at --jobs 1 and at
#                               the default;
#   SQLite/MariaDB -> PostgreSQL >= 3x pgloader;
#   PostgreSQL -> PostgreSQL     >= 1.3x `pgcopydb copy table-data` (same --table-jobs);
#   verify of the 1M-row table  >= 0.8 of the slower side's raw read (PostgreSQL ->
#                               PostgreSQL, MariaDB -> PostgreSQL);
#   peak memory                 < 300 MB for every tandem case (/usr/bin/time -v).
# Besides: four tables of 250,000 rows, `tandem copy --jobs 1` against `--jobs 2`; `tandem
# assess` rows/s against the source's raw read (SQLite and MariaDB sources with a unique key
# and a foreign key); two MariaDB LOAD DATA streams against one (group `streams`).
# Each round also measures the machine's two-core capacity (see capacity_round below).
# `--jobs` and `assess` are measured only when the binary has them (`tandem copy --help`,
# `tandem --help`); otherwise the report says they were skipped.
#
# Every run gets an empty target (a fresh database, a fresh tandem directory with no state
# file) and is checked afterwards: the target must hold exactly ROWS rows. The rows
# (bench/gen_sqlite.sql) are generated once in SQLite and loaded into PostgreSQL and MariaDB
# from one tab-separated export, so all three sources hold the same values.
#
# Usage:  bash bench/run.sh                       (from a clean clone: bash scripts/setup.sh bench)
# Environment:
#   ROWS=1000000            rows to generate
#   REPEAT=1                run every case REPEAT times, in rounds of all cases (a change of
#                           the machine's load then reaches every case alike); with REPEAT > 1
#                           every figure is the median, with its spread (min..max) beside it
#   ONLY="..."              run only the groups named: reads ceilings sqlite sqlite-pg
#                           mariadb-pg pg-pg sqlite-my pg-my verify jobs assess streams
#                           (default all). Limits need `reads` and `ceilings`. `verify`
#                           without `mariadb-pg` / `pg-pg` copies that pair untimed first.
#   TANDEM=build/tandem     the binary under test
#   BENCH_PG_PORT=55439 BENCH_MARIADB_PORT=33079   ports of the bench's own servers (not the
#                           test suite's 54329/33069, so both can run at once)
#   BENCH_SERVERS=/tmp/tandem-bench-servers        where the servers keep their data
#   BENCH_KEEP_SERVERS=1    leave the servers, their databases and the work directory (with
#                           src.db and the bench's tandem.yaml files) at the end, for
#                           profiling one case by hand (default: stop and remove them)
#   BENCH_OUT=/tmp/tandem-bench-results.txt        the final report is also written there
#   BENCH_OBJECTS=1         the application's schema too: a parent table (100,000 rows) that
#                           bench.n references (a foreign key) and three secondary indexes on
#                           bench (name; created; day, amount) in every source. tandem builds
#                           them after the load, pgloader builds them too; after each run the
#                           target's catalog must hold them (counted in the log line).
# Needs root (or the packages already installed) for pgloader, pgcopydb, time and bc.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
tandem=${TANDEM:-$repo/build/tandem}
rows=${ROWS:-1000000}
repeat=${REPEAT:-1}
only=${ONLY:-reads ceilings sqlite sqlite-pg mariadb-pg pg-pg sqlite-my pg-my verify jobs assess streams}
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
# What the binary offers (other work adds these; the bench must run without them).
# (The help is read whole first: `tandem --help | grep -q` under pipefail fails whenever grep
# quits before tandem has written its last line, and the feature then looks absent.)
has_jobs=""
grep -q -- '--jobs' <<<"$("$tandem" copy --help 2>/dev/null)" && has_jobs=1
has_assess=""
grep -qE '^ +assess ' <<<"$("$tandem" --help 2>/dev/null)" && has_assess=1
cleanup() {
  local rc=$?
  if [[ -n ${BENCH_KEEP_SERVERS:-} ]]; then
    echo "bench: servers, databases and $work kept (BENCH_KEEP_SERVERS)" >&2
    return
  fi
  if [[ -n ${pg:-} ]]; then
    for db in bench_src bench_dst bench4_src bench4_dst; do
      psql -X -q "$pg/postgres" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
    done
  fi
  if [[ -f $work/my.cnf ]]; then
    # The test server writes a binary log (as production servers do); a run leaves gigabytes
    # of it in $servers, and runs on one machine filled its disk.
    mariadb --defaults-file="$work/my.cnf" -e 'DROP DATABASE IF EXISTS bench_src; DROP DATABASE IF EXISTS bench_dst; DROP DATABASE IF EXISTS assess_src; FLUSH BINARY LOGS; PURGE BINARY LOGS BEFORE NOW()' >/dev/null 2>&1 || true
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
# InnoDB's own setting, restored after each settle.
my_dirty_pct=$(mysqlc -N -e 'SELECT @@GLOBAL.innodb_max_dirty_pages_pct')
# What an earlier run left in the binary log (see cleanup).
mysqlc -e 'PURGE BINARY LOGS BEFORE NOW()' || die "MariaDB refused PURGE BINARY LOGS"

pg_ddl='CREATE TABLE bench (id bigint PRIMARY KEY, n integer, name varchar(64), amount numeric(12,2),
  created timestamp, active boolean, maybe text, body text, day date)'
my_ddl='CREATE TABLE bench (id BIGINT PRIMARY KEY, n INT, name VARCHAR(64), amount DECIMAL(12,2),
  created DATETIME, active BOOLEAN, maybe TEXT, body TEXT, day DATE)'
load_data_of() {  # load_data_of FILE TABLE: LOAD DATA of a bench export
  echo "LOAD DATA LOCAL INFILE '$1' INTO TABLE $2 CHARACTER SET utf8mb4
    FIELDS TERMINATED BY '\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\n'"
}
load_data=$(load_data_of "$work/bench.tsv" bench)
cols="id, n, name, amount, created, active, maybe, body, day"

say "generating $rows rows in SQLite"
cd "$work"
sqlite3 src.db ".parameter set :rows $rows" ".read $repo/bench/gen_sqlite.sql"
# BENCH_OBJECTS: the parent table and the objects, the same in every engine. SQLite keeps
# foreign keys only in CREATE TABLE, so its bench table is rebuilt with the clause.
parent_ddl='CREATE TABLE bench_parent (id INTEGER PRIMARY KEY, label VARCHAR(32) NOT NULL)'
parent_rows="WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i < 99999)
    INSERT INTO bench_parent SELECT i, 'parent ' || i FROM s"
index_ddl='CREATE INDEX bench_name ON bench (name); CREATE INDEX bench_created ON bench (created);
  CREATE INDEX bench_day_amount ON bench (day, amount);'
if [[ -n $objects ]]; then
  say "adding bench_parent, a foreign key and three indexes to the sources"
  sqlite3 src.db "$parent_ddl; $parent_rows;
    ALTER TABLE bench RENAME TO bench_old;
    $(sqlite3 src.db "SELECT sql FROM sqlite_schema WHERE name = 'bench'" |
      sed 's/n INTEGER,/n INTEGER REFERENCES bench_parent (id),/');
    INSERT INTO bench SELECT * FROM bench_old; DROP TABLE bench_old; $index_ddl VACUUM;"
fi
sqlite3 -batch -noheader -list -separator $'\t' :memory: "$parent_ddl; $parent_rows;
  SELECT * FROM bench_parent ORDER BY id" > parent.tsv
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
# The runs of each case, by "pair|tool" in the order first measured: role (tandem, peer, read,
# ceiling, verify, assess, experiment), seconds and peak KB of every run. With REPEAT > 1 the
# whole set of cases runs REPEAT times in rounds, so that a change in the machine's load over
# the run reaches every case alike (ratios come from the same rounds).
declare -A res_role res_s res_kb
order=()
round=1
# settle: before each timed run, what earlier runs left to write is written (PostgreSQL's
# checkpoint, InnoDB's dirty pages, the OS's dirty file pages), so that a run does not pay for
# the background writes of the one before it (seen: assess from SQLite right after 1M rows were
# loaded into MariaDB ran 20-40% slower than on a quiet server). The same for every case.
settle() {
  psqlc postgres -c CHECKPOINT >/dev/null 2>&1 || true
  local dirty i
  mysqlc -e 'SET GLOBAL innodb_max_dirty_pages_pct = 0' 2>/dev/null || return 0
  for ((i = 0; i < 100; i++)); do
    dirty=$(mysqlc -N -e "SHOW GLOBAL STATUS LIKE 'Innodb_buffer_pool_pages_dirty'" 2>/dev/null | awk '{print $2}')
    [[ -z $dirty || $dirty == 0 ]] && break
    sleep 0.1
  done
  mysqlc -e "SET GLOBAL innodb_max_dirty_pages_pct = $my_dirty_pct" 2>/dev/null || true
  sync
}
# measure PAIR TOOL ROLE PREP COUNT CMD...: PREP (untimed) empties the target, CMD is timed with
# /usr/bin/time -v (wall seconds and the peak RSS of the command's processes; servers are not
# counted), COUNT prints the target's row count afterwards, which must be ROWS.
measure() {
  local pair=$1 tool=$2 role=$3 prep=$4 count=$5; shift 5
  local secs kb n log key="$pair|$tool"
  log="$work/log.$(echo "$pair.$tool" | tr -c 'A-Za-z0-9.\n' '_')"
  {
    "$prep"
    settle
    if ! /usr/bin/time -v -o "$work/time.txt" timeout -s KILL "$tool_timeout" "$@" \
        </dev/null >"$log" 2>&1; then
      tail -n 30 "$log" >&2
      die "$pair / $tool failed (log: $log)"
    fi
    read -r secs kb < <(awk -F': ' '/Elapsed \(wall clock\)/ {
        n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; w = s }
      /Maximum resident set size/ {m = $2} END {printf "%.2f %d\n", w, m}' "$work/time.txt")
    n=$("$count")
    [[ $n == "$rows" ]] || { tail -n 30 "$log" >&2; die "$pair / $tool: target holds '$n' rows, expected $rows"; }
    say "[$round/$repeat] $pair / $tool: ${secs}s, $((kb / 1024)) MB, $n rows checked$(objects_of "$count") $(grep -m1 -o '^copied .*' "$log" || true)"
  }
  if [[ -z ${res_role[$key]:-} ]]; then order+=("$key"); res_role[$key]=$role; fi
  res_s[$key]+=" $secs" res_kb[$key]+=" $kb"
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
nothing() { :; }
all_rows() { echo "$rows"; }  # for reads: the command itself checks what it read
# Cases that are shell functions run as `bash -c FUNCTION` (/usr/bin/time runs programs).
export work rows pg cols tandem

# tandem runs: a fresh directory (no state file) with a freshly drafted identity mapping.
tandem_prep() {  # tandem_prep SOURCE_URI TARGET_URI (the caller empties the target first)
  rm -rf "$work/tandem" && mkdir "$work/tandem"
  "$tandem" init --source "$1" --target "$2" -o "$work/tandem/tandem.yaml" >/dev/null
}
tandem_copy=("$tandem" copy -c "$work/tandem/tandem.yaml" --restart)
# The tandem cases of a pair: at --jobs 1 and at the default when the binary has --jobs.
tandem_cases() {  # tandem_cases PAIR PREP COUNT
  if [[ -n $has_jobs ]]; then
    measure "$1" "tandem --jobs 1" tandem "$2" "$3" "${tandem_copy[@]}" --jobs 1
    measure "$1" "tandem (default jobs)" tandem "$2" "$3" "${tandem_copy[@]}"
  else
    measure "$1" "tandem" tandem "$2" "$3" "${tandem_copy[@]}"
  fi
}
count_pg_dst() { psqlc bench_dst -tA -c 'SELECT count(*) FROM bench'; }
count_my_dst() { mysqlc bench_dst -N -e 'SELECT count(*) FROM bench'; }
prep_pg_empty() { pg_fresh bench_dst; }
prep_pg_table() { pg_fresh bench_dst; psqlc bench_dst -c "$pg_ddl" >/dev/null; }
prep_my_table() { my_fresh bench_dst; mysqlc bench_dst -e "$my_ddl"; }

# The machine's two cores, measured each round: one CPU-bound loop alone, then two copies of
# it at once; capacity = 2 x (one's time) / (two's time), in cores (2.00: two whole cores).
# Where the cores are shared with other guests, or are two threads of one core, two busy
# processes get less than two cores' worth, and a copy that keeps both cores busy (a reader, a
# writer and two servers) loses against limits measured with one busy process: read the
# ratios with it.
spin() { awk 'BEGIN { for (i = 0; i < 5e6; i++) s += i % 7; print s }' >/dev/null; }
capacity_runs=""
capacity_round() {
  local TIMEFORMAT=%R one two
  one=$( { time spin; } 2>&1 )
  two=$( { time { spin & spin & wait; }; } 2>&1 )
  capacity_runs+=" $(printf '%.2f' "$(echo "2 * $one / $two" | bc -l)")"
  say "[$round/$repeat] two-core capacity: one loop ${one}s, two at once ${two}s"
}

for ((round = 1; round <= repeat; round++)); do
first=$((round == 1)) last=$((round == repeat))
capacity_round

# Raw reads: the fastest way each source gives every value of every row to a client.
if want reads; then
  sqlite_read() {
    local got
    got=$(sqlite3 "$work/src.db" "SELECT count(*), max(id), max(n), max(name), max(amount),
      max(created), max(active), max(maybe), max(body), max(day) FROM bench" | cut -d'|' -f1)
    [[ $got == "$rows" ]]
  }
  export -f sqlite_read
  measure "SQLite" "read: sqlite3 every column" read nothing all_rows bash -c sqlite_read
  pg_read() {
    psql -X -q -v ON_ERROR_STOP=1 "$pg/bench_src" -c "COPY (SELECT $cols FROM bench) TO STDOUT (FORMAT binary)" >/dev/null
  }
  export -f pg_read
  measure "PostgreSQL" "read: COPY TO binary" read nothing all_rows bash -c pg_read
  my_read() {
    mariadb --defaults-file="$work/my.cnf" --quick -N bench_src -e "SELECT $cols FROM bench" >/dev/null
  }
  export -f my_read
  measure "MariaDB" "read: mariadb --quick" read nothing all_rows bash -c my_read
fi

# Ingest ceilings: the fastest way each target takes the rows from a local file.
if want ceilings; then
  measure "PostgreSQL" "ingest: \\copy FROM binary file" ceiling prep_pg_table count_pg_dst \
    psql -X -q -v ON_ERROR_STOP=1 "$pg/bench_dst" -c "\\copy bench FROM '$work/bench.bin' (FORMAT binary)"
  measure "MariaDB" "ingest: LOAD DATA LOCAL INFILE" ceiling prep_my_table count_my_dst \
    mariadb --defaults-file="$work/my.cnf" bench_dst -e "$load_data"
  # The same file in 20 statements (tandem's chunks: 50,000 rows each, each its own
  # transaction): with the binary log on, one transaction of every row was the slower of the
  # two, so the faster of both is the ceiling.
  if ((first)); then split -n l/20 -d bench.tsv piece.; fi
  pieces=""
  for f in piece.*; do pieces+="$(load_data_of "$work/$f" bench); "; done
  measure "MariaDB" "ingest: LOAD DATA, 20 statements" ceiling prep_my_table count_my_dst \
    mariadb --defaults-file="$work/my.cnf" bench_dst -e "$pieces"
  prep_c() { rm -f "$work/ceiling.db"; sqlite3 "$work/ceiling.db" "$(sqlite3 "$work/src.db" .schema)"; }
  count_c() { sqlite3 "$work/ceiling.db" 'SELECT count(*) FROM bench'; }
  measure "SQLite" "ingest: INSERT..SELECT attached" ceiling prep_c count_c \
    sqlite3 "$work/ceiling.db" "ATTACH '$work/src.db' AS s; INSERT INTO bench SELECT * FROM s.bench;"
  rm -f "$work/ceiling.db"
  if ((last)); then rm -f piece.*; fi
fi

if want sqlite; then
  prep_t() { rm -f "$work/dst.db"; tandem_prep "sqlite://$work/src.db" "sqlite://$work/dst.db"; }
  count_t() { sqlite3 "$work/dst.db" 'SELECT count(*) FROM bench'; }
  tandem_cases "SQLite -> SQLite" prep_t count_t
  rm -f "$work/dst.db"
fi

pgloader_opts=(--with "prefetch rows = 10000" --with "batch rows = 10000")

if want sqlite-pg; then
  prep_t() { pg_fresh bench_dst; tandem_prep "sqlite://$work/src.db" "$pg/bench_dst"; }
  tandem_cases "SQLite -> PostgreSQL" prep_t count_pg_dst
  measure "SQLite -> PostgreSQL" "pgloader" peer prep_pg_empty count_pg_dst \
    pgloader "${pgloader_opts[@]}" "sqlite://$work/src.db" "${pg/postgres:/postgresql:}/bench_dst"
fi

# verify_case PAIR: `tandem verify` of what the last tandem copy of PAIR left (same mapping).
verify_case() {
  want verify || return 0
  measure "$1" "tandem verify" verify nothing count_pg_dst "$tandem" verify -c "$work/tandem/tandem.yaml"
}
# verify_alone PAIR PREP: with `verify` but not the pair's own group in ONLY, an untimed copy
# (PREP, then `tandem copy`) gives verify its target.
verify_alone() {
  want verify || return 0
  say "[$round/$repeat] $1: untimed tandem copy for verify"
  "$2"
  "${tandem_copy[@]}" </dev/null >"$work/log.verify_copy" 2>&1 ||
    { tail -n 30 "$work/log.verify_copy" >&2; die "$1: the copy for verify failed"; }
  verify_case "$1"
}

if want mariadb-pg; then
  prep_t() { pg_fresh bench_dst; tandem_prep "$my/bench_src" "$pg/bench_dst"; }
  tandem_cases "MariaDB -> PostgreSQL" prep_t count_pg_dst
  verify_case "MariaDB -> PostgreSQL"
  # pgloader puts the table in a schema named after the MariaDB database and sets the target
  # database's search_path to it, so `bench` still resolves.
  measure "MariaDB -> PostgreSQL" "pgloader" peer prep_pg_empty count_pg_dst \
    pgloader "${pgloader_opts[@]}" "$my/bench_src" "${pg/postgres:/postgresql:}/bench_dst"
fi

if ! want mariadb-pg; then
  prep_t() { pg_fresh bench_dst; tandem_prep "$my/bench_src" "$pg/bench_dst"; }
  verify_alone "MariaDB -> PostgreSQL" prep_t
fi
if ! want pg-pg; then
  prep_t() { pg_fresh bench_dst; tandem_prep "$pg/bench_src" "$pg/bench_dst"; }
  verify_alone "PostgreSQL -> PostgreSQL" prep_t
fi

if want pg-pg; then
  prep_t() { pg_fresh bench_dst; tandem_prep "$pg/bench_src" "$pg/bench_dst"; }
  tandem_cases "PostgreSQL -> PostgreSQL" prep_t count_pg_dst
  verify_case "PostgreSQL -> PostgreSQL"
  prep_pgcopydb() { prep_pg_table; rm -rf "$work/pgcopydb"; }
  # The same number of table jobs as tandem's --jobs 1 (one table: one job copies it).
  measure "PostgreSQL -> PostgreSQL" "pgcopydb copy table-data" peer prep_pgcopydb count_pg_dst \
    pgcopydb copy table-data --table-jobs 1 --dir "$work/pgcopydb" --source "$pg/bench_src" --target "$pg/bench_dst"
  measure "PostgreSQL -> PostgreSQL" "psql binary \\copy pipe" peer prep_pg_table count_pg_dst \
    bash -c 'set -o pipefail
      psql -X -q -v ON_ERROR_STOP=1 "$1/bench_src" -c "\\copy (SELECT * FROM bench) TO pstdout (FORMAT binary)" |
      psql -X -q -v ON_ERROR_STOP=1 "$1/bench_dst" -c "\\copy bench FROM pstdin (FORMAT binary)"' _ "$pg"
fi

if want sqlite-my; then
  prep_t() { my_fresh bench_dst; tandem_prep "sqlite://$work/src.db" "$my/bench_dst"; }
  tandem_cases "SQLite -> MariaDB" prep_t count_my_dst
fi
if want pg-my; then
  prep_t() { my_fresh bench_dst; tandem_prep "$pg/bench_src" "$my/bench_dst"; }
  tandem_cases "PostgreSQL -> MariaDB" prep_t count_my_dst
fi

# Four tables of ROWS/4 rows, PostgreSQL -> PostgreSQL: --jobs 1 against --jobs 2, and
# pgcopydb with as many table jobs.
if want jobs && [[ -n $has_jobs ]]; then
  if ((first)); then
    say "making four tables of $((rows / 4)) rows (bench4_src)"
    pg_fresh bench4_src
    awk -F'\t' '{print > ("q" ($1 % 4) ".tsv")}' bench.tsv
    for q in 0 1 2 3; do
      psqlc bench4_src -c "${pg_ddl/TABLE bench/TABLE bench_q$q}" -c "\\copy bench_q$q FROM '$work/q$q.tsv'" >/dev/null
      rm -f "q$q.tsv"
    done
    psqlc bench4_src -c 'VACUUM ANALYZE' >/dev/null
  fi
  count_4() { psql -X -tA "$pg/bench4_dst" -c 'SELECT (SELECT count(*) FROM bench_q0) + (SELECT count(*) FROM bench_q1)
      + (SELECT count(*) FROM bench_q2) + (SELECT count(*) FROM bench_q3)'; }
  prep_4() {
    pg_fresh bench4_dst; rm -rf "$work/tandem" && mkdir "$work/tandem"
    "$tandem" init --source "$pg/bench4_src" --target "$pg/bench4_dst" -o "$work/tandem/tandem.yaml" >/dev/null
  }
  for j in 1 2; do
    measure "4 tables PostgreSQL -> PostgreSQL" "tandem --jobs $j" tandem prep_4 count_4 \
      "${tandem_copy[@]}" --jobs "$j"
  done
  prep_4c() {
    pg_fresh bench4_dst; rm -rf "$work/pgcopydb"
    for q in 0 1 2 3; do psqlc bench4_dst -c "${pg_ddl/TABLE bench/TABLE bench_q$q}" >/dev/null; done
  }
  measure "4 tables PostgreSQL -> PostgreSQL" "pgcopydb --table-jobs 2" peer prep_4c count_4 \
    pgcopydb copy table-data --table-jobs 2 --dir "$work/pgcopydb" --source "$pg/bench4_src" --target "$pg/bench4_dst"
  if ((last)); then psqlc postgres -c 'DROP DATABASE bench4_src WITH (FORCE)' -c 'DROP DATABASE IF EXISTS bench4_dst WITH (FORCE)' >/dev/null; fi
fi

# `tandem assess` of sources with a unique key (name) and a foreign key (n -> bench_parent),
# into PostgreSQL; exit 0 (nothing found) or 1 (problems listed) both count as a run.
if want assess && [[ -n $has_assess ]]; then
  if ((first)); then
  say "making the assess sources (unique name, foreign key n -> bench_parent)"
  rm -f "$work/assess.db"
  sqlite3 "$work/assess.db" "$parent_ddl; $parent_rows;
    $(sqlite3 src.db "SELECT sql FROM sqlite_schema WHERE name = 'bench'" |
      sed -e 's/n INTEGER,/n INTEGER REFERENCES bench_parent (id),/' -e 's/name VARCHAR(64),/name VARCHAR(64) UNIQUE,/');
    ATTACH '$work/src.db' AS s; INSERT INTO bench SELECT * FROM s.bench;"
  my_fresh assess_src 'CHARACTER SET utf8mb4 COLLATE utf8mb4_bin'
  mysqlc assess_src -e "$parent_ddl; LOAD DATA LOCAL INFILE '$work/parent.tsv' INTO TABLE bench_parent
      CHARACTER SET utf8mb4 FIELDS TERMINATED BY '\t' LINES TERMINATED BY '\n';
    $my_ddl; ALTER TABLE bench ADD UNIQUE KEY bench_name (name),
      ADD CONSTRAINT bench_n_fkey FOREIGN KEY (n) REFERENCES bench_parent (id);
    $load_data; ANALYZE TABLE bench, bench_parent" >/dev/null
  fi
  assess_run() { "$tandem" assess -c "$work/tandem/tandem.yaml" && return 0; (($? == 1)); }
  export -f assess_run
  prep_a() { pg_fresh bench_dst; tandem_prep "sqlite://$work/assess.db" "$pg/bench_dst"; }
  measure "SQLite -> PostgreSQL" "tandem assess (unique, fk)" assess prep_a all_rows bash -c assess_run
  prep_a() { pg_fresh bench_dst; tandem_prep "$my/assess_src" "$pg/bench_dst"; }
  measure "MariaDB -> PostgreSQL" "tandem assess (unique, fk)" assess prep_a all_rows bash -c assess_run
  if ((last)); then mysqlc -e 'DROP DATABASE assess_src'; rm -f "$work/assess.db"; fi
fi

# Whether two LOAD DATA streams beat one (issue 9: writes into MariaDB).
if want streams; then
  if ((first)); then
    say "LOAD DATA: one stream against two (two tables; one table, two key ranges)"
    awk -F'\t' -v h=$((rows / 2)) '$1 <= h' bench.tsv > half1.tsv
    awk -F'\t' -v h=$((rows / 2)) '$1 > h' bench.tsv > half2.tsv
  fi
  prep_s2() { my_fresh bench_dst; mysqlc bench_dst -e "$my_ddl; ${my_ddl/TABLE bench/TABLE bench2}"; }
  count_s2() { mysqlc bench_dst -N -e 'SELECT (SELECT count(*) FROM bench) + (SELECT count(*) FROM bench2)'; }
  two_streams() {  # two_streams TABLE1 TABLE2 (bash -c: /usr/bin/time runs programs)
    mariadb --defaults-file="$work/my.cnf" bench_dst -e "$(load_data_of "$work/half1.tsv" "$1")" &
    local a=$!
    mariadb --defaults-file="$work/my.cnf" bench_dst -e "$(load_data_of "$work/half2.tsv" "$2")" || { wait $a; return 1; }
    wait $a
  }
  export -f two_streams load_data_of
  measure "MariaDB LOAD DATA" "two streams, two tables" experiment prep_s2 count_s2 bash -c 'two_streams bench bench2'
  measure "MariaDB LOAD DATA" "two streams, one table" experiment prep_my_table count_my_dst bash -c 'two_streams bench bench'
  if ((last)); then rm -f half1.tsv half2.tsv; fi
fi

done  # rounds
results=()  # "pair|tool|role|runs seconds|runs peak KB"
for key in "${order[@]}"; do results+=("$key|${res_role[$key]}|${res_s[$key]# }|${res_kb[$key]# }"); done

# --- 4. the report -------------------------------------------------------------------------
# stats "v1 v2 ...": "median min max" of the numbers.
stats() {
  echo "$1" | tr ' ' '\n' | sort -g | awk '{v[NR] = $1}
    END {m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%s %s %s\n", m, v[1], v[NR]}'
}
field_of() {  # field_of PAIR TOOL FIELD (0 pair, 1 tool, 2 role, 3 seconds, 4 KB): "" when absent
  local r f
  for r in "${results[@]}"; do
    IFS='|' read -r -a f <<<"$r"
    [[ ${f[0]} == "$1" && ${f[1]} == "$2" ]] && { echo "${f[$3]}"; return; }
  done
  return 0
}
med_of() {  # med_of PAIR TOOL: median seconds, "" when not measured
  local runs
  runs=$(field_of "$1" "$2" 3)
  [[ -n $runs ]] && stats "$runs" | cut -d' ' -f1
  return 0
}
spread_of() {  # spread_of PAIR TOOL: "min..max"
  local runs m lo hi
  runs=$(field_of "$1" "$2" 3)
  [[ -n $runs ]] || return 0
  read -r m lo hi < <(stats "$runs")
  echo "$lo..$hi"
}
div() { if [[ -n $1 && -n $2 ]]; then printf '%.2f' "$(echo "$1 / $2" | bc -l)"; fi; }  # div A B = A / B
ratio_spread() {  # ratio_spread LIMIT_RUNS TANDEM_RUNS: "lo..hi" of limit / tandem over the runs' extremes
  local a b
  read -r _ alo ahi < <(stats "$1")
  read -r _ blo bhi < <(stats "$2")
  echo "$(div "$alo" "$bhi")..$(div "$ahi" "$blo")"
}

# The raw read of each source and the ingest ceiling of each target.
read_tool() {
  case $1 in
    SQLite) echo "read: sqlite3 every column" ;; PostgreSQL) echo "read: COPY TO binary" ;;
    MariaDB) echo "read: mariadb --quick" ;;
  esac
}
ingest_tool() {  # the target's fastest ingest measured (MariaDB: one statement or 20)
  case $1 in
    SQLite) echo "ingest: INSERT..SELECT attached" ;; PostgreSQL) echo "ingest: \\copy FROM binary file" ;;
    MariaDB)
      local one twenty
      one=$(med_of MariaDB "ingest: LOAD DATA LOCAL INFILE")
      twenty=$(med_of MariaDB "ingest: LOAD DATA, 20 statements")
      if [[ -n $twenty && ( -z $one || $(echo "$twenty < $one" | bc) == 1 ) ]]; then
        echo "ingest: LOAD DATA, 20 statements"
      else
        echo "ingest: LOAD DATA LOCAL INFILE"
      fi ;;
  esac
}
# limit_of PAIR: "seconds name" of the slower of the source's read and the target's ingest
# (SQLite -> SQLite: INSERT..SELECT, which reads and writes in one process).
limit_of() {
  local src=${1%% -> *} dst=${1##* -> } r i
  if [[ $src == SQLite && $dst == SQLite ]]; then
    i=$(med_of SQLite "$(ingest_tool SQLite)")
    [[ -n $i ]] && echo "$i SQLite:$(ingest_tool SQLite)"
    return 0
  fi
  r=$(med_of "$src" "$(read_tool "$src")")
  i=$(med_of "$dst" "$(ingest_tool "$dst")")
  [[ -n $r && -n $i ]] || return 0
  if (($(echo "$r >= $i" | bc -l))); then echo "$r $src:$(read_tool "$src")"; else echo "$i $dst:$(ingest_tool "$dst")"; fi
}
limit_runs_of() {  # limit_runs_of NAME ("Engine:tool" as limit_of prints it)
  field_of "${1%%:*}" "${1#*:}" 3
}

goal_lines=()
goal() {  # goal TEXT MEASURED SPREAD WANTED: pass when MEASURED >= WANTED
  local verdict=MISS
  [[ -z $2 ]] && return 0
  (($(echo "$2 >= $4" | bc -l))) && verdict=ok
  goal_lines+=("$(printf '%-62s %7s %13s %8s  %s' "$1" "$2" "${3:+($3)}" ">= $4" "$verdict")")
}

report() {
  echo "tandem benchmark: $rows rows, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, REPEAT=$repeat, $("$tandem" --version 2>/dev/null | head -n 1)"
  echo "tandem binary built $tandem_built; source tree at start $tree; --jobs $([[ -n $has_jobs ]] && echo yes || echo no); assess $([[ -n $has_assess ]] && echo yes || echo no)"
  echo "peers: $(pgloader --version 2>/dev/null | head -n 1); $(pgcopydb --version 2>&1 | grep -m1 -o 'pgcopydb version.*'); $(psql --version); $(mariadb --version | sed 's/,.*//')"
  echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
  local cap
  read -r -a cap < <(stats "${capacity_runs# }")
  echo "two-core capacity: ${cap[0]} cores (${cap[1]}..${cap[2]}): two copies of a CPU-bound loop at once"
  echo "against one alone (2.00 = two whole cores); a copy keeps both cores busy, its limits one"
  echo "seconds = wall time of the whole command (start-up, schema work, copy, index build), median"
  echo "of the runs with min..max; peak MB = max RSS of the command's processes (servers excluded)"
  echo
  printf '%-34s %-32s %7s %13s %9s %7s\n' case tool seconds "(min..max)" rows/s "peak MB"
  local r f m lo hi kb
  for r in "${results[@]}"; do
    IFS='|' read -r -a f <<<"$r"
    read -r m lo hi < <(stats "${f[3]}")
    read -r kb _ < <(stats "${f[4]}")
    printf '%-34s %-32s %7.2f %13s %9.0f %7.0f\n' "${f[0]}" "${f[1]}" "$m" "($lo..$hi)" \
      "$(echo "$rows / $m" | bc -l)" "$(echo "$kb / 1024" | bc -l)"
  done

  echo
  echo "limits (the slower of the source's raw read and the target's ingest) and ratios"
  printf '%-26s %-24s %8s %-44s %7s %7s %13s\n' pair tandem seconds "limit" "limit s" ratio "(min..max)"
  local pair tool lim lim_s lim_name ts
  for pair in "SQLite -> SQLite" "SQLite -> PostgreSQL" "MariaDB -> PostgreSQL" "PostgreSQL -> PostgreSQL" \
      "SQLite -> MariaDB" "PostgreSQL -> MariaDB"; do
    lim=$(limit_of "$pair")
    for tool in "tandem" "tandem --jobs 1" "tandem (default jobs)"; do
      ts=$(med_of "$pair" "$tool")
      [[ -n $ts ]] || continue
      if [[ -n $lim ]]; then
        lim_s=${lim%% *} lim_name=${lim#* }
        local rs
        rs=$(ratio_spread "$(limit_runs_of "$lim_name")" "$(field_of "$pair" "$tool" 3)")
        printf '%-26s %-24s %8.2f %-44s %7.2f %7s %13s\n' "$pair" "$tool" "$ts" "$lim_name" "$lim_s" \
          "$(div "$lim_s" "$ts")" "($rs)"
        goal "$pair: $tool / limit" "$(div "$lim_s" "$ts")" "$rs" 0.8
      else
        printf '%-26s %-24s %8.2f %-44s\n' "$pair" "$tool" "$ts" "(no limit measured: ONLY lacks reads/ceilings)"
      fi
    done
  done

  # Peers: how many times faster tandem is (peer median / tandem median).
  peer_goal() {  # peer_goal PAIR PEER_TOOL WANTED
    local tool ps ts
    ps=$(med_of "$1" "$2")
    [[ -n $ps ]] || return 0
    for tool in "tandem" "tandem --jobs 1"; do
      ts=$(med_of "$1" "$tool")
      [[ -n $ts ]] || continue
      goal "$1: $tool vs $2" "$(div "$ps" "$ts")" "$(ratio_spread "$(field_of "$1" "$2" 3)" "$(field_of "$1" "$tool" 3)")" "$3"
    done
  }
  peer_goal "SQLite -> PostgreSQL" pgloader 3
  peer_goal "MariaDB -> PostgreSQL" pgloader 3
  peer_goal "PostgreSQL -> PostgreSQL" "pgcopydb copy table-data" 1.3

  # verify against the slower side's raw read.
  local src vs rd
  for pair in "PostgreSQL -> PostgreSQL" "MariaDB -> PostgreSQL"; do
    vs=$(med_of "$pair" "tandem verify")
    [[ -n $vs ]] || continue
    src=${pair%% -> *}
    rd=$(med_of "$src" "$(read_tool "$src")")
    local pr
    pr=$(med_of PostgreSQL "$(read_tool PostgreSQL)")
    [[ -n $rd && -n $pr ]] || continue
    (($(echo "$pr > $rd" | bc -l))) && rd=$pr
    goal "$pair: verify rate / slower side's raw read" "$(div "$rd" "$vs")" "" 0.8
  done
  # assess against the source's raw read.
  for src in SQLite MariaDB; do
    vs=$(med_of "$src -> PostgreSQL" "tandem assess (unique, fk)")
    rd=$(med_of "$src" "$(read_tool "$src")")
    [[ -n $vs && -n $rd ]] || continue
    goal_lines+=("$(printf '%-62s %7s  (%s rows/s against the raw read'"'"'s %s)' "$src -> PostgreSQL: assess rate / source raw read" \
      "$(div "$rd" "$vs")" "$(printf '%.0f' "$(echo "$rows / $vs" | bc -l)")" "$(printf '%.0f' "$(echo "$rows / $rd" | bc -l)")")")
  done
  # --jobs 2 against --jobs 1 on four tables.
  local j1 j2
  j1=$(med_of "4 tables PostgreSQL -> PostgreSQL" "tandem --jobs 1")
  j2=$(med_of "4 tables PostgreSQL -> PostgreSQL" "tandem --jobs 2")
  [[ -n $j1 && -n $j2 ]] && goal_lines+=("$(printf '%-62s %7s  (speed-up of --jobs 2 over --jobs 1)' "4 tables: --jobs 1 / --jobs 2" "$(div "$j1" "$j2")")")
  # Two LOAD DATA streams against one.
  local one
  one=$(med_of MariaDB "ingest: LOAD DATA LOCAL INFILE")
  for tool in "two streams, two tables" "two streams, one table"; do
    vs=$(med_of "MariaDB LOAD DATA" "$tool")
    [[ -n $vs && -n $one ]] && goal_lines+=("$(printf '%-62s %7s  (one stream %.2f s, two %.2f s)' "MariaDB LOAD DATA, $tool: one / two" "$(div "$one" "$vs")" "$one" "$vs")")
  done
  # Peak memory of every tandem case.
  local worst=0 name="" k
  for r in "${results[@]}"; do
    IFS='|' read -r -a f <<<"$r"
    [[ ${f[2]} == tandem || ${f[2]} == verify || ${f[2]} == assess ]] || continue
    for k in ${f[4]}; do ((k > worst)) && worst=$k name="${f[0]} / ${f[1]}"; done
  done
  if ((worst > 0)); then
    local mb=$((worst / 1024)) verdict=MISS
    ((mb < 300)) && verdict=ok
    goal_lines+=("$(printf '%-62s %7s %13s %8s  %s' "peak memory of every tandem run (largest: $name)" "${mb} MB" "" "< 300 MB" "$verdict")")
  fi
  [[ -n $has_jobs ]] || goal_lines+=("(--jobs cases skipped: this tandem copy has no --jobs)")
  [[ -n $has_assess ]] || goal_lines+=("(assess cases skipped: this tandem has no assess command)")

  echo
  echo "goals (medians; in brackets the ratio's range over the runs' extremes)"
  printf '%-62s %7s %13s %8s  %s\n' goal measured "" wanted verdict
  printf '%s\n' "${goal_lines[@]}"
}
report | tee "$out"
say "done"
echo "(also written to $out)" >&2
