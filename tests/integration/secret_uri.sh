#!/usr/bin/env bash
# Issue 11, item 9: a MariaDB password holding '/', '@', ':' and '%' works, in the URI
# (raw or percent-encoded) and from TANDEM_SOURCE_PASSWORD, and appears nowhere: not in the
# drafted tandem.yaml, not in stdout or stderr (good or bad password), not in the state file.
. "$TANDEM_REPO/tests/lib/common.sh"
envfile=${TANDEM_TEST_SERVERS:?}/env
MY=$(grep '^TANDEM_TEST_MYSQL=' "$envfile" | cut -d= -f2-)
[[ $MY =~ ^mysql://([^:]+):([^@]+)@([^:/]+):([0-9]+)/ ]] || fail "bad MariaDB URI"
host=${BASH_REMATCH[3]} port=${BASH_REMATCH[4]}
MYARGS=(--protocol=tcp -h "$host" -P "$port" -u "${BASH_REMATCH[1]}")
admin_pw=${BASH_REMATCH[2]}
export MYSQL_PWD=$admin_pw
db=secret_$$ user=pw_$$
secret='Zq/7@k:9%x'          # what the server knows
raw='Zq/7@k:9%25x'           # written raw in the URI: only '%' escaped
encoded='Zq%2F7%40k%3A9%25x' # every special character escaped
trap 'MYSQL_PWD=$admin_pw mariadb "${MYARGS[@]}" -e "DROP DATABASE IF EXISTS ${db}; DROP USER IF EXISTS '"'"'${user}'"'"'@'"'"'%'"'"'"; rm -rf "$WORK"' EXIT
mariadb "${MYARGS[@]}" -e "CREATE DATABASE ${db};
  CREATE USER '${user}'@'%' IDENTIFIED BY '${secret}';
  GRANT ALL ON ${db}.* TO '${user}'@'%';
  GRANT PROCESS ON *.* TO '${user}'@'%';
  CREATE TABLE ${db}.items (id INT PRIMARY KEY, name VARCHAR(20));
  INSERT INTO ${db}.items VALUES (1, 'one'), (2, 'two');"
unset MYSQL_PWD

# No file tandem wrote and no line it printed holds the password in any spelling.
no_secret() {  # no_secret WHAT FILE...
  local what=$1 f needle; shift
  for f in "$@"; do
    [[ -e $f ]] || continue
    for needle in "$secret" "$raw" "$encoded" "7@k:9" "Zq/7" "Zq%2F7"; do
      if grep -aqF -- "$needle" "$f"; then
        echo "--- $f"; cat -v "$f" | head -20
        fail "$what: the password ($needle) appears in $f"
      fi
    done
  done
}

n=0
for pw in "$raw" "$encoded"; do
  n=$((n + 1))
  uri="mysql://${user}:${pw}@${host}:${port}/${db}"
  expect_exit 0 init --source "$uri" --target "sqlite:new$n.db" -o "m$n.yaml"
  grep -q "1 tables" out || fail "init with the password in the URI: $(cat out err)"
  grep -q "passwords were left out of m$n.yaml" out || fail "init should say the password was left out"
  grep -Eq "^source: \"?mysql://${user}@${host}:${port}/${db}\"?$" "m$n.yaml" ||
    fail "the drafted source URI: $(grep ^source "m$n.yaml")"
  no_secret "init, URI form $n" "m$n.yaml" out err
done
pass "init with the password in the URI, raw and percent-encoded"

TANDEM_SOURCE_PASSWORD=$secret expect_exit 0 check -c m1.yaml
no_secret "check" out err
TANDEM_SOURCE_PASSWORD=$secret expect_exit 0 copy -c m1.yaml
no_secret "copy" out err m1.state.db m1.state.db-wal
[[ $(sqlite3 new1.db "SELECT count(*) FROM items") == 2 ]] || fail "copy with the password from the environment"
pass "check and copy with the password from TANDEM_SOURCE_PASSWORD"

# A wrong password (one character changed) fails with a message, never an echo of it.
TANDEM_SOURCE_PASSWORD=${secret/x/y} expect_exit 3 check -c m1.yaml
[[ -s err ]] || fail "no error message for a bad password"
no_secret "bad password from the environment" out err
expect_exit 3 init --source "mysql://${user}:${raw/x/y}@${host}:${port}/${db}" --target sqlite:z.db -o z.yaml --force
[[ -s err ]] || fail "no error message for a bad password"
no_secret "bad password in the URI" out err
# A URI tandem cannot parse (a bare '%') is refused without quoting it.
expect_exit 2 init --source "mysql://${user}:${secret}@${host}:${port}/${db}" --target sqlite:z.db -o z.yaml --force
no_secret "unparseable URI" out err
pass "errors name no password"
