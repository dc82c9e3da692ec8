# Shared set-up for SQLite live-writer scenarios. Source after tests/lib/common.sh.
# Builds old.db (accounts, pairs), a mapping that renames tables and columns, the writer's
# profile, and hooks that move the writer by rewriting the pointer file.
SCENARIO_LIB=$TANDEM_REPO/tests/scenarios/lib

# The scenarios' mapping: tables and columns renamed, types explicit; with `hooks`, the hooks
# move the writer by rewriting the pointer file.
write_mapping() {  # write_mapping SOURCE_URI TARGET_URI CHUNK_ROWS [hooks]
  {
    printf 'source: %s\ntarget: %s\noptions: {chunk_rows: %s, batch_rows: 200}\n' "$1" "$2" "$3"
    if [[ ${4:-} == hooks ]]; then
      cat <<'HOOKS'
hooks:
  reads: echo "reads -> $TANDEM_READS" >> hooks.log
  writes: echo "$TANDEM_WRITES" > pointer && echo "writes -> $TANDEM_WRITES" >> hooks.log
  rollback: echo "rollback ($TANDEM_PHASE)" >> hooks.log
HOOKS
    fi
    cat <<'TABLES'
tables:
  - source: accounts
    target: account
    columns:
      id: {to: id, type: bigint}
      owner: {to: owner_name, type: varchar(64)}
      balance: {to: balance, type: bigint}
      note: {to: note, type: text}
  - source: pairs
    target: pair_values
    columns:
      a: {to: a, type: varchar(16)}
      b: {to: b, type: bigint}
      v: {to: value, type: text}
TABLES
  } > tandem.yaml
}

# Extra arguments for every `tandem start` of a scenario (e.g. START_ARGS=(--jobs 2)).
START_ARGS=()

# kill -9 of `tandem start` N times at random moments (the first two early, in the backfill);
# sets KILLS to how many landed.
kill_loop() {  # kill_loop N
  local i pid
  KILLS=0
  for ((i = 1; i <= $1; i++)); do
    "$TANDEM" start -c tandem.yaml "${START_ARGS[@]}" >> follower.out 2>> follower.err &
    pid=$!
    sleep "$("$PYTHON" -c "import random; random.seed($i); print(round(random.uniform(0.1, 0.4) if $i <= 2 else random.uniform(0.2, 1.5), 2))")"
    if kill -9 "$pid" 2>/dev/null; then KILLS=$((KILLS + 1)); fi
    wait "$pid" 2>/dev/null || true
    echo "kill $i: phase $(phase)"
  done
  ((KILLS >= 5)) || fail "only $KILLS kills landed"
}

make_scenario() {  # make_scenario ROWS CHUNK_ROWS
  local rows=$1 chunk=$2
  sqlite3 old.db >/dev/null <<SQL
PRAGMA journal_mode = WAL;
CREATE TABLE accounts (id INTEGER PRIMARY KEY, owner TEXT NOT NULL, balance INTEGER, note TEXT);
CREATE TABLE pairs (a TEXT NOT NULL, b INTEGER NOT NULL, v TEXT, PRIMARY KEY (a, b));
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $rows)
INSERT INTO accounts SELECT i, 'owner ' || i, i * 10, CASE WHEN i % 9 = 0 THEN NULL WHEN i % 9 = 1 THEN '' ELSE 'n' || i END FROM n;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $rows / 2)
INSERT INTO pairs SELECT CASE i % 4 WHEN 0 THEN 'north' WHEN 1 THEN 'süd' WHEN 2 THEN 'Ost' ELSE 'west' END, i, 'v' || i FROM n;
SQL
  echo old > pointer
  write_mapping sqlite:old.db sqlite:new.db "$chunk" hooks
  cat > profile.json <<JSON
{
  "tables": {
    "accounts": {"key": ["id"], "cols": ["id", "owner", "balance", "note"],
                 "types": {"owner": "text", "balance": "int", "note": "text?"}},
    "pairs": {"key": ["a", "b"], "cols": ["a", "b", "v"], "keygen": "pair",
              "types": {"v": "text?"}}
  },
  "old": {"db": "old.db", "tables": {
    "accounts": {"name": "accounts", "cols": {"id": "id", "owner": "owner", "balance": "balance", "note": "note"}},
    "pairs": {"name": "pairs", "cols": {"a": "a", "b": "b", "v": "v"}}}},
  "new": {"db": "new.db", "tables": {
    "accounts": {"name": "account", "cols": {"id": "id", "owner": "owner_name", "balance": "balance", "note": "note"}},
    "pairs": {"name": "pair_values", "cols": {"a": "a", "b": "b", "v": "value"}}}}
}
JSON
}

start_writer() {  # start_writer SEED RATE [MAX_TX]
  rm -f stop
  "$PYTHON" "$SCENARIO_LIB/writer.py" --profile profile.json --pointer pointer --stop-file stop \
    --model-dir . --seed "$1" --rate "$2" --max-tx "${3:-0}" 2> writer.log &
  WRITER_PID=$!
}

stop_writer() {
  touch stop
  wait "$WRITER_PID" || { cat writer.log; fail "writer failed"; }
  cat writer.log
}

# The oracle: the writer's own model against sorted sqlite3 exports of one side.
side_dump() {  # side_dump old|new accounts|pairs
  local side=$1 t=$2
  if [[ $side == old ]]; then
    case $t in
      accounts) sqlite3 -batch old.db ".mode quote" "SELECT id, owner, balance, note FROM accounts" ;;
      pairs) sqlite3 -batch old.db ".mode quote" "SELECT a, b, v FROM pairs" ;;
    esac
  else
    case $t in
      accounts) sqlite3 -batch new.db ".mode quote" "SELECT id, owner_name, balance, note FROM account" ;;
      pairs) sqlite3 -batch new.db ".mode quote" "SELECT a, b, value FROM pair_values" ;;
    esac
  fi | LC_ALL=C sort
}

check_side() {  # check_side old|new: every committed write is there, nothing else
  for t in accounts pairs; do
    [[ -s $t.model ]] || fail "the writer's model of $t is empty"
    if ! diff <(LC_ALL=C sort "$t.model") <(side_dump "$1" "$t") > "diff.$1.$t"; then
      head -20 "diff.$1.$t"
      fail "$1 side: $t differs from the writer's committed rows ($(grep -c '^[<>]' "diff.$1.$t") lines)"
    fi
  done
  pass "$1 side holds exactly the writer's committed rows ($(cat accounts.model pairs.model | wc -l) rows)"
}

phase() { "$TANDEM" status -c tandem.yaml --json 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["phase"])'; }

wait_phase() {  # wait_phase PHASE SECONDS
  local want=$1 deadline=$((SECONDS + $2))
  until [[ $(phase) == "$want" ]]; do
    ((SECONDS < deadline)) || { tail -5 follower.err 2>/dev/null; fail "phase $want not reached (is $(phase))"; }
    sleep 0.2
  done
}

start_follower() {
  "$TANDEM" start -c tandem.yaml "${START_ARGS[@]}" >> follower.out 2>> follower.err &
  FOLLOWER_PID=$!
}

stop_follower() {
  kill -TERM "$FOLLOWER_PID"
  wait "$FOLLOWER_PID" || { tail -20 follower.err; fail "tandem start exited $? after SIGTERM"; }
  tail -1 follower.out
}
