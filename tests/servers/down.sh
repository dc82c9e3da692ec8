#!/usr/bin/env bash
# Stops the test servers started by up.sh DIR. Never fails.
dir=${1:?usage: down.sh DIR}
here=$(cd "$(dirname "$0")" && pwd)
bash "$here/pg-down.sh" "$dir/pg" || true
bash "$here/mariadb-down.sh" "$dir/mariadb" || true
exit 0
