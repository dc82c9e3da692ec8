// Pure SQL builders for MariaDB: quoting, keyset predicates, upserts, DDL and the capture
// triggers. No connection: values arrive as SQL literal texts already rendered (and escaped
// by the driver) by the caller, so these functions are unit-tested without a server.
// Identifiers are always quoted with backticks, an embedded backtick doubled.
//
// REQUIRES of every statement built here: the session runs with sql_mode containing
// NO_BACKSLASH_ESCAPES (MysqlEngine sets it), so a backslash in a literal is just a backslash.
#pragma once

#include <optional>

#include <string>
#include <string_view>
#include <vector>

#include "engines/mysql/mysql_types.h"
#include "tandem/engine.h"
#include "tandem/schema.h"

namespace tandem::mysql {

// `name` with embedded backticks doubled: a`b -> `a``b`.
std::string QuoteIdent(std::string_view name);
// `a`, `b`, `c`
std::string JoinIdents(const std::vector<std::string>& names);

// A SQL literal for text the dialect itself writes (constant comments): quote doubled.
std::string QuoteConstant(std::string_view s);

// Keyset predicates. `key` names the key columns in key order; `lits` holds one SQL literal
// per key column. The row-value form (k1,k2) > (a,b) is spelled out because MariaDB's range
// optimizer does not use an index for it:
//   KeyAfter:      `k1` > a OR (`k1` = a AND `k2` > b)
//   KeyAtOrBefore: `k1` < a OR (`k1` = a AND `k2` <= b)
// A single key column gives `k1` > a and `k1` <= a.
std::string KeyAfter(const std::vector<std::string>& key, const std::vector<std::string>& lits);
std::string KeyAtOrBefore(const std::vector<std::string>& key,
                          const std::vector<std::string>& lits);
// `k` IN (a, b, c) for one key column; (`k1` = a AND `k2` = b) OR (...) for several.
// REQUIRES: !tuples.empty(), each tuple has key.size() literals.
std::string KeyIn(const std::vector<std::string>& key,
                  const std::vector<std::vector<std::string>>& tuples);

// " WHERE (c1) AND (c2)" over the non-empty conditions, or "" when there are none.
std::string Where(const std::vector<std::string>& conditions);

// SELECT `c1`, `c2` FROM `t`<where> ORDER BY `k1`, `k2`[ LIMIT n]. No ORDER BY when `order`
// is empty; no LIMIT when limit == 0. A column whose `stored_bytes` entry is true is read
// as CAST(`c` AS BINARY): its bytes as stored, not converted to the connection's charset.
std::string SelectSql(std::string_view table, const std::vector<std::string>& columns,
                      std::string_view where, const std::vector<std::string>& order, size_t limit,
                      const std::vector<bool>& stored_bytes = {});
std::string CountSql(std::string_view table, std::string_view where);
// Range digests (Engine::DigestRange), the pt-table-checksum way: COUNT(*) and the BIT_XOR of
// both 64-bit halves of MD5(CONCAT_WS(',', QUOTE(CAST(`c` AS BINARY)), ...)) per row. QUOTE
// gives NULL as the bare word NULL and every value quoted and escaped, so NULL, '', 'NULL'
// and 'a ' all differ and no separator inside a value can shift a field; CAST AS BINARY
// digests the bytes as stored (no collation, no conversion), and a value's text is the one
// the text protocol gives the record-by-record comparison.
std::string DigestSql(std::string_view table, const std::vector<std::string>& columns,
                      std::string_view where);
std::string DeleteSql(std::string_view table, std::string_view where);

// Sequences. The AUTO_INCREMENT column of `table` in the current database with the table's
// counter (the next value it hands out; NULL before the engine has one): COLUMN_NAME,
// AUTO_INCREMENT. No row when the table has no such column. The table name is pasted as a
// quoted constant: information_schema queries here take no parameters (mysql_dialect.cc).
std::string AutoIncrementSql(std::string_view table);
// SELECT MAX(`c`) FROM `t`.
std::string MaxValueSql(std::string_view table, std::string_view column);
// ALTER TABLE `t` AUTO_INCREMENT = n. DDL takes no parameters; n is a number formatted here.
// InnoDB never sets the counter at or below MAX(column) (it takes MAX+1 instead) but does
// lower it down to there, so the caller checks that it moves forward.
std::string SetAutoIncrementSql(std::string_view table, int64_t next);

// Multi-row INSERT in two parts around the VALUES tuples the caller appends:
//   head: INSERT INTO `t` (`a`, `b`) VALUES
//   tail: ""                                             (kInsert)
//         ON DUPLICATE KEY UPDATE <guard>, `b` = VALUES(`b`)   (kUpsert)
//         ON DUPLICATE KEY UPDATE <guard>                      (kInsertIfAbsent)
// ON DUPLICATE KEY fires on a clash with *any* unique key. The guard
//   `k1` = IF(`k1` <=> VALUES(`k1`) AND ..., `k1`, NULL)
// keeps the row when the clash is on the write key and otherwise assigns NULL to a NOT NULL
// key column, which strict mode turns into error 1048 instead of silently overwriting (or,
// for insert-if-absent, silently keeping) a different row. Key columns are never assigned.
// REQUIRES: for kUpsert and kInsertIfAbsent, `key` is non-empty and within `columns`.
std::string InsertHead(std::string_view table, const std::vector<std::string>& columns);
std::string InsertTail(const std::vector<std::string>& columns, const std::vector<std::string>& key,
                       WriteMode mode);

// LOAD DATA LOCAL INFILE of tab-separated rows (see the engine's load path).
std::string LoadDataSql(std::string_view table, const std::vector<std::string>& columns,
                        const std::vector<bool>& is_bytes);

struct CreateOptions {
  bool uuid_type = true;                        // MariaDB 10.7+ has a UUID type
  std::string collation = "utf8mb4_nopad_bin";  // byte order, no pad: like PostgreSQL "C"
};
// CREATE TABLE from a portable description: types from MysqlTypeFor (with a "tandem:<type>"
// column comment where the MariaDB type alone would not say it), NOT NULL, primary key,
// unique keys, foreign keys; InnoDB, utf8mb4. Defaults and CHECK expressions are engine text
// of the source engine and are not carried over; generated columns become plain nullable
// columns (their values are copied). Unbounded text in a key becomes varchar(768 / n).
// Columns keep their default_value (CURRENT_TIMESTAMP with the column's fractional digits),
// `identity` (AUTO_INCREMENT) and ON UPDATE CURRENT_TIMESTAMP; columns of a unique index count
// as key columns (unbounded text becomes varchar so it can be indexed whole). Named foreign
// keys and checks are built later (AddForeignKeySql, AddCheckSql).
std::string CreateTableSql(const TableSchema& table, const CreateOptions& opt);
// ALTER TABLE `t` ADD COLUMN `c` <type> NULL [COMMENT 'tandem:<type>']: no default
// (Engine::AddColumn).
std::string AddColumnSql(std::string_view table, const Column& column, const CreateOptions& opt);
// The DEFAULT clause text for a portable default on a column declared `column_sql`
// ("datetime(6)" gives CURRENT_TIMESTAMP(6)); "" when none fits.
std::string DefaultSql(const ColumnDefault& d, const PortableType& type, std::string_view column_sql);
// CREATE [UNIQUE] INDEX IF NOT EXISTS `n` ON `t` (`a`(20), `b` DESC). A non-unique index on
// unbounded text or bytes indexes a prefix (InnoDB keys hold at most 3072 bytes). Partial
// predicates do not exist in MariaDB and are left out.
std::string CreateIndexSql(const TableSchema& table, const Index& ix);
// ALTER TABLE `t` ADD CONSTRAINT `n` FOREIGN KEY (...) REFERENCES `r` (...) ON DELETE .. ON
// UPDATE ... The session runs with foreign_key_checks = 0, so existing rows are not checked
// here: the engine looks for orphans first (OrphanKeysSql).
std::string AddForeignKeySql(std::string_view table, const ForeignKey& fk);
std::string AddCheckSql(std::string_view table, const Check& check);
// How many indexes or constraints named $name table $table has (names as SQL literals).
std::string ObjectExistsSql(std::string_view table_literal, std::string_view name_literal);

// ---- capture --------------------------------------------------------------------------

inline constexpr std::string_view kChangeTable = "_tandem_changes";
inline constexpr std::string_view kCaptureTable = "_tandem_capture";
// Every table tandem creates in a user's database: introspection skips exactly these, so a
// user's own _tandem_notes is migrated like any other table. A new table goes here too.
inline constexpr std::string_view kOwnTables[] = {kChangeTable, kCaptureTable};
inline bool IsOwnTable(std::string_view name) {
  for (std::string_view t : kOwnTables) {
    if (name == t) return true;
  }
  return false;
}

std::string CreateChangeTableSql();
// Which key columns each captured table's change rows hold (so any later connection can
// decode them).
std::string CreateCaptureTableSql();

// "_tandem_ins_<table>" (op 'I'), "_tandem_upd_..." ('U'), "_tandem_del_..." ('D'); a hash
// suffix keeps it within MariaDB's 64-character limit for long table names.
std::string TriggerName(std::string_view table, char op);

// The JSON_ARRAY element recording key column `column` of `row` ("NEW" or "OLD"): text as
// the text protocol prints it, except bytes as HEX(), BIT as its number and TIMESTAMP as
// UNIX seconds (independent of the writing session's time zone). DecodeCaptured reads it.
std::string CaptureKeyExpr(std::string_view row, std::string_view column, const ColumnCodec& c);

struct CaptureKeyColumn {
  std::string name;
  ColumnCodec codec;
};
// The AFTER trigger for `op` on `table`, recording (table, op, JSON key) in _tandem_changes
// unless the session set @tandem_capture_off = 1. An update that changes the key records the
// old key as 'D' and the new one as 'U'. `table_literal` is the table name as a SQL literal.
// `or_replace`: CREATE OR REPLACE (MariaDB, atomic) rather than plain CREATE.
std::string TriggerSql(std::string_view table, std::string_view table_literal, char op,
                       const std::vector<CaptureKeyColumn>& key, bool or_replace);

// What this engine refuses on write that CastTo lets through (Engine::ValueRefusal).
std::optional<Error> ValueRefusal(const Value& v, const PortableType& type);

}  // namespace tandem::mysql
