// Schema changes under a running migration: what changed in a mapped source table since the
// mapping was compiled, and what to write in tandem.yaml about it (DESIGN.md, "Privileges and
// the application"). Pure functions: no connection.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "mapping/config.h"
#include "tandem/schema.h"

namespace tandem::mapping {

struct ColumnChange {
  enum class What { kAdded, kDropped, kRetyped, kRenamed };
  What what = What::kAdded;
  std::string column;    // the column as it is now; for kDropped the column that is gone
  std::string was;       // kRenamed: the old name
  std::string was_type;  // engine type before (kDropped, kRetyped, kRenamed)
  std::string now_type;  // engine type now (kAdded, kRetyped, kRenamed)
  PortableType portable; // portable type now (kAdded, kRetyped, kRenamed)
  friend bool operator==(const ColumnChange&, const ColumnChange&) = default;
};
std::string_view ChangeName(ColumnChange::What what);

// The changes from `compiled` (the columns the mapping was compiled with) to `live`, in column
// order. One column gone and one new of the same engine type at the same position read as a
// rename (the only change that is, alone); types compare by engine type, case-insensitively.
std::vector<ColumnChange> DiffColumns(const std::vector<Column>& compiled,
                                      const std::vector<Column>& live);

// What to write in tandem.yaml for one change, in `map`'s terms: `note: {to: note, type: text}`.
std::string SuggestedMapping(const ColumnChange& change, const TableMap* map);

// One message for a table whose columns changed: the table, each column, what changed and what
// to write in tandem.yaml (`file` names it), and that `tandem start` must run again after.
std::string DescribeChanges(std::string_view table, const std::vector<ColumnChange>& changes,
                            const TableMap* map, std::string_view file = "tandem.yaml");

// `changes` without those that do not matter to `map`: a column it drops going away or
// changing type.
std::vector<ColumnChange> Relevant(std::vector<ColumnChange> changes, const TableMap* map);

// True when every change is a dropped column: the table needs no copy again once mapped
// (the target keeps the column), only its held changes applied.
bool OnlyDrops(const std::vector<ColumnChange>& changes);

// The live source table reduced to what `map` knows, so that a mapping written before the
// change still compiles and its table can be held instead of failing the whole migration:
// columns the mapping does not name are left out, mapped columns that are gone are put back
// with the mapping's type (else the target column's, else text). `changes` gets what was
// left out or put back and matters (Relevant: not a column the mapping drops; no retypes:
// those compile, and are noticed by the follower).
TableSchema FitToMapping(const TableSchema& live, const TableMap& map, const TableSchema* target,
                         std::vector<ColumnChange>& changes);

}  // namespace tandem::mapping
