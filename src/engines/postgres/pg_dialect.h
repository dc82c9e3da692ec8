// PostgreSQL SQL text, built by pure functions (STYLE.md: "SQL is built by pure functions").
// Identifiers are always quoted here; values never appear in the text: they are bound as $n
// parameters (numbered from the `first_param` each builder takes) or streamed through COPY.
// Unit-tested without a server in tests/unit/pg_dialect_test.cc.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tandem/engine.h"
#include "tandem/schema.h"

namespace tandem::pg {

// Names of tandem's own objects.
inline constexpr std::string_view kChangeTable = "_tandem_changes";
inline constexpr std::string_view kCaptureTables = "_tandem_capture_tables";
// Every table tandem creates in a user's schema (stage tables are TEMP, in another schema):
// introspection skips exactly these, so a user's own _tandem_notes is migrated like any other
// table. A new table goes here too.
inline constexpr std::string_view kOwnTables[] = {kChangeTable, kCaptureTables};
inline constexpr std::string_view kCaptureTrigger = "_tandem_capture";
inline constexpr std::string_view kCaptureFunctionPrefix = "_tandem_cap_";
inline constexpr std::string_view kStagePrefix = "_tandem_stage_";
// The session setting capture triggers check: 'on' means "this session is tandem applying
// changes; do not record them again".
inline constexpr std::string_view kCaptureOffSetting = "tandem.capture_off";

// "name" with embedded double quotes doubled.
std::string QuoteIdent(std::string_view name);
// 'text' with embedded single quotes doubled (standard_conforming_strings=on). Only for DDL
// that cannot take parameters.
std::string QuoteLiteral(std::string_view text);
// "schema"."name"
std::string Qualified(std::string_view schema, std::string_view name);
// "a", "b", "c"
std::string ColumnList(const std::vector<std::string>& columns);
// A text[] literal for binding as one parameter: {"a","b \"c\""}.
std::string TextArrayLiteral(const std::vector<std::string>& items);

// Compares the key with parameters: `"k" > $1` for one column, `("a", "b") > ($1, $2)` for
// several (row comparison, which follows the btree order of ORDER BY a, b).
std::string KeyCompare(const std::vector<std::string>& key, std::string_view op, int first_param);
// The predicate for a KeyRange: lower bound (exclusive) parameters first, then upper
// (inclusive). "TRUE" when both are absent.
std::string RangePredicate(const std::vector<std::string>& key, bool has_lower, bool has_upper,
                           int first_param);
// Matches a list of keys: `"k" IN ($1, $2)` or `("a", "b") IN (($1, $2), ($3, $4))`.
std::string KeyInList(const std::vector<std::string>& key, size_t num_keys, int first_param);

// One keyset page: the rows after the lower bound (the previous page's last key, or the
// range's lower bound) up to the upper bound, in key order.
std::string SelectPageSql(std::string_view table, const std::vector<std::string>& columns,
                          const std::vector<std::string>& key, bool has_lower, bool has_upper,
                          size_t limit);
// The same rows as the pages of SelectPageSql, in one COPY ... TO STDOUT (text format; the
// caller may append " (FORMAT binary)"). COPY
// takes no parameters, so the bounds (server text forms; nullopt is NULL) are inlined as quoted
// literals; an empty vector leaves that side open.
// Tables without a key: NULL-safe equality of every column with $first_param.. (columns
// flagged `as_text` are compared as text: json has no equality operator).
std::string ImagePredicate(const std::vector<std::string>& columns,
                           const std::vector<bool>& as_text, int first_param);
// SELECT count(*) of the rows equal to $1..$n.
std::string CountImageSql(std::string_view table, const std::vector<std::string>& columns,
                          const std::vector<bool>& as_text);
// Deletes up to $n+1 rows equal to $1..$n, picked by ctid.
std::string RemoveImageSql(std::string_view table, const std::vector<std::string>& columns,
                           const std::vector<bool>& as_text);
std::string CopyOutSql(std::string_view table, const std::vector<std::string>& columns,
                       const std::vector<std::string>& key,
                       const std::vector<std::optional<std::string>>& lower,
                       const std::vector<std::optional<std::string>>& upper);
// The same columns with no rows: its result tells the column types COPY does not.
std::string ColumnTypesSql(std::string_view table, const std::vector<std::string>& columns);
std::string CountSql(std::string_view table, const std::vector<std::string>& key, bool has_lower,
                     bool has_upper);
// Range digests (Engine::DigestRange). The row count and the bit_xor of
// hashtextextended(ROW(columns)::text, 0) over the rows in the range (bounds as CountSql).
// A record's text form is unambiguous (NULL is an empty field, '' is "", fields holding
// separators, quotes or spaces are quoted), and each column's text under tandem's session
// settings (DateStyle ISO, TimeZone UTC, extra_float_digits 3, bytea hex) tells apart every
// two values verify tells apart; lookup3 mixes every byte into all 64 bits, so the xor of
// distinct rows does not cancel the way a sum of per-column hashes can.
//
// With `send` (one function a column: its type's binary output, pg_type.typsend), from
// PostgreSQL 14 on: the bit_xor of hash_record_extended(ROW(send(column), ...), 0) instead.
// The binary form tells apart what the text form tells apart (numeric keeps its display
// scale, float8 its sign and every bit), costs the server less than rendering text
// (measured on the bench table: 0.70-0.81 s against 1.29-1.31 s), and each column is hashed
// as bytes (hashvarlenaextended: every byte into 64 bits, unlike the type's own hash, which
// folds a bigint to 32 bits) and the columns combined in order.
std::string DigestSql(std::string_view table, const std::vector<std::string>& columns,
                      const std::vector<std::string>& key, bool has_lower, bool has_upper,
                      const std::vector<std::string>& send = {});
// The declared type of every column of the table named by $1 (quoted, qualified): attname,
// format_type, the type's binary output function (typsend, "-" for none); with the database's
// encoding and lc_monetary (money's text) on every row.
std::string DigestFormSql();
// Key boundaries at the row numbers (in key order) given as $1::bigint[].
std::string SplitSql(std::string_view table, const std::vector<std::string>& key);
// The planner's row estimate of the table named (quoted, qualified) by $1; NULL when the table
// was never analysed.
std::string EstimatedRowsSql();
// The keys of a repeatable block sample of about `percent` of the table, in key order.
std::string SampleKeysSql(std::string_view table, const std::vector<std::string>& key,
                          double percent);
std::string FetchSql(std::string_view table, const std::vector<std::string>& columns,
                     const std::vector<std::string>& key, size_t num_keys);
std::string DeleteKeysSql(std::string_view table, const std::vector<std::string>& key,
                          size_t num_keys);
std::string DeleteRangeSql(std::string_view table, const std::vector<std::string>& key,
                           bool has_lower, bool has_upper);

// COPY "s"."t" ("a", "b") FROM STDIN (text format).
std::string CopyFromStdinSql(std::string_view table, const std::vector<std::string>& columns);
// A session-lifetime temporary table holding one upsert batch, named from a hash of the target
// and its columns so different column sets never share one.
std::string StageName(std::string_view table, const std::vector<std::string>& columns);
// Creates the stage with exactly `columns` of `table` (types only: no constraints, so a partial
// column list loads). ON COMMIT DELETE ROWS empties it at the end of every transaction.
std::string CreateStageSql(std::string_view stage, std::string_view table,
                           const std::vector<std::string>& columns);
// INSERT ... SELECT from the stage with ON CONFLICT (key) DO UPDATE (kUpsert) or DO NOTHING
// (kInsertIfAbsent). OVERRIDING SYSTEM VALUE lets identity ALWAYS columns take source values.
std::string MergeFromStageSql(std::string_view table, std::string_view stage,
                              const std::vector<std::string>& columns,
                              const std::vector<std::string>& key, WriteMode mode);

// CREATE TABLE in `schema` with PostgreSQL types from the portable ones, NOT NULL, the primary
// key, unique keys and foreign keys (referenced tables in the same schema, which must exist).
// Defaults, generated expressions and CHECKs are engine text of the source engine and are not
// carried over: generated columns become plain columns that receive the copied values.
std::string CreateTableSql(std::string_view schema, const TableSchema& table);
// ALTER TABLE "s"."t" ADD COLUMN "c" <type>: nullable, no default (Engine::AddColumn).
std::string AddColumnSql(std::string_view schema, std::string_view table, const Column& column);
// The columns of one table (`$1` schema, `$2` table), as IntrospectColumnsSql reads them.
std::string DescribeColumnsSql();

// The DEFAULT clause text for a portable default on a column of `type` ("" when none fits).
std::string DefaultSql(const ColumnDefault& d, const PortableType& type);
// CREATE [UNIQUE] INDEX IF NOT EXISTS "name" ON "s"."t" USING method ("a", "b" DESC, (expr))
// [WHERE predicate]. Prefix lengths (MariaDB's) do not exist here and are left out.
std::string CreateIndexSql(std::string_view schema, std::string_view table, const Index& ix);
// ALTER TABLE ... ADD CONSTRAINT "name" FOREIGN KEY ... ON DELETE .. ON UPDATE .. NOT VALID,
// then ALTER TABLE ... VALIDATE CONSTRAINT "name": existing rows are checked without holding
// a lock that blocks writes for the whole check.
std::vector<std::string> AddForeignKeySql(std::string_view schema, std::string_view table,
                                          const ForeignKey& fk);
// The same two steps for a CHECK.
std::vector<std::string> AddCheckSql(std::string_view schema, std::string_view table,
                                     const Check& check);
// ALTER TABLE ... DROP CONSTRAINT IF EXISTS "name" (undoes a NOT VALID constraint whose
// validation failed, so a re-run tries it again).
std::string DropConstraintSql(std::string_view schema, std::string_view table, std::string_view name);
// true when schema $1 has an index named $2 or table $3 (qualified, quoted) a constraint $2.
std::string ObjectExistsSql();
// Introspection: secondary indexes of schema $1 (not primary keys, nor exclusion constraints):
// table, index, unique, is a UNIQUE constraint, predicate, parts as JSON
// [[column or null, part text, descending], ...], access method.
std::string IntrospectIndexesSql();
// Introspection: what tandem does not move in schema $1: kind, name, table.
std::string IntrospectUnmigratedSql();

// Introspection: every column of the user tables in schema $1.
std::string IntrospectColumnsSql();
// Introspection: primary, unique, foreign and check constraints plus unique indexes of $1.
std::string IntrospectConstraintsSql();
// "CHECK ((a > 0)) NOT VALID" -> "(a > 0)".
std::string CheckExpression(std::string_view constraint_def);

// ---- sequences ---------------------------------------------------------------------------

// The columns of table $2 in schema $1 fed by a sequence, one row each: attname, how
// ('i' identity, 'a' serial: a sequence owned by the column, 'n' a nextval() default on a
// sequence the column does not own), the sequence's schema and name, its increment. A column
// both owning a sequence and defaulting to it is listed once, as owner.
std::string SequenceColumnsSql();
// The counter of one sequence: last_value, is_called (next = is_called ? last + increment :
// last). Reading the relation itself (not pg_sequences) sees a setval(.., false) too.
std::string SequenceStateSql(std::string_view schema, std::string_view sequence);
// Moves sequence $1 (a regclass text) so that nextval() returns $2 next, only when that is
// ahead of where it is: one statement reading and setting, so it never goes backwards. One
// row (the setval result) when moved, none when already there or past.
std::string AdvanceSequenceSql(std::string_view schema, std::string_view sequence);
// The highest value of a column as text, and its type oid through the result column.
std::string MaxValueSql(std::string_view table, std::string_view column);

// ---- trigger-based change capture ------------------------------------------------------------

std::string ChangeTableDdl(std::string_view schema);
std::string CaptureTablesDdl(std::string_view schema);
// Records which key columns a captured table's changes carry ($1 table, $2.. key columns).
std::string RegisterCaptureSql(std::string_view schema, size_t key_columns);
// "_tandem_cap_<table prefix>_<hash>": at most 63 bytes, unique per table name.
std::string CaptureFunctionName(std::string_view table);
// The plpgsql row trigger function for one table: records 'I'/'U'/'D' with the key as a jsonb
// array; an update that changes the key records the old key as 'D' and the new one as 'U'.
// Records nothing when the session has tandem.capture_off = 'on'. `float_key` pins
// extra_float_digits for the function: a float key then records exactly even when the writing
// session asked for fewer digits (the cost of the setting is paid only by such tables).
std::string CaptureFunctionDdl(std::string_view schema, std::string_view table,
                               const std::vector<std::string>& key, bool float_key);
// The key columns of table $1 (qualified, quoted) with their base type oid, in key order given
// as $2::text[]: attname, type oid. No rows when the table does not exist.
// What the connecting role has for capture: one row per name in $2 (text[]) within schema $1:
// name, exists, the role may act as the table's owner, has SELECT, INSERT, UPDATE, DELETE,
// the owner's name, current_user, has USAGE and CREATE on the schema.
std::string CapturePrivilegesSql();
// Takes every privilege on tandem's capture objects in `schema` (the change and capture
// tables, the change sequence, the capture functions) from everyone but their owner.
std::string RevokeCaptureAccessSql(std::string_view schema);
std::string KeyColumnTypesSql();
// Pass-through (PostgresEngine::RawShapeOf): one row per column named in $2::text[] of the
// table named (quoted, qualified) by $1, in that order: the name asked for, whether it exists
// (a stored generated column is read like any other), format_type with typmod, the collation (qualified, '' for
// none), the innermost base type's typtype, whether that base is built in (an OID below
// 16384, the same in every database of a major version), whether it has binary I/O, the
// chain of a domain's base types, and an enum's labels in their order.
std::string RawShapeSql();
// DROP TRIGGER IF EXISTS + CREATE TRIGGER (works before PostgreSQL 14's CREATE OR REPLACE).
std::string CaptureTriggerDdl(std::string_view schema, std::string_view table);
// Changes after $1 (at most $2), one row per key element in order, with the snapshot xmin of
// the reading statement and the change sequence's last value ($3 = qualified change table):
// seq, tbl, op, element text, xmin, at, last. Always at least one row (seq NULL: no change).
std::string ReadChangesSql(std::string_view schema);
// How many change rows exist after $1.
std::string PendingChangesSql(std::string_view schema);
// The key column types of every captured table: tbl, ordinal, base type oid. $1 = schema.
std::string CaptureKeyTypesSql(std::string_view schema);
// The highest seq handed out so far and then a new transaction id: every seq at or below the
// first was issued to a transaction whose id is below the second. $1 = qualified change table.
std::string SeqWatermarkSql();
// The last seq handed out (committed, open or rolled back), 0 when none. $1 = qualified
// change table.
std::string LastChangeSeqSql(std::string_view schema);
std::string PruneChangesSql(std::string_view schema);
// Tables of schema $1 that carry tandem's capture trigger: relname. The clones on partitions
// are left out: dropping the parent's trigger drops them, and they cannot be dropped alone.
std::string CaptureTriggersSql();
// tandem's capture functions in schema $1: proname.
std::string CaptureFunctionsSql();
std::string DropCaptureTriggerSql(std::string_view schema, std::string_view table);
std::string DropCaptureFunctionSql(std::string_view schema, std::string_view function);
std::string DropCaptureTablesSql(std::string_view schema);
// Serialises capture installs and removals on one schema ($1 = schema) until commit.
std::string CaptureLockSql();

// What this engine refuses on write that CastTo lets through (Engine::ValueRefusal).
std::optional<Error> ValueRefusal(const Value& v, const PortableType& type);

}  // namespace tandem::pg
