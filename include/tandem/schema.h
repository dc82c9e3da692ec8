// What introspection reports about a table, engine by engine, in portable terms.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "tandem/value.h"

namespace tandem {

// A column default in portable terms, so another engine can declare it. The engine text stays
// in Column::default_expr.
struct ColumnDefault {
  enum class Kind {
    kLiteral,           // `literal`: NULL, an integer, or text (numbers with a fraction are text)
    kCurrentTimestamp,  // CURRENT_TIMESTAMP, now(), current_timestamp(), datetime('now')
    kCurrentDate,       // CURRENT_DATE, curdate(), date('now')
    kCurrentTime,       // CURRENT_TIME
    kExpression,        // `expression`: engine text, meaningful only to the engine it names
  };
  Kind kind = Kind::kLiteral;
  Value literal;
  std::string expression;
  bool operator==(const ColumnDefault&) const = default;
};

// The portable reading of a default as an engine prints it: SQLite's dflt_value, PostgreSQL's
// pg_get_expr ('x'::text, (0)::numeric, now()), MariaDB's COLUMN_DEFAULT ('x', current_timestamp()).
// What is neither a literal nor one of the common functions is kExpression with the text.
ColumnDefault ParsePortableDefault(std::string_view engine_text);

struct Column {
  std::string name;
  std::string engine_type;  // as declared in the engine, e.g. "NVARCHAR(120)"
  PortableType type;        // what tandem reads it as
  bool nullable = true;
  std::optional<std::string> default_expr;  // engine text of the default, if any
  bool generated = false;                   // computed by the engine: read, never written
  // The engine sorts and compares this column by bytes (code points), as tandem's key ranges
  // do. False for linguistic or case-insensitive collations (en_US, utf8mb4_general_ci):
  // key ranges on such a column would not mean the same rows in another engine.
  bool byte_ordered = true;
  // The default in portable terms (set by Introspect when default_expr is set, and by the
  // mapping for tables tandem creates).
  std::optional<ColumnDefault> default_value;
  // The engine picks the value when none is given: SERIAL / IDENTITY, AUTO_INCREMENT, SQLite's
  // INTEGER PRIMARY KEY [AUTOINCREMENT]. Its sequence is not moved here (see cutover).
  bool identity = false;
  // MariaDB ON UPDATE current_timestamp(): the engine sets the column on every update.
  bool on_update_current_timestamp = false;
  // SQLite: the identity is INTEGER PRIMARY KEY AUTOINCREMENT (ids never reused), not a plain
  // rowid alias (max(rowid)+1). Read by introspection; a same-engine draft keeps the difference.
  bool autoincrement = false;
  // engine_type names a type every database of this engine has: not a PostgreSQL enum, domain
  // or extension type, which a same-engine copy cannot declare before the type exists.
  bool builtin_type = true;
  // The declared type does not bind the values (SQLite outside STRICT tables, and its ANY):
  // a value of any storage class may be stored, so no cast from `type` is impossible.
  bool loose_type = false;
};

// One part of an index key: a column, or (when `expression` is set) engine text.
struct IndexPart {
  std::string column;
  std::string expression;
  bool descending = false;
  int prefix_length = 0;  // MariaDB: index only the first n characters (0: the whole value)
  bool operator==(const IndexPart&) const = default;
};

// A secondary index (the primary key is TableSchema::primary_key). A UNIQUE constraint is a
// unique index with `constraint` set.
struct Index {
  std::string name;
  std::vector<IndexPart> parts;
  bool unique = false;
  bool constraint = false;
  std::string where;  // partial index predicate, engine text ("" for none)
  std::string method;  // PostgreSQL access method other than btree (gin, gist...), or ""
};

enum class FkAction { kNoAction, kRestrict, kCascade, kSetNull, kSetDefault };
// "NO ACTION", "RESTRICT", "CASCADE", "SET NULL", "SET DEFAULT".
std::string_view FkActionSql(FkAction a);
// The same in lower case with underscores, for the mapping: no_action, cascade, set_null...
std::string_view FkActionName(FkAction a);
// Reads either spelling (any case); nullopt when it is neither.
std::optional<FkAction> ParseFkAction(std::string_view s);

struct Check {
  std::string name;
  std::string expression;  // engine text, without the CHECK keyword
};

// How many of a column's values each storage class holds, for an engine whose declared types
// do not bind its values (SQLite's typeof(): integer, real, text, blob).
struct StoredClassCounts {
  int64_t integer = 0, real = 0, text = 0, blob = 0;
  // Of `text`, the values that do not read as a number: characters other than digits, signs,
  // '.' and 'e', and not NaN or Infinity ('abc' in a column declared STRING, whose NUMERIC
  // affinity turned every number-like text into a number).
  int64_t text_not_number = 0;
};

// Something of the database that tandem does not move (DESIGN.md: listed by name, never
// dropped silently): kind is "view", "materialized view", "trigger", "function",
// "procedure", "event", "sequence", ...
struct UnmigratedObject {
  std::string kind;
  std::string name;
  std::string table;  // the table it belongs to (a trigger), or ""
};

struct ForeignKey {
  std::vector<std::string> columns;
  std::string ref_table;
  std::vector<std::string> ref_columns;
  std::string name;  // "" when the engine gave none
  FkAction on_delete = FkAction::kNoAction;
  FkAction on_update = FkAction::kNoAction;
};

struct TableSchema {
  std::string name;
  std::vector<Column> columns;
  std::vector<std::string> primary_key;
  std::vector<std::vector<std::string>> unique_keys;
  std::vector<ForeignKey> foreign_keys;
  std::vector<std::string> checks;  // CHECK expressions, where readable
  std::vector<Index> indexes;       // secondary indexes and unique constraints, by name
  std::vector<Check> check_constraints;  // the CHECKs with their names (same order as checks)
  // SQLite: an ordinary rowid table (not WITHOUT ROWID), whose hidden rowid can be read as a
  // column named rowid, _rowid_ or oid and chosen as the key.
  bool rowid_table = false;

  const Column* Find(std::string_view column) const;
  int IndexOf(std::string_view column) const;  // -1 when absent
};

// A secondary object of a table that tandem builds after the table's rows are in.
struct SchemaObject {
  enum class Kind { kIndex, kCheck, kForeignKey };
  Kind kind = Kind::kIndex;
  Index index;
  Check check;
  ForeignKey foreign_key;
  const std::string& name() const;
  // "index", "unique index", "check", "foreign key".
  std::string_view KindName() const;
};

// The objects of `table` in build order: indexes (unique ones with them), checks, foreign keys.
std::vector<SchemaObject> ObjectsOf(const TableSchema& table);

// Names a table and a column in one engine's quoting, for the builders shared by engines.
struct SqlNames {
  std::string (*table)(const void* ctx, std::string_view name);
  std::string (*column)(std::string_view name);
  const void* ctx = nullptr;
};
// Up to `limit` key values that more than one row holds, with how many: the evidence for a
// unique index that cannot be built. Columns: the key columns, then the count.
std::string DuplicateKeysSql(const SqlNames& q, std::string_view table,
                             const std::vector<std::string>& columns, int limit);
// Up to `limit` distinct child keys whose parent row is missing (NULLs excepted, as the
// engines' foreign keys do).
std::string OrphanKeysSql(const SqlNames& q, std::string_view table, const ForeignKey& fk,
                          int limit);

// The rows of DuplicateKeysSql ((a, b) x3; ...) or OrphanKeysSql ((a, b); ...) as text for a
// message; NULL for a missing value. `with_count`: the last column is the count.
std::string SampleKeysText(const std::vector<std::vector<std::optional<std::string>>>& rows,
                           bool with_count);

}  // namespace tandem
