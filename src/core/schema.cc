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

}  // namespace tandem
