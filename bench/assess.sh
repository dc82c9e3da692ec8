#!/usr/bin/env bash
# `tandem assess` on the 1,000,000-row benchmark table (bench/gen_sqlite.sql), SQLite source
# into a PostgreSQL target with a unique index (name) and a foreign key (n -> id), against the
# source's raw read rate in the same run (sqlite3 reading every column of every row).
# Usage: bash bench/assess.sh PG_URI   (a server tandem may create a database on)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
tandem=${TANDEM:-$repo/build/tandem}
pg=${1:?usage: assess.sh postgres://user:pass@host:port/db}
rows=${ROWS:-1000000}
work=${BENCH_DIR:-$repo/build/bench-assess}
mkdir -p "$work" && cd "$work"
[[ -f src.db ]] || sqlite3 src.db ".parameter set :rows $rows" ".read $repo/bench/gen_sqlite.sql"
psql -qAtX "$pg" -c "DROP DATABASE IF EXISTS bench_assess" -c "CREATE DATABASE bench_assess"
cat > tandem.yaml <<YAML
source: sqlite:src.db
target: ${pg%/*}/bench_assess
tables:
  - source: bench
    target: bench
    columns:
      id: {to: id, type: bigint}
      n: {to: n, type: integer}
      name: {to: name, type: varchar(64)}
      amount: {to: amount, type: "decimal(12,2)"}
      created: {to: created, type: timestamp}
      active: {to: active, type: bool}
      maybe: {to: maybe, type: text}
      body: {to: body, type: text}
      day: {to: day, type: date}
    indexes:
      - {name: bench_name_key, columns: [name], unique: true}
    foreign_keys:
      - {name: bench_n_fk, columns: [n], references: bench, ref_columns: [id]}
YAML
raw() { /usr/bin/time -f "%e %M" sqlite3 src.db "SELECT * FROM bench" 2>&1 >/dev/null | tail -1; }
ass() { /usr/bin/time -f "%e %M" "$tandem" assess -c tandem.yaml --json assess.json 2>&1 >/dev/null | tail -1; }
read -r raw_s raw_kb <<<"$(raw)"
read -r ass_s ass_kb <<<"$(ass)" || true
echo "rows $rows"
echo "sqlite3 raw read: $raw_s s ($(python3 -c "print(round($rows/$raw_s))") rows/s), peak $((raw_kb/1024)) MB"
echo "tandem assess:    $ass_s s ($(python3 -c "print(round($rows/$ass_s))") rows/s), peak $((ass_kb/1024)) MB"
echo "ratio assess/raw rate: $(python3 -c "print(round($raw_s/$ass_s, 2))")"
python3 -c "import json; r=json.load(open('assess.json')); print('findings:', [(f['kind'], f['count']) for f in r['findings']])"
