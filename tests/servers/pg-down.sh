#!/usr/bin/env bash
# Stops the test PostgreSQL started by pg-up.sh DIR (fast shutdown). Keeps the data.
set -uo pipefail
dir=${1:?usage: pg-down.sh DIR}
bin=/usr/lib/postgresql/15/bin
as_pg=()
if [[ $(id -u) == 0 ]]; then as_pg=(runuser -u postgres --); fi
[[ -d $dir ]] || exit 0
dir=$(cd "$dir" && pwd)
data=$dir/data
if [[ -f $dir/datadir ]]; then data=$(cat "$dir/datadir"); fi
[[ -f $data/PG_VERSION ]] || exit 0
if "${as_pg[@]}" "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
  "${as_pg[@]}" "$bin/pg_ctl" -D "$data" -m fast -w stop >&2
fi
