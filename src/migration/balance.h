// The invariant of every migration (DESIGN.md, "reject"): per table,
//   source rows = target rows + rejected rows,
// counted on the databases themselves and in the reject store. The copy summary, `tandem
// start`, `tandem status` and `tandem rejects retry` check it and say so loudly when it breaks.
#pragma once

#include <condition_variable>
#include <cstdio>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "mapping/transform.h"
#include "migration/session.h"

namespace tandem::migration {

struct Balance {
  std::string table, target;
  int64_t source = 0, target_rows = 0, rejected = 0;
  enum class State {
    kHolds,
    kBroken,     // the counts do not add up while nothing was being written
    kUnsettled,  // writes were in flight while counting (changes not applied yet): not judged
  };
  State state = State::kHolds;
  std::string note;  // why unsettled
  // Sides counted while copying (ChunkCounter) that were taken as they were, or, when they
  // did not add up, `recounted`: both sides were counted again whole and that was judged.
  bool source_counted_early = false, target_counted_early = false, recounted = false;
};

// A table's rows on each side, counted while it was copied (ChunkCounter); nullopt for a side
// to count afterwards.
struct Counted {
  std::optional<int64_t> source, target;
};

// Counts source and target rows of each table (both sides at once) and its rejects.
//
// `counted` (optional) holds sides of tables counted already, chunk by chunk as they were
// copied (ChunkCounter); only the other sides are counted. When those counts do not add up,
// the table is counted again whole on both sides, and that count is judged.
//
// `activity` (optional) tells whether writes are in flight: nullopt when changes are known to
// be unapplied, else a token (e.g. the change log's last position) that differs when a write
// happened. A table that does not add up is counted again (up to 5 times, 0.2 s apart) while
// the token moves; it is kBroken only when the counts were taken with nothing in flight.
Result<std::vector<Balance>> CountBalances(
    Session& s, const std::vector<const mapping::TableTransform*>& tables,
    const std::function<Result<std::optional<std::string>>()>& activity = {},
    const std::map<std::string, Counted>& counted = {});

// Counts the rows of each chunk of a one-off copy (`tandem copy`) in its key range, as soon as
// the chunk is in the target, on connections of its own while the copy goes on, for the sides
// whose exact count is slow (Engine::CountsFasterInRanges: InnoDB reads its whole clustered
// index to count). The invariant after the copy then counts only what is left: the last
// chunks' ranges, and the other side. The ranges of a table's chunks cover its whole key
// space (RangesBetween), so their sum is the table's count, provided no key column can be NULL
// (a NULL key is in no range): tables with such a key, without a key, or whose ranges do not
// hold the same rows on both sides are left to CountBalances.
//
// A chunk's source range is counted after it is copied: a write the application makes to it
// after that count is not seen by either (a one-off copy reads each range once; `tandem start`
// follows writes). Any failure here only leaves the table to the count afterwards.
class ChunkCounter {
 public:
  // `threads` counting threads (the copy's jobs), each opening its own connections when it
  // first counts. Counts nothing when neither side's engine counts faster in ranges.
  ChunkCounter(Session& s, int threads);
  ~ChunkCounter();
  ChunkCounter(const ChunkCounter&) = delete;
  ChunkCounter& operator=(const ChunkCounter&) = delete;

  // Chunk `chunk` of `t` (one of `chunks`) is in the target. Returns at once; thread-safe.
  void Add(const mapping::TableTransform& t, const state::Chunk& chunk, int chunks);

  // Waits until every chunk given is counted, then returns the tables every chunk of which
  // was counted (by source table name).
  std::map<std::string, Counted> Finish();

 private:
  struct Work {
    const mapping::TableTransform* table;
    KeyRange range;
    int chunk, chunks;
  };
  struct Tally {
    std::set<int> chunks;  // counted
    int of = 0;
    int64_t source = 0, target = 0;
    bool failed = false;
  };
  void Loop();
  bool Eligible(const mapping::TableTransform& t, bool source_side) const;

  Session& s_;
  bool source_slow_ = false, target_slow_ = false;
  std::mutex mu_;
  std::condition_variable changed_;
  std::deque<Work> queue_;             // GUARDED_BY(mu_)
  int busy_ = 0;                       // GUARDED_BY(mu_): threads counting
  bool stop_ = false;                  // GUARDED_BY(mu_)
  std::map<std::string, Tally> tally_; // GUARDED_BY(mu_)
  std::vector<std::thread> threads_;
};

// The `activity` for CountBalances while change streams run: nullopt while the forward stream
// (and, with `reverse`, the reverse one) has changes not applied yet, else the change logs'
// last positions. Empty (no activity to watch) when `streaming` is false.
std::function<Result<std::optional<std::string>>()> StreamActivity(Session& s, bool streaming,
                                                                   bool reverse);

// Prints one line per table (source rows, target rows, rejected, and "ok", "BROKEN: ..." or
// "not judged: ..."), and returns true when some table is broken.
bool PrintBalances(FILE* out, const std::vector<Balance>& balances);

// The error a command returns after PrintBalances found a broken table (kDataLoss).
Error BrokenBalanceError(const std::vector<Balance>& balances);

}  // namespace tandem::migration
