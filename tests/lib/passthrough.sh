# Helpers of the pass-through tests (pg_passthrough.sh, sqlite_passthrough.sh). Source it
# after common.sh.

# with_small_chunks DRAFT OUT: the draft with chunks of 250 rows and batches of 100.
with_small_chunks() {
  { echo "options: {chunk_rows: 250, batch_rows: 100}"
    grep -v '^options:' "$1"
  } > "$2"
}

# rename_column YAML TABLE COLUMN NEW: the mapping writes TABLE.COLUMN to a target column NEW.
rename_column() {
  "$PYTHON" - "$@" <<'PY'
import sys, yaml
p, table, column, new = sys.argv[1:5]
d = yaml.safe_load(open(p))
for t in d["tables"]:
    if t["source"] == table:
        c = t["columns"][column]
        if isinstance(c, dict):
            c["to"] = new
        else:
            t["columns"][column] = new
open(p, "w").write(yaml.safe_dump(d, sort_keys=False, allow_unicode=True))
PY
  grep -q "$4" "$1" || fail "could not rename $2.$3 in $1"
}

# only_table DRAFT TABLE CHUNK_ROWS > OUT: the draft copying TABLE alone, in chunks of
# CHUNK_ROWS; every other table is dropped.
only_table() {
  "$PYTHON" - "$@" <<'PY'
import sys, yaml
d = yaml.safe_load(open(sys.argv[1]))
d["options"] = dict(d.get("options") or {}, chunk_rows=int(sys.argv[3]))
d["tables"] = [t if t["source"] == sys.argv[2] else {"source": t["source"], "drop": "not this test"}
               for t in d["tables"]]
print(yaml.safe_dump(d, sort_keys=False, allow_unicode=True))
PY
}

# path_of TABLE: the copy_path event of TABLE in $WORK/err.
path_of() { grep '"event":"copy_path"' "$WORK/err" | grep "\"table\":\"$1\""; }

# kill_copy_after EVENTS CONFIG [ARGS...]: starts `tandem copy -c CONFIG ARGS`, kills it with
# SIGKILL once it has told EVENTS progress events, and fails unless it died of that.
# Its output is in kill.out and kill.err.
kill_copy_after() {
  local events=$1 config=$2 pid rc; shift 2
  set +e
  "$TANDEM" copy -c "$config" "$@" > kill.out 2> kill.err &
  pid=$!
  for _ in $(seq 1 400); do
    (($(grep -c '"event":"progress"' kill.err || true) >= events)) && break
    sleep 0.05
  done
  kill -9 "$pid"
  wait "$pid"
  rc=$?
  set -e
  ((rc == 137)) || fail "the copy was not killed (exit $rc; it finished first?): $(tail -2 kill.err)"
}
