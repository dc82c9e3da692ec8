#!/usr/bin/env bash
# SQLite -> SQLite, 1M rows: tandem copy against sqlite3's own ATTACH + INSERT ... SELECT
# (the in-process ceiling) on the same data, printing rows/s, peak memory and the ratio.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
tandem=${TANDEM:-$repo/build/tandem}
rows=${ROWS:-1000000}
work=$(mktemp -d /tmp/tandem-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
cd "$work"
sqlite3 src.db ".parameter set :rows $rows" ".read $repo/bench/gen_sqlite.sql"
"$tandem" init --source sqlite:src.db --target sqlite:dst.db -o tandem.yaml >/dev/null

measure() {  # measure NAME CMD...: prints seconds and peak RSS (MB)
  local name=$1; shift
  /usr/bin/time -f "%e %M" -o time.txt "$@" >/dev/null 2>log.txt || { cat log.txt; exit 1; }
  read -r secs kb < time.txt
  printf '%-28s %8.2f s %10.0f rows/s %7.0f MB\n' "$name" "$secs" "$(echo "$rows / $secs" | bc -l)" "$(echo "$kb / 1024" | bc -l)"
  echo "$secs" > "last.$name"
}
echo "SQLite -> SQLite, $rows rows"
measure tandem "$tandem" copy -c tandem.yaml
sqlite3 ceiling.db "$(sqlite3 src.db .schema)"
measure sqlite3-insert-select sqlite3 ceiling.db "ATTACH 'src.db' AS s; INSERT INTO bench SELECT * FROM s.bench;"
printf 'ratio tandem / sqlite3 INSERT...SELECT: %.2f\n' "$(echo "$(cat last.sqlite3-insert-select) / $(cat last.tandem)" | bc -l)"
