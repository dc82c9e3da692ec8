// Verification: compares the mapped source rows with the target rows, range by range, down to
// the differing field, and re-checks differences on keys that were changing meanwhile.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engines/reconnect.h"
#include "mapping/transform.h"
#include "state/state_store.h"
#include "tandem/engine.h"

namespace tandem::verify {

struct FieldDiff {
  std::string column;  // target column
  Value source;        // the mapped source value
  Value target;
};

struct Difference {
  enum class Kind { kMissing, kExtra, kChanged, kUnmappable };
  Kind kind = Kind::kChanged;
  std::string table;  // source table
  Row source_key;
  Row target_key;
  std::vector<FieldDiff> fields;  // kChanged
  std::string reason;             // kUnmappable: why the source row cannot land
  std::string Describe() const;
};

struct TableResult {
  std::string source_table, target_table;
  int64_t source_rows = 0;   // compared (rejected rows excluded)
  int64_t target_rows = 0;
  int64_t rejected = 0;      // source rows known as rejects, not expected in the target
  int ranges = 0;
  // The differences kept in memory (at most Options::max_listed over the whole run), in key
  // order; the rest are spilled to the state store (StateStore::VerifySpill) and counted here.
  std::vector<Difference> differences;
  int64_t spilled = 0;
  int64_t transient = 0;  // differing in the pass, equal when re-read for the fields
  // Ranges found equal by their digests (computed in both databases for an identity mapping
  // on one engine, else by tandem from one scan of each side), not compared row by row; a
  // range whose digests differ is compared row by row and not counted here.
  int digested = 0;
  // Of those, the ranges whose digests tandem computed from one scan of each side
  // (ScanDigestTable) rather than the databases.
  int scan_digested = 0;
  int64_t count() const { return static_cast<int64_t>(differences.size()) + spilled; }
};

struct Report {
  std::vector<TableResult> tables;
  int64_t differences = 0;
  int64_t transient = 0;  // differences that went away on re-check (writes in flight)
  int rechecks = 0;
  double seconds = 0;
  nlohmann::json ToJson() const;
};

// The most rows verify compares as one range: the keys and row hashes of both sides of a
// range are held in memory while it is compared (decisions.md, "Verify"), so ranges stay this
// small even when the backfill's chunks (options.chunk_rows) are larger.
inline constexpr int64_t kMaxRangeRows = 50000;
// Where a table is digested in the database, its ranges are first digested in groups of
// consecutive ranges of about this many rows: a table digested whole is read the way a
// server reads a table fastest (PostgreSQL: a sequential scan, in parallel workers, through a
// small ring of buffers), where a query a range of 50,000 rows went through the index and
// the shared buffers (verify of 1,000,000 rows PostgreSQL -> PostgreSQL: 1.0-1.2 s against
// 2.4-3.0 s). Only a group whose digests differ is digested range by range.
inline constexpr int64_t kDigestGroupRows = 5'000'000;

struct Options {
  int64_t range_rows = kMaxRangeRows;
  size_t batch_rows = 10000;
  size_t batch_bytes = kDefaultBatchBytes;
  // Ranges compared at once, each job with a source and a target connection (the first job on
  // the Verifier's own, the others from open_source / open_target).
  int jobs = 1;
  std::function<Result<std::unique_ptr<Engine>>()> open_source, open_target;
  // Differences kept in memory over the whole run; past it they go to the state store and
  // are counted, not re-checked (a difference spilled is reported as lasting).
  size_t max_listed = 10000;
  int max_rechecks = 5;
  // Ranges of a table whose mapping is the identity on one engine are first compared by
  // digests computed in both databases (Engine::DigestRange), those of other tables of more
  // than one range by digests tandem computes from one scan of each side (ScanDigestTable);
  // only ranges whose digests differ are read row by row. False: every range row by row.
  bool digests = true;
  // Brings the change stream up to the writes made so far; called before each re-check.
  std::function<Status()> catch_up;
  // Progress: the source table and the rows of it read so far in the first pass (a range
  // compared, or the rows of a table's one scan as they come): a table's first rows at once,
  // then at most about four times a second over all tables. Called from the jobs' threads,
  // one at a time.
  std::function<void(const std::string& table, int64_t rows_read)> progress;
  // A range (or a re-check) cut short by a lost connection is compared again after the lost
  // side reconnects; each attempt is told to `on_reconnect`.
  Backoff backoff{};
  ReconnectObserver on_reconnect{};
};

class Verifier {
 public:
  // REQUIRES: every argument outlives the Verifier.
  Verifier(const std::vector<mapping::TableTransform>& tables, Engine& source, Engine& target,
           state::StateStore& state, Options options);

  // Verifies every table; differences that disappear after the stream catches up are counted
  // as transient, not reported.
  Result<Report> Run();

 private:
  // One job's connections: used by one thread at a time.
  struct Sides {
    Sides() = default;
    Sides(Engine* s, Engine* t) : source(s), target(t) {}
    Engine* source = nullptr;
    Engine* target = nullptr;
    std::unique_ptr<Engine> own_source, own_target;
    // Kept from range to range: rows read into them refill their Values' buffers
    // (ScanRequest::spare_rows), where batches made anew each range built every row again.
    struct Buffers {
      std::vector<Row> batch, spare;
    } source_rows, target_rows;
  };
  // A job's streamed scan of `t`'s mapped columns on the source (target) side, refilling the
  // job's spare rows: in `key` order within `range`, or with no key the table whole, unordered.
  Result<std::unique_ptr<RowReader>> ScanSource(Sides& sides, const mapping::TableTransform& t,
                                                const std::vector<std::string>& key,
                                                const KeyRange& range) const;
  Result<std::unique_ptr<RowReader>> ScanTarget(Sides& sides, const mapping::TableTransform& t,
                                                const std::vector<std::string>& key,
                                                const KeyRange& range) const;
  // Compares one range of a keyed table. The two sides are read at once (the source on a
  // thread of its own), each row hashed as it arrives; only keys and hashes are kept, so memory
  // is bounded by the range's row count whatever the row size. Rows whose hashes differ are
  // read again by key to name the differing fields.
  Status CompareRange(Sides& sides, const mapping::TableTransform& t, const KeyRange& range,
                      const std::set<std::string>& rejected_keys, TableResult& out);
  // CompareRange, preceded by a digest of the range on both sides at once (`columns`: the
  // source columns of an identity mapping): equal digests give the range's counts without
  // reading a row; differing ones (a difference, or writes in flight) the row-by-row compare.
  Status DigestOrCompareRange(Sides& sides, const mapping::TableTransform& t,
                              const std::vector<std::string>& columns, const KeyRange& range,
                              const std::set<std::string>& rejected_keys, TableResult& out);
  // Consecutive ranges digested as one (one scan a side instead of one a range); when the two
  // digests differ, each range on its own (DigestOrCompareRange).
  Status DigestGroup(Sides& sides, const mapping::TableTransform& t,
                     const std::vector<std::string>& columns, const std::vector<KeyRange>& parts,
                     const std::set<std::string>& rejected_keys, TableResult& out);
  // Every range of a keyed table compared by digests tandem computes while it reads each side
  // whole, at once (one unordered scan a side: a server reads the table the way it reads
  // fastest, where a query a range made PostgreSQL walk the index): each row is mapped and
  // hashed as the row-by-row compare hashes it, and its hash added to its range's sums. Ranges
  // whose sums or counts differ (a difference, a row that cannot land, a write between the
  // two scans) are compared row by row (CompareRange). `told`: the source rows it told
  // progress of (Read), which an attempt done again after a reconnect takes back.
  Status ScanDigestTable(Sides& sides, const mapping::TableTransform& t,
                         const std::vector<KeyRange>& ranges,
                         const std::set<std::string>& rejected_keys, TableResult& out,
                         int64_t& told);
  // Both sides' digests of `range`, computed at once.
  Result<std::pair<Engine::RangeDigest, Engine::RangeDigest>> DigestBoth(
      Sides& sides, const mapping::TableTransform& t, const std::vector<std::string>& columns,
      const KeyRange& range);
  // The source columns to digest `t` by, or nullopt when its ranges are compared row by row:
  // the mapping is not the identity, a source row is a reject (its target row, if any, must be
  // reported extra), or the engines do not offer digests of the same form for both tables.
  Result<std::optional<std::vector<std::string>>> DigestColumns(
      const mapping::TableTransform& t, const std::set<std::string>& rejected_keys);
  // A table without a key: both sides as multisets of rows (counts by row hash, in hash
  // partitions of bounded size), the differing rows listed once per missing or extra copy.
  Status CompareMultiset(Sides& sides, const mapping::TableTransform& t,
                         const std::set<std::string>& rejected_keys, TableResult& out);
  // The keyless re-check: the copies of each differing row counted again on both sides.
  Result<std::vector<Difference>> RecheckImages(Sides& sides, const mapping::TableTransform& t,
                                                const std::vector<Difference>& diffs,
                                                const std::set<std::string>& rejected_keys);
  // Re-reads both sides for the keys of `diffs` (a few keys per read, so a read stays small
  // whatever the row size); returns the differences that remain.
  Result<std::vector<Difference>> Recheck(Sides& sides, const mapping::TableTransform& t,
                                          const std::vector<Difference>& diffs,
                                          const std::set<std::string>& rejected_keys);
  Result<std::vector<Difference>> RecheckSome(Sides& sides, const mapping::TableTransform& t,
                                              const std::vector<Difference>& diffs,
                                              const std::set<std::string>& rejected_keys);
  Result<std::set<std::string>> RejectedKeys(const mapping::TableTransform& t);
  // Each job reads a batch on each side at a time: its share of kBatchMemory, at most
  // batch_bytes.
  size_t BatchBytes() const {
    size_t share = kBatchMemory / (static_cast<size_t>(std::max(options_.jobs, 1)) * 2);
    return std::min(options_.batch_bytes, std::max<size_t>(share, 64 << 10));
  }
  // Runs a unit of reads again after reconnecting, while it fails with kUnavailable.
  Status Reconnecting(Sides& sides, const std::function<Status()>& unit);
  // Counts `rows` more read of table `t` (fewer, when negative) and tells options_.progress
  // when it is due, or at once when `now`.
  void Read(const mapping::TableTransform& t, int64_t rows, bool now = false);
  // Adds a compared range to its table's result: counts, and differences kept in memory while
  // fewer than max_listed are, spilled to the state store after. REQUIRES: mu_ held.
  Status Merge(TableResult& into, TableResult& part);

  const std::vector<mapping::TableTransform>& tables_;
  Engine& source_;
  Engine& target_;
  state::StateStore& state_;
  Options options_;
  size_t listed_ = 0;  // GUARDED_BY(mu_): differences kept in memory so far
  std::mutex mu_;      // guards the results while jobs compare ranges
  std::mutex progress_mu_;
  std::map<std::string, int64_t> read_;  // GUARDED_BY(progress_mu_): rows read a table
  std::chrono::steady_clock::time_point told_{};  // GUARDED_BY(progress_mu_)
};

}  // namespace tandem::verify
