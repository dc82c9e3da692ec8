#include "tandem/engine.h"

namespace tandem {

std::string_view SequenceKindName(SequenceKind k) {
  switch (k) {
    case SequenceKind::kIdentity: return "identity";
    case SequenceKind::kSerial: return "serial";
    case SequenceKind::kSequenceDefault: return "nextval default";
    case SequenceKind::kAutoIncrement: return "auto_increment";
    case SequenceKind::kRowid: return "rowid";
    case SequenceKind::kSqliteAutoincrement: return "autoincrement";
  }
  return "?";
}

}  // namespace tandem
