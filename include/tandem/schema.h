// What introspection reports about a table, engine by engine, in portable terms.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "tandem/value.h"

namespace tandem {

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
};

struct ForeignKey {
  std::vector<std::string> columns;
  std::string ref_table;
  std::vector<std::string> ref_columns;
};

struct TableSchema {
  std::string name;
  std::vector<Column> columns;
  std::vector<std::string> primary_key;
  std::vector<std::vector<std::string>> unique_keys;
  std::vector<ForeignKey> foreign_keys;
  std::vector<std::string> checks;  // CHECK expressions, where readable

  const Column* Find(std::string_view column) const;
  int IndexOf(std::string_view column) const;  // -1 when absent
};

}  // namespace tandem
