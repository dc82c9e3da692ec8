// Trigger-based change capture for SQLite (ChangeSource "triggers").
//
// AFTER INSERT/UPDATE/DELETE triggers append (seq, table, op, key) to _tandem_changes. SQLite
// has one writer at a time and AUTOINCREMENT hands out seq inside the write transaction, so
// seq order is commit order and no gap ever fills in later: a Read never waits.
// The source shares its engine's connection (and so its transaction): capture objects are
// installed atomically with whatever the caller's transaction does.
#pragma once

#include "engines/seq_position.h"
#include "engines/sqlite/sqlite_engine.h"

namespace tandem::sqlite {

class SqliteTriggerCapture final : public SeqChangeSource {
 public:
  // REQUIRES: `engine` outlives this source.
  explicit SqliteTriggerCapture(SqliteEngine& engine) : e_(engine) {}

  Status Install(const std::vector<CaptureTable>& tables) override;
  Result<ChangeBatch> Read(const Position& after, size_t limit) override;
  Result<Position> Last() override;
  Result<int64_t> Pending(const Position& after) override;
  Status Prune(const Position& upto) override;
  Status Remove() override;
  Status SuppressOwnWrites(bool suppressed) override { return e_.SetCaptureSuppressed(suppressed); }

 private:
  SqliteEngine& e_;
};

}  // namespace tandem::sqlite
