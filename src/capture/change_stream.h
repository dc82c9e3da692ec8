// The change stream: reads captured changes from one side, re-reads the current rows and
// lands them on the other side through a mapping, then advances its checkpoint.
// Applying a change twice is harmless, so a crash anywhere loses nothing.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "mapping/drift.h"
#include "mapping/transform.h"
#include "state/state_store.h"
#include "tandem/change_source.h"
#include "tandem/engine.h"

namespace tandem::capture {

// Decides whether a change to `key` of source `table` must be applied now. The backfill's
// chunk rule: a key in a chunk not started yet is dropped (the chunk will read the newest row).
using ApplyFilter = std::function<bool(std::string_view table, const Row& key)>;

struct PollResult {
  size_t changes = 0;   // changes read
  size_t applied = 0;   // keys upserted or removed
  size_t skipped = 0;   // keys dropped by the filter
  size_t rejected = 0;  // rows that could not land
  Position position;     // checkpoint after the poll
  size_t held = 0;      // keys kept for held tables
  size_t replayed = 0;  // kept keys applied (or dropped by the filter) now their table is not held
  bool caught_up = false;
  std::vector<int64_t> lag_micros;  // per change: applied time minus recorded time
};

// Told when a stream starts holding a table (its columns changed): the table, what changed and
// the message for the user (mapping::DescribeChanges).
using HoldObserver = std::function<void(std::string_view table,
                                        const std::vector<mapping::ColumnChange>& changes,
                                        const std::string& message)>;

class ChangeStream {
 public:
  // `name` is the checkpoint name in the state store ("forward" or "reverse"); `from` is where
  // changes are captured (by `changes`, a ChangeSource on `from`), `to` where they land,
  // through `tables` (keyed by from-side table).
  // REQUIRES: every argument outlives the stream; `to`'s own writes are suppressed
  // (ChangeSource::SuppressOwnWrites on a source opened on `to`), so they do not echo back.
  ChangeStream(std::string name, Engine& from, ChangeSource& changes, Engine& to,
               const std::vector<mapping::TableTransform>& tables, state::StateStore& state);

  // Installs capture on `from` for every mapped table (idempotent).
  Status Install();

  // Applies up to `max_changes` changes after the checkpoint. Rows go through the mapping;
  // a row that cannot land is a reject (and its key is removed from `to`).
  Result<PollResult> Poll(size_t max_changes, const ApplyFilter& filter = {});

  // Polls until the checkpoint covers the newest change recorded at the call, or `timeout_s`.
  Result<PollResult> DrainToNow(double timeout_s, const ApplyFilter& filter = {});

  // Changes recorded but not yet applied (change rows that exist after the checkpoint).
  Result<int64_t> Lag();

  // The current rows of changed keys are read and written in slices of about this many bytes
  // (options.batch_bytes), judged by the widest row of the table seen so far.
  void SetBatchBytes(size_t bytes) { batch_bytes_ = std::max<size_t>(bytes, 1); }

  // Schema changes while following (docs/decisions.md, "Held tables"). Watches each mapped
  // table's from-side columns against `compiled` (the tables as the mapping was compiled
  // against them): a poll with changes for a table re-reads its columns (Engine::
  // DescribeColumns, at most every `recheck`, and always after its fetch or write failed), and
  // a table whose columns differ is held: its changes are not applied, their keys are kept in
  // the state store as the checkpoint passes them, and the other tables go on. `map_of` gives
  // each table's mapping for the message. Loads the holds and held keys already in the state
  // store. REQUIRES: `cfg` outlives the stream.
  Status WatchColumns(std::vector<TableSchema> compiled, const mapping::Config* cfg,
                      HoldObserver on_hold,
                      std::chrono::milliseconds recheck = std::chrono::milliseconds(300));
  // Holds `table` from now on (recorded in the state store, told to the observer).
  Status Hold(std::string_view table, const std::vector<mapping::ColumnChange>& changes);
  // Ends the hold of `table` (its mapping fits its columns again): the keys kept for it are
  // applied by the next polls, under their filter.
  Status Release(std::string_view table);
  bool Held(std::string_view table) const { return held_.contains(table); }
  // Keys kept for tables no longer held, still to apply (each poll applies some).
  bool Replaying() const { return !replay_.empty(); }

 private:
  // Applies the changes of `keys` in slices bounded in bytes (ApplyTable each).
  Status ApplyKeys(const mapping::TableTransform& t, const std::vector<Row>& keys,
                   PollResult& result);
  // Re-reads and lands the rows of `keys` in one target transaction.
  Status ApplyTable(const mapping::TableTransform& t, const std::vector<Row>& keys,
                    PollResult& result);
  // A table without a key: `images` are whole source rows; each is made to occur in `to` as
  // often as in `from`.
  Status ApplyImages(const mapping::TableTransform& t, const std::vector<Row>& images,
                     PollResult& result);
  Status RecordRejects(const std::string& table, const std::vector<Row>& landed,
                       const std::vector<state::Reject>& rejects);
  // After `to` refused a batch: the removals, then each upsert in its own transaction; a
  // refused row becomes a reject (its key removed from `to`, dropped from `landed`).
  Status ApplyRowByRow(const mapping::TableTransform& t, const std::vector<Row>& rows,
                       const std::vector<Row>& upserts, const std::vector<size_t>& origin,
                       const std::vector<Row>& removals, std::vector<Row>& landed,
                       std::vector<state::Reject>& rejects);

  // The table's columns now against those compiled; a hold when they differ. `force` skips
  // the recheck interval (after an error).
  Result<bool> CheckColumns(std::string_view table, bool force);
  // Applies up to `limit` kept keys of tables no longer held; true when none are left.
  Result<bool> Replay(size_t limit, const ApplyFilter& filter, PollResult& result);

  std::string name_;
  Engine& from_;
  ChangeSource& changes_;
  Engine& to_;
  state::StateStore& state_;
  std::map<std::string, const mapping::TableTransform*, std::less<>> by_table_;
  std::map<std::string, bool, std::less<>> has_rejects_;  // skip clearing when none
  static constexpr size_t kFirstFetchKeys = 64, kMaxFetchKeys = 5000;
  size_t batch_bytes_ = kDefaultBatchBytes;
  std::map<std::string, size_t, std::less<>> widest_;  // the widest row fetched, per table
  // Column watch (WatchColumns); all of it used only by the thread that polls.
  bool watching_ = false;
  const mapping::Config* cfg_ = nullptr;
  HoldObserver on_hold_;
  std::chrono::milliseconds recheck_{300};
  std::map<std::string, std::vector<Column>, std::less<>> compiled_;
  std::map<std::string, std::chrono::steady_clock::time_point, std::less<>> checked_at_;
  std::set<std::string, std::less<>> held_;    // tables whose changes are held
  std::set<std::string, std::less<>> replay_;  // tables not held with kept keys to apply
};

}  // namespace tandem::capture
