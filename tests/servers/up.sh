#!/usr/bin/env bash
# Starts the throwaway PostgreSQL and MariaDB test servers (idempotent) and writes
# DIR/env with the URIs the tests use. Fails when a server cannot start: tests that need a
# server must fail, not skip.
set -euo pipefail
dir=${1:?usage: up.sh DIR}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$dir"
: > "$dir/env.new"
bash "$here/pg-up.sh" "$dir/pg" >> "$dir/env.new"
bash "$here/mariadb-up.sh" "$dir/mariadb" >> "$dir/env.new"
mv "$dir/env.new" "$dir/env"
cat "$dir/env" | sed -E 's#(://[^:]*:)[^@]*@#\1***@#'
