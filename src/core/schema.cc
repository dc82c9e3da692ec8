#include "tandem/engine.h"
#include "tandem/schema.h"

namespace tandem {

const Column* TableSchema::Find(std::string_view column) const {
  int i = IndexOf(column);
  return i < 0 ? nullptr : &columns[i];
}

int TableSchema::IndexOf(std::string_view column) const {
  for (size_t i = 0; i < columns.size(); ++i) {
    if (columns[i].name == column) return static_cast<int>(i);
  }
  return -1;
}

bool KeyRange::Contains(const Row& key) const {
  if (lower && !(key > *lower)) return false;
  if (upper && key > *upper) return false;
  return true;
}

std::vector<KeyRange> RangesBetween(const std::vector<Row>& bounds) {
  std::vector<KeyRange> out;
  std::optional<Row> lower;
  for (size_t i = 0; i <= bounds.size(); ++i) {
    KeyRange r;
    r.lower = lower;
    if (i < bounds.size()) r.upper = bounds[i];
    lower = r.upper;
    out.push_back(std::move(r));
  }
  return out;
}

Result<std::vector<KeyRange>> PlanRanges(Engine& engine, const std::string& table,
                                         const std::vector<std::string>& key, int64_t range_rows) {
  TANDEM_ASSIGN_OR_RETURN(int64_t rows, engine.Count(table, key, {}));
  int n = static_cast<int>(std::max<int64_t>(1, (rows + range_rows - 1) / range_rows));
  TANDEM_ASSIGN_OR_RETURN(auto bounds, engine.Split(table, key, n));
  return RangesBetween(bounds);
}

}  // namespace tandem
