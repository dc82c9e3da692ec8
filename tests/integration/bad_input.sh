#!/usr/bin/env bash
# Bad input gets a clear error and exit code, never a crash; passwords never appear.
. "$TANDEM_REPO/tests/lib/common.sh"
envfile=${TANDEM_TEST_SERVERS:?}/env
PG=$(grep '^TANDEM_TEST_PG=' "$envfile" | cut -d= -f2-)

expect_exit 2
expect_exit 2 frobnicate
expect_exit 2 copy -c missing.yaml
grep -q "cannot read mapping file missing.yaml" err || fail "missing file: $(cat err)"
printf 'source: sqlite:a.db\ntarget: [unclosed\n' > broken.yaml
expect_exit 2 check -c broken.yaml
grep -q "broken.yaml:" err || fail "syntax error without file:line: $(cat err)"
expect_exit 2 init --source oracle://x/y --target sqlite:b.db -o x.yaml
grep -q "unknown database URI" err || fail "unknown scheme: $(cat err)"
pass "arguments, files and URIs"

sqlite3 nokey.db "CREATE TABLE log (at TEXT, line TEXT)"
expect_exit 0 init --source sqlite:nokey.db --target sqlite:out.db -o nokey.yaml
grep -q "have no primary key" out || fail "init should warn about keyless tables"
grep -q "^    key: none$" nokey.yaml || fail "init should draft key: none"
expect_exit 0 check -c nokey.yaml
sed -i '/^    key: none$/d' nokey.yaml
expect_exit 2 check -c nokey.yaml
grep -q "table log has no primary key" err || fail "keyless table not named: $(cat err)"
pass "a table without a key is drafted as key: none, and refused by name without one"

bad=${PG/tandem-secret/Wr0ng-S3cret}
expect_exit 3 init --source "$bad" --target sqlite:x.db -o pg.yaml
grep -q "Wr0ng-S3cret" err out && fail "the password leaked into the message: $(cat err)"
[[ -s err ]] || fail "no error message for a bad password"
TANDEM_SOURCE_PASSWORD=Wr0ng-S3cret expect_exit 3 init --source "${PG/:tandem-secret@/@}" --target sqlite:x.db -o pg.yaml
grep -q "Wr0ng-S3cret" err out && fail "the password from the environment leaked: $(cat err)"
expect_exit 0 init --source "$PG" --target sqlite:x.db -o pg.yaml
grep -q "tandem-secret" pg.yaml && fail "init wrote the password into the mapping file"
grep -q "passwords were left out of pg.yaml" out || fail "init should say the password was left out"
pass "no password in errors, output or the drafted file"
