// SQL expressions of a mapping (`{expr: "upper(trim(?))"}`, `add: {full: {from: [first,
// last], expr: "first || ' ' || last"}}`), evaluated by an embedded, private, in-memory SQLite:
// tandem invents no expression language. Each expression is prepared once, as
//   SELECT (<expr>) FROM (SELECT :tandem_0 AS "first", :tandem_1 AS "last", :tandem_end)
// so the columns it reads are plain names and every `?` is the value being transformed; the
// values are bound, never pasted. The functions are SQLite's own (docs/transforms.md).
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "engines/sqlite/database.h"
#include "tandem/error.h"
#include "tandem/value.h"

namespace tandem::mapping {

// The expressions of one table transform, each with its own prepared statement.
//
// Threads: Eval locks mu_, so one ExpressionSet may be shared by threads (they then take
// turns). A copy prepares its own statements on its own connection, so a copy per thread
// evaluates without waiting (TableTransform copies carry copies of this set).
class ExpressionSet {
 public:
  ExpressionSet() = default;
  ExpressionSet(const ExpressionSet& other);
  ExpressionSet& operator=(const ExpressionSet& other);
  ExpressionSet(ExpressionSet&& other) noexcept;
  ExpressionSet& operator=(ExpressionSet&& other) noexcept;

  // Prepares `sql` reading the columns `names` (bound in that order at Eval) and, when
  // `value_allowed`, any number of `?` (each the value being transformed, args.back()).
  // Returns its index. Failure (kInvalidArgument): a syntax error or an unknown function in
  // SQLite's words, a name that is not in `names`, a `?` where none is allowed, a named
  // parameter (:x), or SQL that is not exactly one expression.
  Result<int> Add(const std::string& sql, const std::vector<std::string>& names,
                  bool value_allowed);

  // Evaluates expression `index` with `args` (one per name, then the value when
  // value_allowed). Failure: kInvalidArgument with Problem::kExpressionError and SQLite's
  // message ("malformed JSON", "integer overflow").
  Result<Value> Eval(int index, const Row& args) const;

  bool empty() const { return list_.empty(); }

 private:
  struct Compiled {
    std::string sql;
    std::vector<std::string> names;
    bool value_allowed = false;
    // For each parameter index (1-based; [0] unused): which arg it takes.
    std::vector<int> param_arg;
    sqlite::Statement stmt;
  };
  Status Open();
  Status Prepare(Compiled& c);

  // mu_ guards db_'s and every statement's use (a SQLite connection is one thread's at a time).
  mutable std::mutex mu_;
  std::unique_ptr<sqlite::Database> db_;
  mutable std::vector<Compiled> list_;
};

}  // namespace tandem::mapping
