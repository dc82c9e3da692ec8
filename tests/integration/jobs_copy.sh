#!/usr/bin/env bash
# `tandem copy --jobs 2` and `--jobs 4` give the same target as `--jobs 1`: SQLite -> PostgreSQL
# and MariaDB -> PostgreSQL, three tables, one of them split in many chunks so that chunks of
# one table run at once. The oracle: sorted exports by sqlite3 / mariadb / psql.
. "$TANDEM_REPO/tests/lib/common.sh"
. "$TANDEM_REPO/tests/scenarios/lib/cross.sh"

ROWS=6000
make_jobs_source() {  # make_jobs_source ENGINE
  local e=$1 key=TEXT gen n=$ROWS cat="||" owner note v
  [[ $e == mysql ]] && key="VARCHAR(16)"
  create_db "$e" source
  run_sql "$e" source "CREATE TABLE big (id BIGINT PRIMARY KEY, owner TEXT NOT NULL, n BIGINT, note TEXT)" >/dev/null
  run_sql "$e" source "CREATE TABLE pairs (a $key NOT NULL, b BIGINT NOT NULL, v TEXT, PRIMARY KEY (a, b))" >/dev/null
  run_sql "$e" source "CREATE TABLE small (id BIGINT PRIMARY KEY, v TEXT)" >/dev/null
  case $e in
    sqlite) gen="(WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < $n) SELECT i FROM s)"
            owner="'owner ' || i" note="'n' || i" v="'v' || i" ;;
    mysql) gen="(SELECT seq AS i FROM seq_1_to_$n) AS g"
           owner="CONCAT('owner ', i)" note="CONCAT('n', i)" v="CONCAT('v', i)" ;;
  esac
  note="CASE WHEN i % 7 = 0 THEN NULL WHEN i % 7 = 1 THEN '' ELSE $note END"
  local region="CASE i % 3 WHEN 0 THEN 'north' WHEN 1 THEN 'süd' ELSE 'Ost' END"
  run_sql "$e" source "INSERT INTO big SELECT i, $owner, CAST(i AS SIGNED) * 3 - 7000, $note FROM $gen" >/dev/null
  run_sql "$e" source "INSERT INTO pairs SELECT $region, i, $v FROM $gen WHERE i <= 1500" >/dev/null
  run_sql "$e" source "INSERT INTO small SELECT i, $v FROM $gen WHERE i <= 40" >/dev/null
}

dump_all() {  # dump_all ENGINE ROLE -> sorted rows of the three tables
  local e=$1 r=$2
  { engine_dump "$e" "$r" big id:int owner:text n:int note:text | sed 's/^/big /'
    engine_dump "$e" "$r" pairs a:text b:int v:text | sed 's/^/pairs /'
    engine_dump "$e" "$r" small id:int v:text | sed 's/^/small /'
  } | LC_ALL=C sort
}

copy_with_jobs() {  # copy_with_jobs SRC JOBS: a fresh PostgreSQL target, copied with --jobs JOBS
  local src=$1 j=$2 dir=jobs$2_$1
  create_db postgres "t$j$src"
  mkdir "$dir"
  local src_uri
  src_uri=$(uri_of "$src" source)
  [[ $src == sqlite ]] && src_uri="sqlite:$PWD/source.db"
  "$TANDEM" init --source "$src_uri" --target "$(uri_of postgres "t$j$src")" -o "$dir/draft.yaml" >/dev/null
  # The draft leaves passwords out: the URIs with them, and small chunks and batches.
  { printf 'source: "%s"\ntarget: "%s"\n' "$src_uri" "$(uri_of postgres "t$j$src")"
    echo "options: {chunk_rows: 400, batch_rows: 64}"
    grep -v '^source:\|^target:' "$dir/draft.yaml"
  } > "$dir/tandem.yaml"
  expect_exit 0 copy -c "$dir/tandem.yaml" --jobs "$j"
  grep -q "copied $((ROWS + 1500 + 40)) rows" out || fail "--jobs $j: $(cat out)"
  # Every job took chunks (the big table alone has 15), and each job's chunks are named.
  local started
  started=$(grep -c '"event":"chunk_started"' err || true)
  ((started >= 15 + 1 + 1)) || fail "--jobs $j: $started chunk_started events"
  if ((j > 1)); then
    grep -q "\"job\":$j,\"jobs\":$j" err || fail "--jobs $j: job $j never started a chunk: $(grep chunk_started err | head -3)"
  fi
  dump_all postgres "t$j$src" > "$dir/dump"
}

for src in sqlite mysql; do
  make_jobs_source "$src"
  dump_all "$src" source > "source.$src.dump"
  [[ $(wc -l < "source.$src.dump") == $((ROWS + 1500 + 40)) ]] || fail "fixture: $(wc -l < "source.$src.dump") source rows"
  for j in 1 2 4; do copy_with_jobs "$src" "$j"; done
  diff "source.$src.dump" "jobs1_$src/dump" > diff1 || { head diff1; fail "$src --jobs 1: target differs from the source"; }
  for j in 2 4; do
    diff "jobs1_$src/dump" "jobs${j}_$src/dump" > diff$j || { head "diff$j"; fail "$src: --jobs $j differs from --jobs 1"; }
  done
  pass "$src -> postgres: --jobs 2 and 4 give the same target as --jobs 1 ($(wc -l < "source.$src.dump") rows)"
  rm -f source.db
done

# The invariant's source count of a large InnoDB table runs in one key range per job, each on
# its own connection (InnoDB counts on one thread). 300,000 rows with negative keys and a gap
# of 30,000 keys, so that ranges planned from the key's ends are uneven: the count tandem prints
# must be MariaDB's own COUNT(*), or the copy fails with a broken invariant.
create_db mysql countsrc
run_sql mysql countsrc "CREATE TABLE wide (id BIGINT PRIMARY KEY, v VARCHAR(20) NOT NULL)"
run_sql mysql countsrc "INSERT INTO wide SELECT CAST(seq AS SIGNED) * 3 - 450000, CONCAT('v', seq) FROM seq_1_to_330000 WHERE seq NOT BETWEEN 100000 AND 129999"
run_sql mysql countsrc "ANALYZE TABLE wide" >/dev/null
want=$(run_sql mysql countsrc "SELECT COUNT(*) FROM wide")
[[ $want == 300000 ]] || fail "fixture: $want rows"
"$TANDEM" init --source "$(uri_of mysql countsrc)" --target "sqlite:$PWD/counted.db" -o count.draft.yaml >/dev/null
{ printf 'source: "%s"\n' "$(uri_of mysql countsrc)"; grep -v '^source:' count.draft.yaml; } > count.yaml
expect_exit 0 copy -c count.yaml --jobs 2
grep -Eq "^wide +300000 +300000 +0 +ok" out || fail "ranged count: $(cat out)"
[[ $(sqlite3 counted.db "SELECT COUNT(*) FROM wide") == 300000 ]] || fail "target count"
# The copy counted the source chunk by chunk while it copied (ChunkCounter); `status`, after it,
# counts in one range per job.
grep -q '"event":"invariant_counted".*"recounted_whole":false,"source_while_copying":true,"table":"wide","target_while_copying":false' err ||
  fail "the copy should have counted wide's source while copying: $(grep invariant_counted err)"
expect_exit 0 status -c count.yaml
grep -q "source 300000 = target 300000 + rejected 0: ok" out || fail "status: $(cat out)"
pass "mysql: the invariant counts a 300,000-row InnoDB table in ranges, exactly (while copying, and by status after)"

# Into MariaDB, the target's chunks are counted while copying too.
create_db mysql countdst
"$TANDEM" init --source "$(uri_of mysql countsrc)" --target "$(uri_of mysql countdst)" -o count2.draft.yaml >/dev/null
{ printf 'source: "%s"\ntarget: "%s"\n' "$(uri_of mysql countsrc)" "$(uri_of mysql countdst)"
  grep -v '^source:\|^target:' count2.draft.yaml; } > count2.yaml
expect_exit 0 copy -c count2.yaml --jobs 2
grep -Eq "^wide +300000 +300000 +0 +ok" out || fail "MariaDB -> MariaDB: $(cat out)"
grep -q '"recounted_whole":false,"source_while_copying":true,"table":"wide","target_while_copying":true' err ||
  fail "MariaDB -> MariaDB should count both sides while copying: $(grep invariant_counted err)"
[[ $(run_sql mysql countdst "SELECT COUNT(*), SUM(id) FROM wide") == "$(run_sql mysql countsrc "SELECT COUNT(*), SUM(id) FROM wide")" ]] ||
  fail "MariaDB -> MariaDB: target differs"
pass "mysql -> mysql: both sides counted chunk by chunk while copying"

# Counted while copying, a row the target silently drops (a PostgreSQL trigger returning NULL,
# which COPY obeys; ALWAYS, as tandem writes as a replica) still breaks the invariant: the counts do not add up, both sides are
# counted again whole, and the copy fails loudly.
create_db mysql lossy
create_db postgres lossy
run_sql mysql lossy "CREATE TABLE t (id BIGINT PRIMARY KEY, v VARCHAR(20) NOT NULL)"
run_sql mysql lossy "INSERT INTO t SELECT seq, CONCAT('v', seq) FROM seq_1_to_5000"
run_sql postgres lossy "CREATE TABLE t (id bigint PRIMARY KEY, v varchar(20) NOT NULL);
  CREATE FUNCTION drop_one() RETURNS trigger LANGUAGE plpgsql AS \$\$
    BEGIN IF NEW.id = 2345 THEN RETURN NULL; END IF; RETURN NEW; END \$\$;
  CREATE TRIGGER drop_one BEFORE INSERT ON t FOR EACH ROW EXECUTE FUNCTION drop_one();
  ALTER TABLE t ENABLE ALWAYS TRIGGER drop_one;" >/dev/null
"$TANDEM" init --source "$(uri_of mysql lossy)" --target "$(uri_of postgres lossy)" -o lossy.draft.yaml >/dev/null
{ printf 'source: "%s"\ntarget: "%s"\noptions: {chunk_rows: 400}\n' "$(uri_of mysql lossy)" "$(uri_of postgres lossy)"
  grep -v '^source:\|^target:' lossy.draft.yaml; } > lossy.yaml
expect_exit 3 copy -c lossy.yaml --jobs 2
grep -q "BROKEN: 5000 != 4999 + 0 (1 row(s) missing from the target)" out || fail "lossy copy: $(cat out)"
grep -q '"recounted_whole":true' err || fail "lossy copy should have counted again: $(grep invariant_counted err)"
[[ $(run_sql postgres lossy "SELECT count(*) FROM t WHERE id = 2345") == 0 ]] || fail "fixture: the trigger kept the row"
pass "mysql -> postgres: a row lost in a range counted while copying still breaks the invariant"

# kill -9 of a one-job copy while it reads ahead (MariaDB -> PostgreSQL on the decoded path:
# each next chunk is read on a second source connection while the current one is written),
# then the next copy resumes from the checkpoints to an exact target.
create_db mysql killsrc
create_db postgres killdst
run_sql mysql killsrc "CREATE TABLE t (id BIGINT PRIMARY KEY, owner VARCHAR(40) NOT NULL, n BIGINT, note TEXT)"
run_sql mysql killsrc "INSERT INTO t SELECT seq, CONCAT('owner ', seq % 977), seq * 3,
  CASE WHEN seq % 5 = 0 THEN NULL ELSE CONCAT('note ', seq) END FROM seq_1_to_300000"
"$TANDEM" init --source "$(uri_of mysql killsrc)" --target "$(uri_of postgres killdst)" -o kill.draft.yaml >/dev/null
{ printf 'source: "%s"\ntarget: "%s"\noptions: {chunk_rows: 5000, batch_rows: 500}\n' "$(uri_of mysql killsrc)" "$(uri_of postgres killdst)"
  grep -v '^source:\|^target:' kill.draft.yaml; } > kill.yaml
"$TANDEM" copy -c kill.yaml --jobs 1 > kill.out 2> kill.err &
copier=$!
for _ in $(seq 1 1500); do
  (($(grep -c '"event":"chunk_started"' kill.err || true) >= 6)) && break
  sleep 0.01
done
kill -9 "$copier"
wait "$copier" || true
! grep -q "copied" kill.out || fail "the copy ended before the kill: $(cat kill.out)"
before=$(run_sql postgres killdst "SELECT count(*) FROM t")
((before < 300000)) || fail "the kill came after every row was in ($before)"
expect_exit 0 copy -c kill.yaml --jobs 1
grep -q '"event":"resume"' err || fail "the second copy did not resume: $(head -3 err)"
grep -q "copied 300000 rows" out || fail "resume: $(cat out)"
diff <(engine_dump mysql killsrc t id:int owner:text n:int note:text | LC_ALL=C sort) \
     <(engine_dump postgres killdst t id:int owner:text n:int note:text | LC_ALL=C sort) > kill.diff ||
  { head -5 kill.diff; fail "kill -9 while reading ahead: the resumed target differs from the source"; }
pass "mysql -> postgres --jobs 1: kill -9 while reading ahead ($before rows in), resumed to an exact target"
