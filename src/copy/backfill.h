// Backfill: copies every mapped table in resumable key-range chunks, keeping rows that cannot
// land as rejects with their reason, so that source = target + rejected for every chunk.
#pragma once

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "engines/reconnect.h"
#include "mapping/transform.h"
#include "state/state_store.h"
#include "tandem/engine.h"

namespace tandem::copy {

template <typename T>
class BatchQueue;

struct TableReport {
  std::string source_table, target_table;
  int64_t source_rows = 0;  // rows read from the source by the chunks
  int64_t written = 0;
  int64_t rejected = 0;
  double seconds = 0;       // this run's copy time for the table
  bool passthrough = false; // its chunks went through the engines' raw path (see Run)
};

// Told what the backfill is doing; implemented by the caller (terminal bar, JSON lines).
class Progress {
 public:
  virtual ~Progress() = default;
  virtual void TableStarted(std::string_view table, int64_t total_rows, int chunks) = 0;
  virtual void Advanced(std::string_view table, int64_t rows_done, int64_t rejected) = 0;
  virtual void TableFinished(const TableReport& report) = 0;
  // Job `job` (0-based, of `jobs`) starts copying chunk `chunk` of `table`'s `chunks`; several
  // jobs copy at once with --jobs. Calls come from the jobs' threads, one at a time.
  virtual void ChunkStarted(int job, int jobs, std::string_view table, int chunk, int chunks) {}
  // Job `job` has nothing left to copy.
  virtual void JobIdle(int job) {}
  // How `table`'s chunks are copied, said once per run for a table whose source and target
  // are the same engine: passed through in the engines' raw form, or decoded and mapped, and
  // `why` not (docs/decisions.md, "Pass-through").
  virtual void CopyPath(std::string_view table, bool passthrough, std::string_view why) {}
  // Chunk `chunk` of `table` was refused by the target on the raw path (`why`: the server's
  // words) and is copied again through the decoded path, which finds and keeps the rejects.
  virtual void ChunkFellBack(std::string_view table, int chunk, std::string_view why) {}
};

// A mapped index, check or foreign key that could not be built on the target.
struct ObjectFailure {
  std::string table;   // target table
  std::string kind;    // "index", "unique index", "check", "foreign key"
  std::string object;  // its name in the mapping
  std::string error;   // the server's words, with sample colliding or orphan keys
};

// The state store key holding the failures of the last build pass: a JSON array of
// {"table", "kind", "object", "error"}; "[]" when everything is built. `switch reads` refuses
// while an object listed there is still in the mapping.
inline constexpr std::string_view kSchemaFailuresKey = "schema.failed";

// Opens one more connection to a side, set up like the first (for a job of its own).
using EngineOpener = std::function<Result<std::unique_ptr<Engine>>()>;

struct BackfillOptions {
  int64_t chunk_rows = mapping::kDefaultChunkRows;
  size_t batch_rows = 10000;
  size_t batch_bytes = kDefaultBatchBytes;  // a batch ends at batch_rows or batch_bytes
  // Chunks copied at once (--jobs), each job with a source and a target connection of its own
  // from open_source / open_target; 1 copies on the two connections given to the Backfill.
  int jobs = 1;
  EngineOpener open_source, open_target;
  int max_retries = 5;  // for aborted (busy, deadlock) chunks
  // A chunk that fails with kUnavailable is redone after the lost side reconnects.
  Backoff backoff{};
  ReconnectObserver on_reconnect{};  // each attempt (the caller emits the event)
};

class Backfill {
 public:
  // REQUIRES: every argument outlives the Backfill.
  Backfill(const std::vector<mapping::TableTransform>& tables, Engine& source, Engine& target,
           state::StateStore& state, Progress& progress, BackfillOptions options);
  ~Backfill();

  // Creates the target tables that do not exist yet, from the mapping.
  Status PrepareTargets();

  // Plans chunks for tables that have no plan yet (stored, so a re-run resumes).
  Status Plan();

  // Copies every chunk not done yet, `options.jobs` at a time (tables, and the chunks of one
  // table, at once). After each chunk, `between_chunks` (if set) runs on this thread: the
  // change stream uses it to apply what changed meanwhile, through ChunkDone, while the other
  // jobs go on copying. Objects of a table are built (on the target given to the Backfill) once
  // its last chunk is in. On failure, the jobs still copying finish their chunk, and the first
  // error is returned.
  Result<std::vector<TableReport>> Run(const std::function<Status()>& between_chunks = {});

  // Called on Run's thread as each chunk is in the target (committed), with the number of
  // chunks of its table; it must return quickly (the next chunks wait for it).
  using ChunkIn = std::function<void(const mapping::TableTransform& t, const state::Chunk& chunk,
                                     int chunks)>;
  void OnChunkIn(ChunkIn f) { chunk_in_ = std::move(f); }

  // Builds every mapped object of every table that is not on the target yet (a re-run after
  // the backfill: what failed before is tried again), then records the failures.
  Status BuildAllObjects();
  // The failures of the last build (Run or BuildAllObjects); the rest was built.
  const std::vector<ObjectFailure>& object_failures() const { return failures_; }

  // True when the chunk holding `key` of source `table` is already copied (changes to it must
  // be applied); false when it is not started yet (its copy will read the newest row). When a
  // job is copying that chunk, waits until the chunk is done (true) or given up (false: the
  // chunk is copied again later, so it reads the newest row then). Thread-safe.
  bool ChunkDone(std::string_view table, const Row& key);
  bool AllDone() const;

 private:
  // How a table's chunks pass through, if they do (ChooseRawPath).
  enum class RawPath {
    kNone,      // decoded and mapped
    kStream,    // Engine::ScanRaw into Engine::WriteRaw
    kAttached,  // the target reads the source itself (Engine::CopyFromAttached)
  };
  struct TablePlan {
    const mapping::TableTransform* transform;
    std::vector<state::Chunk> chunks;
    int64_t rows = -1;  // source rows estimated when planning (-1: plan read back)
    // Chunks go through the engines' raw path (ChooseRawPath); set before the jobs start.
    RawPath raw = RawPath::kNone;
  };
  // One batch on its way from the reading thread to the writing one.
  struct Piece {
    std::vector<Row> in;         // source rows (kept for rejects found by the target)
    std::vector<Row> out;        // mapped rows
    std::vector<size_t> origin;  // out[i] came from in[origin[i]]
    std::vector<state::Reject> rejects;
  };
  // Batches alive per job at most (see OpenJobs), for its share of kBatchMemory.
  static constexpr size_t kPiecesPerJob = 5;
  // The engine caches (SQLite's page cache) of all jobs' connections together, per side.
  static constexpr size_t kJobCache = 32u << 20;
  struct ChunkRead;
  // One job: a source and a target connection (the Backfill's own with one job), and the
  // spare pieces of its chunks. Used by one thread at a time, but for `ahead`, which the
  // thread reading the job's current chunk sets once that read is over.
  struct Job {
    int id = 0;
    Engine* source = nullptr;
    Engine* target = nullptr;
    std::unique_ptr<Engine> own_source, own_target;
    // Read-ahead (ReadAhead): the next chunk, already being read on the job's second source
    // connection while the current chunk's last batches are written. Taking it up swaps the
    // two source connections. Null when the run does not read ahead.
    Engine* ahead_source = nullptr;
    std::unique_ptr<Engine> own_ahead;
    std::mutex ahead_mu;                  // guards ahead and the two source pointers' swap
    std::unique_ptr<ChunkRead> ahead;     // GUARDED_BY(ahead_mu)
    ~Job();
    // Written pieces travel back to the reader, which refills them, from one chunk to the
    // next: their rows and values keep their buffers, and memory is allocated and freed on
    // one thread (malloc and free across threads were a third of a copy's CPU before).
    std::unique_ptr<BatchQueue<Piece>> spare;
  };
  // A chunk a job finished (or failed), for the coordinator.
  struct Finished {
    size_t plan = 0, chunk = 0;
    Status status;
  };
  // `read`: the chunk's read, already started (read ahead); null to start one.
  Status CopyChunk(Job& job, const mapping::TableTransform& t, state::Chunk& chunk,
                   bool isolate_rows, std::unique_ptr<ChunkRead> read);
  // Starts reading chunk `c` of `t` on `source`: a thread scans and maps its batches into the
  // read's queue, and once the scan is over reads the job's next chunk ahead (ReadAhead). A
  // scan that cannot start is a read with that status and no batches.
  std::unique_ptr<ChunkRead> StartRead(Job& job, Engine& source, const mapping::TableTransform& t,
                                       const state::Chunk& c);
  // Takes the next chunk, if it is on the decoded path, and starts reading it on the job's
  // second source connection (Job::ahead), so that its first batches are mapped while the
  // target still takes the current chunk's last ones and commits (docs/decisions.md).
  void ReadAhead(Job& job);
  // Stops the job's read-ahead, once the run has stopped, and puts its chunk back to copy in
  // a later run.
  void DropAhead(Job& job);
  // The same chunk rule with the rows passed through as the source engine's raw bulk form
  // (Engine::ScanRaw into Engine::WriteRaw), or copied by the target from the attached source
  // (Engine::CopyFromAttached), nothing decoded. On failure the target transaction is rolled
  // back and nothing of the chunk is recorded.
  Status CopyChunkRaw(Job& job, const mapping::TableTransform& t, state::Chunk& chunk,
                      RawPath path);
  // Whether `t`'s chunks can pass through, and how: the mapping is the identity, both
  // engines offer a raw form for its columns and describe them alike, and the rows can
  // travel (a stream, or the target attaching the source). Says it through Progress.
  Result<RawPath> ChooseRawPath(const mapping::TableTransform& t);
  // Takes the next pending chunk (under mu_), copies it and reports it to finished_. False
  // when nothing is left to take or the run stops.
  bool CopyNext(Job& job);
  // Builds the objects of the tables in `loaded` not tried yet: indexes and checks of a loaded
  // table, foreign keys once the table they reference is loaded too (or is not copied here).
  // A failure is recorded, not returned; a lost connection is returned.
  Status BuildObjects(const std::set<std::string>& loaded);
  Status SaveFailures();
  // `raw`: try that raw path first (a chunk it fails for is copied through the decoded one).
  Status CopyChunkWithRetry(Job& job, const mapping::TableTransform& t, state::Chunk& chunk,
                            RawPath raw, std::unique_ptr<ChunkRead> read);
  Result<std::vector<std::unique_ptr<Job>>> OpenJobs(int n);

  const std::vector<mapping::TableTransform>& tables_;
  Engine& source_;
  Engine& target_;
  state::StateStore& state_;
  Progress& progress_;
  BackfillOptions options_;
  std::vector<TablePlan> plans_;
  std::set<std::pair<std::string, std::string>> tried_;  // (target table, object name)
  std::vector<ObjectFailure> failures_;
  ChunkIn chunk_in_;

  // The run's schedule, shared by the jobs and the coordinator (Run's thread).
  std::mutex mu_;
  std::condition_variable changed_;  // a chunk was taken or finished, or the run stops
  std::vector<std::pair<size_t, size_t>> order_;  // (plan, chunk) to copy, in plan order
  size_t next_ = 0;             // GUARDED_BY(mu_): order_[next_] is the next chunk to take
  bool stop_ = false;           // GUARDED_BY(mu_): take no more chunks
  std::vector<Finished> finished_;  // GUARDED_BY(mu_): not yet seen by the coordinator
  // plans_[].chunks[].status and counts are GUARDED_BY(mu_) while Run runs.
  std::mutex progress_mu_;  // one Progress call at a time
  int jobs_ = 1;            // jobs of the current Run (fewer than asked when fewer chunks)
  // Whether the job of this Run reads ahead: one job only, and not when it copies on the
  // thread that applies changes between chunks (see Run).
  bool read_ahead_ = false;
};

}  // namespace tandem::copy
