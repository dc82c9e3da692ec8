#!/usr/bin/env bash
# Issue 11, also found (a): on PostgreSQL and MariaDB a user's table whose name starts with
# _tandem (here _tandem_notes) is drafted by `init` like any other; only tandem's own tables
# are left out. (SQLite: hygiene_sqlite.sh.)
. "$TANDEM_REPO/tests/lib/common.sh"
envfile=${TANDEM_TEST_SERVERS:?}/env
PG=$(grep '^TANDEM_TEST_PG=' "$envfile" | cut -d= -f2-)
MY=$(grep '^TANDEM_TEST_MYSQL=' "$envfile" | cut -d= -f2-)
[[ $MY =~ ^mysql://([^:]+):([^@]+)@([^:/]+):([0-9]+)/ ]] || fail "bad MariaDB URI"
MYARGS=(--protocol=tcp -h "${BASH_REMATCH[3]}" -P "${BASH_REMATCH[4]}" -u "${BASH_REMATCH[1]}")
export MYSQL_PWD=${BASH_REMATCH[2]}
db=tnamed_$$
trap 'psql -qAtX "$PG" -c "DROP DATABASE IF EXISTS ${db} WITH (FORCE)" >/dev/null; mariadb "${MYARGS[@]}" -e "DROP DATABASE IF EXISTS ${db}"; rm -rf "$WORK"' EXIT
psql -qAtX "$PG" -c "CREATE DATABASE ${db}" >/dev/null
psql -qAtX -v ON_ERROR_STOP=1 "${PG%/*}/${db}" -c "CREATE TABLE items (id int PRIMARY KEY);
  CREATE TABLE _tandem_notes (id int PRIMARY KEY, note text);"
mariadb "${MYARGS[@]}" -e "CREATE DATABASE ${db}; CREATE TABLE ${db}.items (id INT PRIMARY KEY);
  CREATE TABLE ${db}._tandem_notes (id INT PRIMARY KEY, note TEXT);"
for src in "${PG%/*}/${db}" "${MY%/*}/${db}"; do
  kind=${src%%:*}
  expect_exit 0 init --source "$src" --target "sqlite:$kind.db" -o "$kind.yaml"
  grep -q "2 tables" out || fail "$kind: init should draft items and _tandem_notes: $(cat out)"
  grep -q "source: _tandem_notes" "$kind.yaml" || fail "$kind: _tandem_notes was not drafted"
done
pass "a user's _tandem_notes is drafted on PostgreSQL and MariaDB"
