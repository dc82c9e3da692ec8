// Trigger-based change capture for MariaDB (ChangeSource "triggers").
//
// AFTER INSERT/UPDATE/DELETE triggers on each captured table append (seq, table, op, key) to
// _tandem_changes, where seq is an AUTO_INCREMENT. Sessions that set @tandem_capture_off = 1
// (tandem's own writers, SuppressOwnWrites) are not recorded. The source reads through its
// engine's connection.
//
// Sequence gaps. A seq is allocated when the row is inserted but becomes visible when its
// transaction commits, so seq 5 can appear after seq 6 has been read; a rolled-back
// transaction leaves a gap that never fills. Read therefore stops before the first gap
// (or, when the change table is empty, before seqs the counter has handed out) and moves
// past it only once the gap is proven dead:
//   1. The gap is seen: every missing seq below the horizon (the highest seq read, or the
//      counter's last value) had already been allocated, so whichever transaction holds it
//      was open at that moment.
//   2. After `settle` (1 s: information_schema.INNODB_TRX is a cache refreshed every 100 ms)
//      the source takes the set of open transactions that have written rows. Any
//      transaction holding a missing seq is in that set or has already ended.
//   3. Once none of that set is still open, every transaction that could hold a missing seq
//      has committed or rolled back; the next read sees all that committed, and what is still
//      missing below the horizon is dead.
// Reading INNODB_TRX needs the PROCESS privilege, and there is no proof without it (a
// timeout would skip the change of a transaction that stays open longer): Install refuses
// without it, and so does a Read that meets a gap, with failed_precondition naming the GRANT.
//
// Privileges. The triggers are created with DEFINER = CURRENT_USER (tandem's user) and, like
// every MariaDB trigger, run with the definer's privileges: the application's user needs
// none on the change table, and without a grant on it (table-level grants on its own tables)
// cannot read it.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "engines/mysql/mysql_engine.h"
#include "engines/seq_position.h"

namespace tandem::mysql {

class MysqlTriggerCapture final : public SeqChangeSource {
 public:
  // REQUIRES: `engine` outlives this source.
  explicit MysqlTriggerCapture(MysqlEngine& engine) : e_(engine) {}

  Status Install(const std::vector<CaptureTable>& tables) override;
  Result<ChangeBatch> Read(const Position& after, size_t limit) override;
  Result<Position> Last() override;
  Result<int64_t> Pending(const Position& after) override;
  Status Prune(const Position& upto) override;
  Status Remove() override;
  Status SuppressOwnWrites(bool suppressed) override { return e_.SetCaptureSuppressed(suppressed); }
  Result<std::vector<MissingGrant>> MissingGrants(const std::vector<std::string>& tables) override;

  // How long a gap must be watched before the open-transaction check counts (step 2 above).
  // Tests shorten it.
  void set_gap_settle(std::chrono::milliseconds settle) { gap_settle_ = settle; }

 private:
  Status AdvanceGapProof();
  // Open writing transactions other than this session's; failed_precondition (with the
  // GRANT to run) without the PROCESS privilege.
  Result<std::set<std::string>> OpenWriters();
  // Key columns of a captured table, from _tandem_capture (cached).
  Result<const std::vector<CaptureKeyColumn>*> CaptureKey(const std::string& table);
  Result<int64_t> LastSeq();

  MysqlEngine& e_;
  // A sequence gap under watch: every seq <= horizon had been allocated when it was seen.
  struct GapWatch {
    int64_t horizon = 0;
    std::chrono::steady_clock::time_point seen_at;
    std::optional<std::set<std::string>> writers;  // open writing transactions, once taken
  };
  std::optional<GapWatch> gap_;
  std::map<std::string, std::vector<CaptureKeyColumn>> capture_keys_;
  int64_t dead_upto_ = 0;  // missing seqs <= this are proven rolled back
  std::chrono::milliseconds gap_settle_{1000};
};

}  // namespace tandem::mysql
