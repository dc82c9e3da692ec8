// Trigger-based change capture for PostgreSQL (ChangeSource "triggers").
//
// Every captured table gets an AFTER INSERT/UPDATE/DELETE row trigger that appends
// (seq, table, op, key) to _tandem_changes; _tandem_capture_tables remembers each table's key
// columns so a reader in any process can decode keys back into typed values.
//
// The source reads through its engine's connection (one connection per side, and installs
// join the caller's transaction). Its gap bookkeeping lives in memory and is only ever
// conservative: a fresh source re-derives it, at the cost of one more round.
//
// The gap rule. A change row becomes visible when its transaction commits, so a lower seq
// can appear after a higher one (transactions commit out of order), and a seq whose
// transaction rolled back never appears. Read returns changes in seq order and stops at the
// first missing seq, or at the end of what is visible while the sequence has handed out more
// (a gap at the tail), unless the missing seqs are known to be final:
//   - A transaction takes its seq after it has a transaction id (the row it wrote, which
//     fired the trigger, assigned one).
//   - When a gap blocks, the source reads the sequence's last value M and then takes a new
//     transaction id X (pg_current_xact_id): every seq <= M went to a transaction with an
//     id < X.
//   - Once a later statement's snapshot has xmin > X, every such transaction has ended, so
//     every seq <= M is visible in that snapshot or never will be: the gaps below M are
//     dead and the read moves past them (ChangeBatch::upto), with or without a change after.
// With no other transaction open, the second statement of the same Read already sees
// xmin > X, so gaps left by rolled-back transactions cost one extra round, not a wait for
// some later commit. A transaction that stays open holds back only what comes after its own
// seq, and nothing is ever skipped. No privileges beyond the change table are needed.
//
// Privileges. The capture functions are SECURITY DEFINER, owned by the role tandem connects
// as, with search_path pinned to pg_catalog, pg_temp: an application role firing a trigger
// needs no privilege on the change table, and Install takes every privilege on tandem's
// objects from everyone but their owner, so the application can neither read nor alter them.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "engines/postgres/postgres_engine.h"
#include "engines/seq_position.h"

namespace tandem::pg {

class PgTriggerCapture final : public SeqChangeSource {
 public:
  // REQUIRES: `engine` outlives this source.
  explicit PgTriggerCapture(PostgresEngine& engine) : e_(engine) {}

  Status Install(const std::vector<CaptureTable>& tables) override;
  Result<ChangeBatch> Read(const Position& after, size_t limit) override;
  Result<Position> Last() override;
  Result<int64_t> Pending(const Position& after) override;
  Status Prune(const Position& upto) override;
  Status Remove() override;
  Status SuppressOwnWrites(bool suppressed) override { return e_.SetCaptureSuppressed(suppressed); }
  Result<std::vector<MissingGrant>> MissingGrants(const std::vector<std::string>& tables) override;

 private:
  Status LoadKeyTypes();
  Result<bool> Installed(std::string_view what);
  void Forget();

  PostgresEngine& e_;
  std::map<std::string, std::vector<TypeOid>> key_types_;  // captured table -> key types
  int64_t final_upto_ = 0;  // every seq <= final_upto_ is final: visible now or never
  struct Watermark {
    int64_t seq = 0;  // every seq <= seq was handed to a transaction with id < xid
    uint64_t xid = 0;
  };
  std::optional<Watermark> watermark_;
};

}  // namespace tandem::pg
