// tandem.yaml: the one file that says how every source field lands in the target.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "tandem/schema.h"
#include "tandem/value.h"

namespace tandem::mapping {

enum class OnNull { kKeep, kDefault, kReject };
enum class OnUnmapped { kKeep, kReject };

// Where a piece of the file came from, for messages: "tandem.yaml:12".
struct Where {
  std::string file;
  int line = 0;
  std::string ToString() const;
};

// What a local time that the clocks skipped (spring forward) becomes.
enum class OnGap { kReject, kShiftForward };
// What a local time that the clocks showed twice (fall back) becomes.
enum class OnFold { kReject, kEarlier, kLater };

// One entry of a column's `transform:` list (docs/transforms.md), run in the order written.
struct Step {
  enum class Op {
    kTrim,
    kLower,
    kUpper,
    kDefault,      // {default: v}: NULL becomes v
    kTimeZone,     // {from_tz: Zone, to_tz: Zone, on_gap: ..., on_fold: ...}
    kDecode,       // {decode: cp1252}: bytes (or text holding them) of an encoding -> UTF-8
    kFixMojibake,  // fix_mojibake / {fix_mojibake: keep|reject}
    kExpr,         // {expr: "SQL with ? for the value"}
    kEncode,       // text -> bytes of `encoding`: the inverse of kDecode, built by reverse.cc only
  };
  Op op;
  Value arg;  // kDefault: the replacement for NULL
  // kTimeZone: the zone a naive value is local time in (empty: only to_tz was given, the
  // value is an instant or UTC), and the zone to give local time in (empty: give the instant).
  std::string from_tz, to_tz;
  OnGap on_gap = OnGap::kReject;
  OnFold on_fold = OnFold::kReject;
  std::string encoding;         // kDecode: canonical name (core/encoding.h)
  bool keep_ambiguous = false;  // kFixMojibake: `keep` leaves text it cannot repair surely
  std::string expr;             // kExpr
  Where where;
  // The rule as the mapping wrote it, for rejects: "from_tz: Europe/Paris (on_gap: reject)".
  std::string Rule() const;
};

// "from_tz: Europe/Paris (on_gap: reject)": a time zone rule with the policy that refused.
std::string TimeZoneRule(std::string_view rule, OnGap g);
std::string TimeZoneRule(std::string_view rule, OnFold f);

// `zero_date:` of a column: what a MySQL-style zero date (0000-00-00, 2023-00-10) or an
// impossible one (2023-02-30) becomes. Without it such a value is a reject (invalid_date).
struct ZeroDatePolicy {
  enum class Kind { kNull, kReject, kValue };
  Kind kind = Kind::kReject;
  Value value;  // kValue: the replacement, cast to the target type at compile time
  Where where;
  std::string Rule() const;  // "zero_date: null"
};

struct ColumnMap {
  std::string source;
  std::optional<std::string> drop_reason;  // set: the column is dropped on purpose
  std::string target;                      // target column name (when mapped)
  std::optional<PortableType> type;        // explicit target type
  // `engine_type:` the column's type in the target engine's own words ("NVARCHAR(120)",
  // "numeric(10,2)", "int(11) unsigned"), declared as is when tandem creates the table.
  // Drafted for same-engine copies. When the source column is declared the same on the same
  // engine, values pass through without the portable cast (SQLite keeps each storage class).
  std::optional<std::string> engine_type;
  std::vector<Step> steps;                 // in order
  std::optional<ZeroDatePolicy> zero_date;  // runs first, before on_null
  OnNull on_null = OnNull::kKeep;
  std::optional<Value> default_value;      // for on_null: default
  std::vector<std::pair<std::string, std::optional<std::string>>> value_map;  // from -> to/NULL
  OnUnmapped on_unmapped = OnUnmapped::kKeep;
  std::optional<std::string> reverse;      // how to invert a non-invertible transform
  // `default:` is also the target column's DEFAULT: a constant (then default_value holds it
  // too), current_timestamp / current_date / current_time (unquoted), or {sql: "..."} in the
  // target engine's own terms.
  std::optional<ColumnDefault> target_default;
  bool identity = false;                   // `identity: true`: the target picks ids
  bool on_update_current_timestamp = false;  // `on_update: current_timestamp` (MariaDB)
  Where where;
};

// `indexes:` of a table. Columns are *source* columns (a rename by `to:` follows);
// `where:` and `expression:` are SQL of the target engine.
struct IndexMap {
  Index index;
  Where where;
};
// `foreign_keys:`: columns and `references:` (table and ref_columns) in source terms.
struct ForeignKeyMap {
  ForeignKey fk;
  Where where;
};
// `checks:`: SQL of the target engine, in target column names.
struct CheckMap {
  Check check;
  Where where;
};

// `add:` a target column no source column fills one-to-one: a constant (`value:`), or an
// SQL expression over source columns (`from: [first, last]`, `expr: "..."`), which is how
// several source columns land in one target column and one in several.
struct AddColumn {
  std::string target;
  Value value;
  std::optional<PortableType> type;
  std::vector<std::string> from;    // source columns the expression reads (by these names)
  std::optional<std::string> expr;  // set: the value is the expression's result
  // `reverse: none`: the reverse stream does not write the `from:` columns back from this
  // column (they keep NULL or their default for rows written on the new side).
  std::optional<std::string> reverse;
  Where where;
};

struct TableMap {
  std::string source;
  std::optional<std::string> drop_reason;  // set: the whole table is left behind on purpose
  std::string target;
  std::vector<std::string> key;  // source key columns; empty: the source primary key
  // `key: none`: the table has no key; the whole row is its identity and duplicates are kept
  // (docs/decisions.md, "Tables without a key").
  bool keyless = false;
  std::vector<ColumnMap> columns;
  std::vector<AddColumn> adds;
  std::vector<IndexMap> indexes;
  std::vector<ForeignKeyMap> foreign_keys;
  std::vector<CheckMap> checks;
  // `timezone:` of the table (else the file's): the zone a naive source timestamp is local
  // time in when it lands in a timestamptz target column with no from_tz step of its own.
  std::optional<std::string> timezone;
  Where timezone_where;
  Where where;

  const ColumnMap* FindColumn(std::string_view source_column) const;
};

// The most jobs `--jobs` or options.jobs may ask for (each is a connection to each side).
inline constexpr int kMaxJobs = 64;

// options.chunk_rows when the mapping does not set it: rows per backfill chunk (one target
// transaction, one checkpoint). 200,000: each chunk boundary drains and refills the
// read -> map -> write pipeline, which cost a copy into PostgreSQL about 15% at --jobs 1
// with 50,000 (docs/decisions.md, "Chunk size"). verify compares ranges of at most
// verify::kMaxRangeRows.
inline constexpr int kDefaultChunkRows = 200000;

struct Config {
  std::string path;  // the file read
  std::string dir;   // its directory: relative paths resolve here
  std::string source;
  std::string target;
  std::string state;     // state store URI; default sqlite:<stem>.state.db next to the file
  // The file's `timezone:` (default UTC): see TableMap::timezone.
  std::string timezone = "UTC";
  Where timezone_where;
  std::map<std::string, std::string> hooks;  // reads, writes, rollback, freeze, unfreeze
  int chunk_rows = kDefaultChunkRows;
  int batch_rows = 10000;
  // options.batch_bytes: a batch (read, queued, written, fetched by the change stream) also ends
  // once its rows hold this many bytes; a larger row travels alone.
  int64_t batch_bytes = 8 << 20;
  // options.jobs: chunks copied (and verify ranges compared) at once; 0 = the number of cores,
  // at most 8. `--jobs` overrides it.
  int jobs = 0;
  // options.sequence_headroom: how far past the highest value in use on either side a switch
  // moves each sequence (a margin for values handed out but not yet visible, cached
  // sequence values, auto_increment_increment > 1).
  int64_t sequence_headroom = 1000;
  std::vector<TableMap> tables;

  const TableMap* FindBySource(std::string_view source_table) const;
  // The jobs to run: `cli` when given (> 0), else options.jobs, else the number of cores, at
  // most 8.
  int Jobs(int cli) const;
};

// Reads and parses the file. Errors (kInvalidArgument, or kNotFound for a missing file) name
// the file, line and key.
Result<Config> LoadConfig(const std::string& path);
// Parses YAML text; `path` is used for messages and to resolve relative paths.
Result<Config> ParseConfig(const std::string& yaml, const std::string& path);

}  // namespace tandem::mapping
