# The oracle outside tandem for script tests that span engines: each engine's own CLI
# (sqlite3, psql, mariadb) exports a table, tests/lib/normalise.py puts the rows in one
# canonical form per type category, sorted. Source it after common.sh.

# The interpreter itself, resolved once (a pyenv shim costs a third of a second a call).
ORACLE_PYTHON=$(python3 -c 'import sys; print(sys.executable)')

# mysql_cli URI [ARGS...]: the mariadb client on a mysql://user:pass@host:port/db URI, in
# batch mode, UTC session.
mysql_cli() {
  local uri=$1; shift
  local rest=${uri#mysql://} user pass hostport host port db
  local cred=${rest%%@*}; rest=${rest#*@}
  user=${cred%%:*}; pass=${cred#*:}
  hostport=${rest%%/*}; db=${rest#*/}; db=${db%%\?*}
  host=${hostport%%:*}; port=${hostport#*:}
  [[ $port == "$hostport" ]] && port=3306
  MYSQL_PWD=$pass mariadb --protocol=tcp -h "$host" -P "$port" -u "$user" --batch \
    --default-character-set=utf8mb4 \
    --skip-column-names --init-command="SET time_zone = '+00:00'" "$@" "$db"
}

# pg_cli URI [ARGS...]: psql with fixed output formats.
pg_cli() {
  local uri=$1; shift
  PGOPTIONS="-c DateStyle=ISO,YMD -c TimeZone=UTC -c extra_float_digits=3 -c bytea_output=hex -c IntervalStyle=postgres" \
    psql "$uri" -X -q -v ON_ERROR_STOP=1 "$@"
}

# oracle_types ENGINE DB TABLE: "column<TAB>declared type" lines in column order.
oracle_types() {
  local engine=$1 db=$2 table=$3
  case $engine in
    sqlite)
      sqlite3 -batch -separator $'\t' "$db" \
        "SELECT name, type FROM pragma_table_info('${table//\'/\'\'}') ORDER BY cid" ;;
    postgres)
      pg_cli "$db" -At -F $'\t' -v t="$table" <<'SQL' ;;
SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute
WHERE attrelid = quote_ident(:'t')::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum
SQL
    mysql)
      mysql_cli "$db" -e "SELECT COLUMN_NAME, IF(EXISTS(SELECT 1 FROM information_schema.CHECK_CONSTRAINTS k
          WHERE k.CONSTRAINT_SCHEMA = c.TABLE_SCHEMA AND k.TABLE_NAME = c.TABLE_NAME
            AND k.CHECK_CLAUSE = CONCAT('json_valid(\`', c.COLUMN_NAME, '\`)')), 'json', COLUMN_TYPE)
        FROM information_schema.COLUMNS c
        WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = BINARY '${table//\'/\'\'}'
        ORDER BY ORDINAL_POSITION" ;;
    *) fail "oracle_types: unknown engine $engine" ;;
  esac
}

# oracle_rows ENGINE DB TABLE: every row of TABLE, normalised and sorted. DB is a SQLite file
# path, a postgres:// URI or a mysql:// URI.
oracle_rows() {
  local engine=$1 db=$2 table=$3 types sql
  types=$(mktemp "$WORK/types.XXXXXX")
  oracle_types "$engine" "$db" "$table" > "$types"
  [[ -s $types ]] || fail "oracle: no columns for $engine table $table"
  sql=$("$ORACLE_PYTHON" "$TANDEM_REPO/tests/lib/normalise.py" sql "$engine" "$types" "$table")
  case $engine in
    sqlite) sqlite3 -batch -noheader -separator $'\t' "$db" "$sql" ;;
    postgres) pg_cli "$db" -c "$sql" ;;
    mysql) mysql_cli "$db" -e "$sql" ;;
  esac | "$ORACLE_PYTHON" "$TANDEM_REPO/tests/lib/normalise.py" "$engine" "$types"
}
