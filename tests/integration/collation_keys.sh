#!/usr/bin/env bash
# Text keys under a linguistic (PostgreSQL ICU) or case-insensitive (MariaDB *_ci, SQLite
# NOCASE) collation sort differently from bytes: key ranges would not hold the same rows in
# another engine.
# tandem copies such tables as one range, and loses nothing; targets it creates sort key
# text by bytes.
. "$TANDEM_REPO/tests/lib/common.sh"
envfile=${TANDEM_TEST_SERVERS:?}/env
PG=$(grep '^TANDEM_TEST_PG=' "$envfile" | cut -d= -f2-)
MY=$(grep '^TANDEM_TEST_MYSQL=' "$envfile" | cut -d= -f2-)
[[ $MY =~ ^mysql://([^:]+):([^@]+)@([^:/]+):([0-9]+)/ ]] || fail "bad MariaDB URI"
MYARGS=(--protocol=tcp -h "${BASH_REMATCH[3]}" -P "${BASH_REMATCH[4]}" -u "${BASH_REMATCH[1]}" --default-character-set=utf8mb4)
export MYSQL_PWD=${BASH_REMATCH[2]}
db=coll_$$
trap 'psql -qAtX "$PG" -c "DROP DATABASE IF EXISTS ${db} WITH (FORCE)" -c "DROP DATABASE IF EXISTS ${db}_t WITH (FORCE)"; mariadb "${MYARGS[@]}" -e "DROP DATABASE IF EXISTS ${db}"; rm -rf "$WORK"' EXIT
psql -qAtX "$PG" -c "CREATE DATABASE ${db}" -c "CREATE DATABASE ${db}_t"
psql -qAtX -v ON_ERROR_STOP=1 "${PG%/*}/${db}" <<'SQL'
CREATE TABLE words (k text COLLATE "en-x-icu" PRIMARY KEY, n int);
INSERT INTO words SELECT (ARRAY['a','B','c','D','é','Z','_','1'])[1 + i % 8] || i, i FROM generate_series(1, 500) i;
SQL
mariadb "${MYARGS[@]}" -e "CREATE DATABASE ${db}; USE ${db};
  CREATE TABLE words (k VARCHAR(32) COLLATE utf8mb4_general_ci PRIMARY KEY, n INT);
  INSERT INTO words SELECT CONCAT(ELT(1 + seq % 8, 'a','B','c','D','é','Z','_','1'), seq), seq FROM seq_1_to_500;"

sqlite3 nocase.db "CREATE TABLE words (k TEXT COLLATE NOCASE PRIMARY KEY, n INT);
  WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 500)
  INSERT INTO words SELECT (CASE i % 8 WHEN 0 THEN 'a' WHEN 1 THEN 'B' WHEN 2 THEN 'c' WHEN 3 THEN 'D'
    WHEN 4 THEN 'é' WHEN 5 THEN 'Z' WHEN 6 THEN '_' ELSE '1' END) || i, i FROM s;"

for src in "${PG%/*}/${db}" "${MY%/*}/${db}" "sqlite:$WORK/nocase.db"; do
  for dst in sqlite:out.db "${PG%/*}/${db}_t"; do
    rm -f out.db* tandem.yaml tandem.state.db*
    psql -qAtX "${PG%/*}/${db}_t" -c "SET client_min_messages = warning" -c "DROP TABLE IF EXISTS words"
    expect_exit 0 init --source "$src" --target "$dst" -o tandem.yaml
    sed -i "s#^source: .*#source: \"$src\"#; s#^target: .*#target: \"$dst\"#" tandem.yaml
    printf 'options: {chunk_rows: 50}\n' >> tandem.yaml
    expect_exit 0 check -c tandem.yaml
    grep -q "note: words: its key sorts by a linguistic or case-insensitive collation" out ||
      fail "check should say the table is copied as one range: $(cat out)"
    expect_exit 0 copy -c tandem.yaml
    grep -Eq "words +500 +500 +0 +ok" out || fail "$src -> $dst: $(cat out)"
    expect_exit 0 verify -c tandem.yaml
    pass "${src%%:*} -> ${dst%%:*}: 500 of 500 rows, verify clean"
  done
done

# A table tandem creates in PostgreSQL sorts its text key by bytes.
coll=$(psql -qAtX "${PG%/*}/${db}_t" -c "SELECT collname FROM pg_attribute a JOIN pg_collation c ON c.oid = a.attcollation WHERE attrelid = 'words'::regclass AND attname = 'k'")
[[ $coll == C ]] || fail "the created key column has collation $coll, not C"
pass "tandem creates PostgreSQL text keys with COLLATE \"C\""
