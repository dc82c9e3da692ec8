// Sequences across the switches (DESIGN.md: at `switch writes` every identity and sequence on
// new is moved past the highest value in use on either side while old is frozen; at
// `rollback` the same for old). Without this the application's first insert that lets the
// database pick its id collides on new: PostgreSQL sequences do not follow the explicit ids
// tandem writes. MariaDB AUTO_INCREMENT and SQLite rowids do follow them, but not past ids
// the other side handed out and then deleted; the headroom covers what the counters cannot
// see (values cached by sessions, auto_increment_increment).
#pragma once

#include <string>
#include <vector>

#include "migration/migration.h"

namespace tandem::migration {

// What one sequence-fed column got.
struct SequenceMove {
  std::string table;   // on the side moved
  std::string column;  // on the side moved
  std::string kind;    // SequenceKindName
  std::string other_column;  // the mapped column on the other side ("" when unmapped)
  int64_t before = 0;  // next value before the move
  int64_t after = 0;   // next value after it
  int64_t wanted = 0;  // max(highest in use on both sides, the other side's next - 1) + 1 + headroom
  bool settable = true;  // false: the engine takes max+1 itself (SQLite rowid), nothing moved
};

// Moves each sequence-fed column of every mapped table on `side` ("new": the target, at
// switch writes; "old": the source, at rollback) to at least `wanted`, reading the highest
// value in use on both sides and the other side's own counter. Never backwards, idempotent.
// REQUIRES: the other side is frozen and the streams are drained, so nothing in use is
// missing from either side and no insert races the move on `side`.
Result<std::vector<SequenceMove>> SyncSequences(Migration& m, const std::string& side);

// The state-store key holding the last sync, as JSON: {side, at, ms, columns: [...]}.
inline constexpr std::string_view kLastSequenceSyncKey = "last_sequence_sync";

// Records `moves` in the state store (the event log and kLastSequenceSyncKey) and prints one
// line per column to `out`.
Status RecordSequenceSync(Migration& m, const std::string& side,
                          const std::vector<SequenceMove>& moves, double ms, FILE* out);

}  // namespace tandem::migration
