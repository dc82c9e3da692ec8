// SQL text for the SQLite engine, built by pure functions (no sqlite3 calls) so that every
// statement the engine runs can be unit-tested without a database. Identifiers are always
// quoted here; values are always left as ? placeholders for the caller to bind.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tandem/engine.h"
#include "tandem/schema.h"
#include "tandem/value.h"

namespace tandem::sqlite {

// Tandem's own objects in a captured database.
inline constexpr std::string_view kChangesTable = "_tandem_changes";
inline constexpr std::string_view kCaptureOffTable = "_tandem_capture_off";
// Every table tandem creates in a user's database: introspection skips exactly these, so a
// user's own _tandem_notes is migrated like any other table. A new table goes here too.
inline constexpr std::string_view kOwnTables[] = {kChangesTable, kCaptureOffTable};
inline bool IsOwnTable(std::string_view name) {
  for (std::string_view t : kOwnTables) {
    if (name == t) return true;
  }
  return false;
}

// "name" with inner double quotes doubled: order -> "order", a"b -> "a""b".
std::string QuoteIdent(std::string_view name);
// 'text' with inner single quotes doubled, for the few literals DDL cannot bind.
std::string QuoteLiteral(std::string_view text);
// "a", "b" — each name quoted, prefixed by `qualifier` ("t." gives t."a", t."b").
std::string IdentList(const std::vector<std::string>& names, std::string_view qualifier = "");
// The key as one comparable term: "a" for one column, ("a", "b") as a row value for several.
std::string KeyTerm(const std::vector<std::string>& key, std::string_view qualifier = "");
// ? for one column, (?, ?) for several: the placeholder matching KeyTerm.
std::string KeyPlaceholders(size_t n);

// The condition selecting keys in a KeyRange with the given bounds present: lower exclusive,
// upper inclusive, e.g. ("a", "b") > (?, ?) AND ("a", "b") <= (?, ?). Empty when both ends
// are open. The caller binds the lower bound's values first, then the upper's.
std::string RangePredicate(const std::vector<std::string>& key, bool has_lower, bool has_upper);
// The values to bind for RangePredicate(key, range.lower, range.upper), in order.
Row RangeParams(const KeyRange& range);

// One keyset page: SELECT columns FROM table WHERE <range> ORDER BY key LIMIT ?.
// Parameters: lower key, upper key (each when present), then the row limit.
std::string SelectPageSql(std::string_view table, const std::vector<std::string>& columns,
                          const std::vector<std::string>& key, bool has_lower, bool has_upper);
// SELECT count(*) FROM table [WHERE <range>].
std::string CountSql(std::string_view table, const std::vector<std::string>& key, bool has_lower,
                     bool has_upper);
// SELECT min(key), max(key), count(*) of the table, each its own lookup (a split's check for
// a key without gaps).
std::string KeyEndsSql(std::string_view table, std::string_view key);
// Every key of the table, ascending (planning a split).
std::string SelectKeysSql(std::string_view table, const std::vector<std::string>& key);
// The current rows for `nkeys` keys. One key column: WHERE "k" IN (?, ...). Several: a join
// with a VALUES list, which (unlike row-value IN) lets SQLite search the key index.
// Parameters: the keys' values, key after key.
std::string FetchSql(std::string_view table, const std::vector<std::string>& columns,
                     const std::vector<std::string>& key, size_t nkeys);

// INSERT for one row of `columns`. kUpsert: ON CONFLICT (key) DO UPDATE SET every non-key
// column from excluded. kInsertIfAbsent: ON CONFLICT (key) DO NOTHING, not INSERT OR IGNORE,
// which would also silently drop rows that break NOT NULL or CHECK.
std::string InsertSql(std::string_view table, const std::vector<std::string>& columns,
                      const std::vector<std::string>& key, WriteMode mode);
// DELETE FROM table WHERE "a" = ? AND "b" = ?.
std::string DeleteKeySql(std::string_view table, const std::vector<std::string>& key);
// The in-database pass-through of a chunk: INSERT INTO main.table (columns) SELECT
// source_columns FROM schema.source_table [WHERE <range>] [ORDER BY key]. Parameters as
// RangePredicate's.
std::string CopyAttachedSql(std::string_view schema, std::string_view source_table,
                            const std::vector<std::string>& source_columns,
                            const std::vector<std::string>& key, bool has_lower, bool has_upper,
                            std::string_view table, const std::vector<std::string>& columns);
// DELETE FROM table [WHERE <range>].
std::string DeleteRangeSql(std::string_view table, const std::vector<std::string>& key,
                           bool has_lower, bool has_upper);

// The affinity SQLite gives a column of this declared type (https://www.sqlite.org/
// datatype3.html, 3.1): INTEGER, TEXT, BLOB, REAL or NUMERIC. It decides how a value is stored.
std::string_view Affinity(std::string_view declared);
// The declared type says nothing of the values: no type at all, or ANY (a STRICT table's).
bool TakesAnyValue(std::string_view declared);
// A file: URI naming `path` ('%', '?' and '#' escaped) with `query` ("mode=ro").
std::string FileUri(std::string_view path, std::string_view query);

// The portable meaning of a declared SQLite column type: common names first (BOOLEAN, DATE,
// DATETIME, VARCHAR(n), NUMERIC(p,s), JSON, UUID...), then SQLite's affinity rules
// (INT -> integer, CHAR/CLOB/TEXT -> text, BLOB or none -> bytes, REAL/FLOA/DOUB -> double,
// otherwise decimal).
PortableType PortableTypeFor(std::string_view declared);
// The SQLite type name to declare for a portable type; PortableTypeFor maps it back to the
// same kind (integers of 4 and 8 bytes both become INTEGER, which SQLite stores in 8). The
// name also sets the column's affinity, which SQLite applies to every value stored: json is
// "JSON TEXT" and a decimal that a REAL cannot hold exactly "DECIMAL TEXT(p,s)" (TEXT
// affinity), except in a key (`in_key`), which keeps NUMERIC for numeric order.
std::string SqliteTypeFor(const PortableType& type, bool in_key = false);
// A default expression another engine wrote, when it is a literal SQLite understands the same
// way (number, 'text', NULL, TRUE/FALSE, CURRENT_TIMESTAMP/DATE/TIME); PostgreSQL casts
// ('x'::text) are dropped. Anything else (functions, sequences) gives nullopt.
std::optional<std::string> PortableDefault(std::string_view expr);
// CREATE TABLE from a portable description: columns with SQLite types, NOT NULL, literal
// defaults, PRIMARY KEY, UNIQUE and FOREIGN KEY clauses. Generated columns become plain
// columns (their expression is engine text); CHECKs are left out for the same reason.
// A column with `identity` that is the whole primary key becomes INTEGER PRIMARY KEY
// AUTOINCREMENT (ids never reused, like a sequence); an INTEGER key column without it is a
// plain rowid alias. A column's engine_type, when set, is declared instead of the portable
// type's SQLite name. Portable defaults (default_value) are
// preferred over default_expr. Every foreign key (with its actions) and every named check is
// declared here: SQLite cannot add them to an existing table.
std::string CreateTableSql(const TableSchema& table);
// ALTER TABLE "t" ADD COLUMN "c" <type>: nullable, no default (Engine::AddColumn).
std::string AddColumnSql(std::string_view table, const Column& column);
// The DEFAULT clause text for a portable default ("" when none fits).
std::string DefaultSql(const ColumnDefault& d);
// CREATE [UNIQUE] INDEX IF NOT EXISTS "n" ON "t" ("a", "b" DESC, (expr)) [WHERE predicate].
std::string CreateIndexSql(std::string_view table, const Index& ix);
// The orphans of table ?1's foreign keys: pragma_foreign_key_check's rowid and parent, with
// the child columns of foreign key number `fk_id` selected by the caller.
std::string ForeignKeyCheckSql();
// The pieces of CREATE INDEX text: each part's text (top-level commas) and the WHERE predicate.
void SplitIndexSql(std::string_view sql, std::vector<std::string>& parts, std::string& where);
// The CHECK (...) expressions of a CREATE TABLE statement, as written.
std::vector<std::string> ExtractChecks(std::string_view create_sql);

// Change capture. The two tables, created if missing.
std::string CaptureTablesSql();
// "_tandem_<table>_<op>" with op "ins", "upd" or "del" (unquoted).
std::string CaptureTriggerName(std::string_view table, std::string_view op);
// DROP and CREATE statements for the three triggers of `table` (to run in one transaction,
// so re-installing with another key never leaves a window without capture). Each trigger
// appends (table, op, json_array(key...)) to _tandem_changes unless _tandem_capture_off has a
// row; an UPDATE that changes the key appends the old key as 'D' and the new one as 'U'.
// A blob key value is stored as ["x", hex] and a real as ["r", 17 significant digits] (JSON
// cannot hold blobs, and SQLite's JSON keeps only 15 digits of a real).
std::vector<std::string> CaptureTriggerSql(std::string_view table,
                                           const std::vector<std::string>& key);
// Reads changes after ?1, at most ?2 changes, one result row per key element:
// seq, tbl, op, element type (json_each type), atom, and for an encoded ["x"|"r", text]
// element its tag and text.
std::string ReadChangesSql();

// ---- sequences -----------------------------------------------------------------------------
// SQLite hands out max(rowid)+1 for an INTEGER PRIMARY KEY (the rowid alias); with
// AUTOINCREMENT it takes max(that, sqlite_sequence.seq + 1), so a value once used is never
// used again. Only the second has a counter that can be moved.

// Whether a CREATE TABLE text declares AUTOINCREMENT (as a keyword: not inside a quoted
// name).
bool DeclaresAutoincrement(std::string_view create_sql);
// WITHOUT ROWID flag, CREATE TABLE text and the key columns (name, declared type) of table ?1,
// one row per key column: wr, sql, name, type. No rows when the table does not exist.
std::string RowidKeySql();
// The highest value of a column and its storage class: max, typeof(max).
std::string MaxValueSql(std::string_view table, std::string_view column);
// The next rowid the table would take without AUTOINCREMENT: max(rowid)+1, 1 when empty.
std::string NextRowidSql(std::string_view table);
// The counter of AUTOINCREMENT table ?1 (seq: the last value handed out); no row before the
// first insert.
std::string SqliteSequenceSql();
// Raises the counter of table ?2 to ?1 when it is lower (never backwards).
std::string RaiseSqliteSequenceSql();
// Creates the counter row of table ?2 with ?1 when the table has none yet.
std::string InsertSqliteSequenceSql();

// What this engine refuses on write that CastTo lets through (Engine::ValueRefusal).
std::optional<Error> ValueRefusal(const Value& v, const PortableType& type);

}  // namespace tandem::sqlite
