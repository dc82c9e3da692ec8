// A table mapping compiled against the live schemas: which source columns to read, how each
// lands in the target, and why a row cannot.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/timezone.h"
#include "mapping/config.h"
#include "mapping/expression.h"
#include "tandem/engine.h"
#include "tandem/schema.h"

namespace tandem::mapping {

// Why a row cannot land: the column, the kind of problem, the mapping rule that refused it and
// the message a reject stores ("<column>: <what>", the value shortened).
struct Refusal {
  std::string column;  // the source column (for a row-level rule: the target column)
  Problem problem = Problem::kNone;
  std::string rule;    // "on_null: reject", "cast to varchar(20)", "NOT NULL", "map"
  std::string message;
  // A row that lands may still carry values a stated policy changed: a local time in a DST gap
  // shifted forward (on_gap: shift_forward), one in a fold resolved (on_fold: earlier|later).
  // Apply clears the list and adds one note per such value, with column, problem, rule and
  // message as a refusal would have them; `assess` reports them as warnings.
  struct Note {
    std::string column;
    Problem problem = Problem::kNone;
    std::string rule, message;
  };
  std::vector<Note> notes;
};

class TableTransform {
 public:
  // Checks `map` against `source` and `target` (nullptr: the target table does not exist and
  // will be created from planned_target()). Appends every problem found to `problems`, each
  // naming the file line, table and column; returns nullopt when there was any.
  // `cfg` (when given) resolves the tables that foreign keys reference to their target names.
  static std::optional<TableTransform> Compile(const TableMap& map, const TableSchema& source,
                                               const TableSchema* target,
                                               std::vector<std::string>& problems,
                                               const Config* cfg = nullptr);

  const std::string& source_table() const { return source_table_; }
  const std::string& target_table() const { return target_table_; }
  // The source columns read, in this order (mapped columns, key columns among them).
  const std::vector<std::string>& source_columns() const { return source_columns_; }
  const std::vector<std::string>& source_key() const { return source_key_; }
  // The target columns written, in this order, with the portable type each value is cast to.
  const std::vector<std::string>& target_columns() const { return target_columns_; }
  const std::vector<PortableType>& target_types() const { return target_types_; }
  // Per target column: whether Apply's value there is always what CastTo(value, its type)
  // gives (every column but a pass-through one, which is written as read).
  const std::vector<char>& cast_outputs() const { return cast_outputs_; }
  const std::vector<std::string>& target_key() const { return target_key_; }
  // The target table as tandem would create it, with the mapping's defaults, identities,
  // indexes, checks and foreign keys in target names (built on the target whether tandem
  // created the table or not; those already there are skipped by name).
  const TableSchema& planned_target() const { return planned_; }
  // True when every key column sorts by bytes on both sides (tables tandem creates do), so a
  // key range holds the same rows in source and target. When false, copy and verify treat the
  // table as one range: correct, but neither resumable within the table nor bounded in memory.
  bool key_ranges_portable() const { return key_ranges_portable_; }
  // Why the table is one range when that is not the key's collation ("" for a collation).
  const std::string& one_range_reason() const { return one_range_reason_; }
  bool target_exists() const { return target_exists_; }
  // `key: none`: source_key() and target_key() are every column read and written (the whole
  // row is the identity), duplicates are kept, the table is one range, changes are applied by
  // count (ChangeStream) and verify compares it as a multiset.
  bool keyless() const { return keyless_; }
  // The key a scan pages by: empty for a table without a key (the engine reads it whole).
  std::vector<std::string> source_scan_key() const {
    return keyless_ ? std::vector<std::string>{} : source_key_;
  }
  std::vector<std::string> target_scan_key() const {
    return keyless_ ? std::vector<std::string>{} : target_key_;
  }

  // True when the mapping of this table changes nothing: every target column is filled by
  // the source column of the same name, with its type kept and no transform, no zero_date,
  // on_null or map, no added column, and (when the target table exists) no target column
  // left to its default. Such a table's rows may be passed through as the source engine's raw
  // bulk form when both sides also declare every column alike (docs/decisions.md,
  // "Pass-through"); `identity_why()` says why not otherwise ("column a is renamed to b").
  bool identity() const { return identity_why_.empty(); }
  const std::string& identity_why() const { return identity_why_; }

  // The mapping is the identity on one engine: every target column is one source column
  // written as read (the same engine on both sides, the same declared type, no transform, map,
  // zero_date or on_null other than keep) and no column is added or computed. Then the source
  // column of each target column, in target_columns() order (renames are allowed: values are
  // what matter); nullopt otherwise, and for tables without a key. Verify digests such tables
  // in the databases (Engine::DigestRange).
  std::optional<std::vector<std::string>> IdentitySourceColumns() const;

  // Maps one source row (values in source_columns() order) into `out` (target_columns()
  // order). Returns false and sets `why` (naming the column, the problem, the rule and the
  // value) when the row cannot land. Per column, in this order (docs/transforms.md):
  // zero_date, on_null, the `transform:` steps as written (then the table's `timezone:` for a
  // naive value into timestamptz), map/on_unmapped, NOT NULL, the cast to the target type.
  // Thread-safe: a transform with expressions serialises their evaluation on a mutex; give
  // each thread its own copy (copies prepare their own statements) to evaluate in parallel.
  bool Apply(const Row& in, Row& out, Refusal& why) const;
  // The same, keeping only the message.
  bool Apply(const Row& in, Row& out, std::string& reason) const;
  // The key of a source row (values in source_columns() order), in source_key() order.
  Row SourceKey(const Row& in) const;
  // The same into `key`, whose Values keep their buffers (for a caller keying every row).
  void SourceKeyInto(const Row& in, Row& key) const;
  // Where SourceKey takes each key value from in a source row.
  const std::vector<int>& source_key_positions() const { return key_source_pos_; }
  // A source key as the target stores it (key columns are only renamed or cast).
  Result<Row> TargetKey(const Row& source_key) const;
  // A source key range in the target's key terms (key columns are only renamed or cast).
  Result<KeyRange> TargetRange(const KeyRange& source_range) const;
  // A target key back in source terms (for rows found only in the target).
  Result<Row> SourceKeyFromTarget(const Row& target_key) const;
  // Position of each target key column within target_columns().
  const std::vector<int>& target_key_positions() const { return target_key_pos_; }

 private:
  // A `transform:` step resolved once at Compile: zones looked up, expressions prepared.
  struct CompiledStep {
    Step::Op op = Step::Op::kTrim;
    Value arg;                             // kDefault
    TimeZone from = TimeZone::Utc();       // kTimeZone: the zone naive values are local in
    TimeZone to = TimeZone::Utc();         // kTimeZone with to_tz: the zone to give local time in
    bool to_local = false;                 // kTimeZone: to_tz given (the result is naive)
    OnGap on_gap = OnGap::kReject;
    OnFold on_fold = OnFold::kReject;
    std::string encoding;                  // kDecode, kEncode
    bool keep_ambiguous = false;           // kFixMojibake
    int expr = -1;                         // kExpr: index into exprs_
    std::string rule;                      // as the mapping says it, for rejects
  };

  struct Field {
    int source_index = -1;      // into source_columns_; -1 for an added constant
    int spec_index = -1;        // into map_.columns; -1 for an added constant
    Value constant;             // for added columns
    PortableType type;
    bool not_null = false;      // target refuses NULL
    // Same engine, same declared type (`engine_type:`): the value is written as read, with no
    // portable cast, so SQLite keeps each storage class ('2016-07-04' stays that text).
    bool passthrough = false;
    std::string target_name;
    std::vector<CompiledStep> steps;
    std::optional<ZeroDatePolicy> zero_date;  // kValue: its value already cast to `type`
    // An added column computed by an expression: exprs_ index, and the source_columns_ index
    // of each `from:` column.
    int expr = -1;
    std::vector<int> expr_args;
    std::string expr_rule;
  };

  // Resolves the column's zero_date and `transform:` steps (and the table's `timezone:`
  // default) into f.steps / f.zero_date; reports problems through `problem`.
  void CompileSteps(const TableMap& map, const ColumnMap& cm, const Column& source_column,
                    const Config* cfg, Field& f,
                    const std::function<void(const Where&, std::string)>& problem);
  // Why the compiled mapping is not the identity ("" when it is): see identity().
  std::string IdentityProblem(const TableSchema& source, const TableSchema* target) const;
  // Runs one compiled step on `v`; false with `why` filled when the value is refused.
  bool RunStep(const CompiledStep& step, const ColumnMap& cm, const Value*& v, Value& changed,
               Refusal& why) const;

  std::string source_table_, target_table_;
  std::vector<std::string> source_columns_, source_key_, target_columns_, target_key_;
  std::vector<PortableType> target_types_, target_key_types_, source_key_types_;
  std::vector<char> cast_outputs_;
  std::vector<int> key_source_pos_, target_key_pos_;
  std::vector<Field> fields_;
  TableSchema planned_;
  bool target_exists_ = false;
  bool key_ranges_portable_ = true;
  bool keyless_ = false;
  std::string one_range_reason_;
  std::string identity_why_;  // "" when identity()
  TableMap map_;  // owned copy; fields_ index into it
  ExpressionSet exprs_;  // every expression of the table, prepared once (copies re-prepare)
};

// The table named `name` in `tables`, or nullptr.
const TableSchema* FindTable(const std::vector<TableSchema>& tables, std::string_view name);

// One error listing every problem: "<headline> (N problems):\n  p1\n  p2".
Error ProblemsError(Code code, std::string_view headline, const std::vector<std::string>& problems);

// Whether casting keys of kind `from` to `to` keeps their order (a < b stays a <= b).
bool CastKeepsOrder(Kind from, Kind to);

// Whether a value of portable kind `from` can ever become `to` (per value it may still fail).
bool CastPossible(Kind from, Kind to);

// Compiles every table that is not dropped. The error lists every problem (kInvalidArgument).
// `target` holds the target tables that exist now.
Result<std::vector<TableTransform>> CompileAll(const Config& cfg,
                                               const std::vector<TableSchema>& source,
                                               const std::vector<TableSchema>& target);

}  // namespace tandem::mapping
