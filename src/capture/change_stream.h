// The change stream: reads captured changes from one side, re-reads the current rows and
// lands them on the other side through a mapping, then advances its checkpoint.
// Applying a change twice is harmless, so a crash anywhere loses nothing.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

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
  bool caught_up = false;
  std::vector<int64_t> lag_micros;  // per change: applied time minus recorded time
};

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

 private:
  Status ApplyTable(const mapping::TableTransform& t, const std::vector<Row>& keys,
                    PollResult& result);
  // A table without a key: `images` are whole source rows; each is made to occur in `to` as
  // often as in `from`.
  Status ApplyImages(const mapping::TableTransform& t, const std::vector<Row>& images,
                     PollResult& result);
  // After `to` refused a batch: the removals, then each upsert in its own transaction; a
  // refused row becomes a reject (its key removed from `to`, dropped from `landed`).
  Status ApplyRowByRow(const mapping::TableTransform& t, const std::vector<Row>& rows,
                       const std::vector<Row>& upserts, const std::vector<size_t>& origin,
                       const std::vector<Row>& removals, std::vector<Row>& landed,
                       std::vector<state::Reject>& rejects);

  std::string name_;
  Engine& from_;
  ChangeSource& changes_;
  Engine& to_;
  state::StateStore& state_;
  std::map<std::string, const mapping::TableTransform*, std::less<>> by_table_;
  std::map<std::string, bool, std::less<>> has_rejects_;  // skip clearing when none
};

}  // namespace tandem::capture
