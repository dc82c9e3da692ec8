#!/usr/bin/env bash
# Issue 11, items 8 and 10 and "also found", through the tandem binary on SQLite:
# chunk_rows: 0 and a repeated key are refused at `check` with file:line; a SQLite source that
# does not exist is refused (not created empty); a user's table named _tandem_notes is drafted;
# hooks get no password in their environment; the state file is private (0600).
. "$TANDEM_REPO/tests/lib/common.sh"

sqlite3 old.db "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT);
  INSERT INTO items VALUES (1, 'one'), (2, 'two');
  CREATE TABLE _tandem_notes (id INTEGER PRIMARY KEY, note TEXT);
  INSERT INTO _tandem_notes VALUES (1, 'mine');"

# Also found (b): a source path that does not exist.
expect_exit 2 init --source sqlite:missing.db --target sqlite:new.db -o missing.yaml
grep -q "sqlite database $WORK/missing.db does not exist" err || fail "missing source: $(cat out err)"
[[ ! -e missing.db ]] || fail "init created the missing source file"
[[ ! -e missing.yaml ]] || fail "init wrote a mapping for a missing source"
pass "a SQLite source that does not exist is refused by path"

# Also found (a): only tandem's own tables are left out.
expect_exit 0 init --source sqlite:old.db --target sqlite:new.db -o tandem.yaml
grep -q "2 tables" out || fail "init should draft items and _tandem_notes: $(cat out)"
grep -q "source: _tandem_notes" tandem.yaml || fail "_tandem_notes was not drafted"
pass "a user's _tandem_notes table is drafted"

# The source is checked by `check` too, once the mapping exists.
mv old.db gone.db
expect_exit 2 check -c tandem.yaml
grep -q "old.db does not exist" err || fail "check on a missing source: $(cat err)"
[[ ! -e old.db ]] || fail "check created the missing source file"
mv gone.db old.db

# Item 8: numeric options and repeated keys, with file:line.
cp tandem.yaml good.yaml
sed -i '2a options: {chunk_rows: 0}' tandem.yaml
expect_exit 2 check -c tandem.yaml
grep -q "tandem.yaml:3: options.chunk_rows: expected a whole number from 1 " err || fail "chunk_rows 0: $(cat err)"
expect_exit 2 copy -c tandem.yaml
cp good.yaml tandem.yaml
sed -i '2a source: sqlite:other.db' tandem.yaml
expect_exit 2 check -c tandem.yaml
grep -Eq "tandem.yaml:[0-9]+: source: key given twice \(first at line [0-9]+\)" err || fail "second source: $(cat err)"
cp good.yaml tandem.yaml
sed -i '2a hooks: {freeze: {x: 1}}' tandem.yaml
expect_exit 2 check -c tandem.yaml
grep -q "tandem.yaml:3: hooks.freeze: expected a shell command" err || fail "map as a hook: $(cat err)"
pass "bad options, repeated keys and wrongly-typed hooks are refused with file:line"

# Item 10: a hook's environment holds no password; the state file is 0600.
cp good.yaml tandem.yaml
sed -i '2a hooks:\n  reads: env > hook.env' tandem.yaml
export TANDEM_SOURCE_PASSWORD=src-Secret-1 TANDEM_TARGET_PASSWORD=tgt-Secret-2
export PGPASSWORD=pg-Secret-3 MYSQL_PWD=my-Secret-4 KEEP_ME=kept
umask 022
expect_exit 0 start -c tandem.yaml --until-synced
for f in tandem.state.db tandem.state.db-wal tandem.state.db-shm tandem.state.db-journal; do
  [[ -e $f ]] || continue
  [[ $(stat -c %a "$f") == 600 ]] || fail "$f is mode $(stat -c %a "$f"), expected 600"
done
[[ -e tandem.state.db ]] || fail "no state file"
expect_exit 0 verify -c tandem.yaml
expect_exit 0 switch reads -c tandem.yaml
[[ -s hook.env ]] || fail "the reads hook did not run"
grep -q "Secret" hook.env && fail "a password reached the hook: $(grep Secret hook.env)"
grep -q "^KEEP_ME=kept$" hook.env || fail "the hook lost the rest of the environment"
grep -q "^TANDEM_PHASE=" hook.env || fail "the hook lost TANDEM_PHASE"
grep -q "^TANDEM_HOOK=reads$" hook.env || fail "the hook lost TANDEM_HOOK"
pass "hooks get no password; the state file is 0600"

# A state file left 0644 by an older tandem is tightened when opened.
chmod 644 tandem.state.db
expect_exit 0 status -c tandem.yaml
[[ $(stat -c %a tandem.state.db) == 600 ]] || fail "an old 0644 state file stayed $(stat -c %a tandem.state.db)"
pass "an old state file is made private"
