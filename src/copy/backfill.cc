#include "copy/backfill.h"

#include <chrono>
#include <thread>

#include "copy/batch_queue.h"

#include "core/row_json.h"

#include <nlohmann/json.hpp>

namespace tandem::copy {

namespace {

// Source row `in` of chunk `chunk` of `t`, which did not land, for the reject store.
state::Reject RejectOf(const mapping::TableTransform& t, int chunk, const Row& in,
                       mapping::Refusal& why) {
  return state::Reject{t.source_table(), chunk, t.SourceKey(in), std::move(why.message),
                       RowToReadableJson(in, t.source_columns()).dump(), "", std::move(why.rule),
                       std::string(ProblemName(why.problem))};
}

}  // namespace

// A chunk being read: the source scan, and the thread that maps its batches into `queue` for
// the thread that writes them.
struct Backfill::ChunkRead {
  size_t plan = 0, chunk = 0;  // plans_[plan].chunks[chunk] (set for a read ahead)
  BatchQueue<Piece> queue{1};
  std::unique_ptr<RowReader> reader;
  // The scan's status and the source rows read: final once the queue is closed.
  Status status = Ok();
  int64_t read = 0;
  std::thread thread;
  // Waits for the thread, telling it first that no more batches are wanted.
  void Stop() {
    queue.Close();
    if (thread.joinable()) thread.join();
  }
  ~ChunkRead() { Stop(); }
};

// The read ahead first: its thread uses the job's spare pieces and second connection.
Backfill::Job::~Job() { ahead.reset(); }

Backfill::Backfill(const std::vector<mapping::TableTransform>& tables, Engine& source,
                   Engine& target, state::StateStore& state, Progress& progress,
                   BackfillOptions options)
    : tables_(tables),
      source_(source),
      target_(target),
      state_(state),
      progress_(progress),
      options_(std::move(options)) {}

Backfill::~Backfill() = default;

Status Backfill::PrepareTargets() {
  for (const auto& t : tables_) {
    if (t.target_exists()) continue;
    if (auto st = target_.CreateTable(t.planned_target()); !st) {
      return std::unexpected(st.error().Context(fmt::format("create target table {}", t.target_table())));
    }
  }
  return Ok();
}

Status Backfill::Plan() {
  plans_.clear();
  for (const auto& t : tables_) {
    TANDEM_ASSIGN_OR_RETURN(auto chunks, state_.Chunks(t.source_table()));
    int64_t rows = -1;
    if (chunks.empty()) {
      // The first and last chunks are open-ended: a key inserted outside the range seen now
      // still belongs to a chunk.
      TANDEM_ASSIGN_OR_RETURN(rows, source_.EstimateRows(t.source_table(), t.source_scan_key()));
      std::vector<KeyRange> ranges{KeyRange{}};
      if (t.key_ranges_portable()) {
        int n = static_cast<int>(std::max<int64_t>(1, (rows + options_.chunk_rows - 1) / options_.chunk_rows));
        TANDEM_ASSIGN_OR_RETURN(auto bounds, source_.Split(t.source_table(), t.source_key(), n));
        ranges = RangesBetween(bounds);
      }
      for (size_t i = 0; i < ranges.size(); ++i) {
        state::Chunk c;
        c.table = t.source_table();
        c.index = static_cast<int>(i);
        c.range = std::move(ranges[i]);
        chunks.push_back(std::move(c));
      }
      TANDEM_RETURN_IF_ERROR(state_.SaveChunkPlan(t.source_table(), chunks));
    }
    plans_.push_back({&t, std::move(chunks), rows});
  }
  return Ok();
}

bool Backfill::ChunkDone(std::string_view table, const Row& key) {
  std::unique_lock lock(mu_);
  for (const auto& p : plans_) {
    if (p.transform->source_table() != table) continue;
    for (const auto& c : p.chunks) {
      if (!c.range.Contains(key)) continue;
      // A chunk a job is copying: the change waits until the chunk is written (DESIGN.md, the
      // chunk rule). Applied before, the chunk's commit could put an older row back; dropped,
      // it would be lost if the chunk's read had passed the key already.
      changed_.wait(lock, [&] { return c.status != state::ChunkStatus::kCopying; });
      return c.status == state::ChunkStatus::kDone;
    }
  }
  return true;  // not a backfilled table: apply
}

bool Backfill::AllDone() const {
  for (const auto& p : plans_) {
    for (const auto& c : p.chunks) {
      if (c.status != state::ChunkStatus::kDone) return false;
    }
  }
  return true;
}

Status Backfill::BuildObjects(const std::set<std::string>& loaded) {
  std::set<std::string> copied;
  for (const auto& t : tables_) copied.insert(t.target_table());
  for (const auto& t : tables_) {
    if (!loaded.contains(t.target_table())) continue;
    for (const auto& o : ObjectsOf(t.planned_target())) {
      if (o.kind == SchemaObject::Kind::kForeignKey &&
          copied.contains(o.foreign_key.ref_table) && !loaded.contains(o.foreign_key.ref_table)) {
        continue;  // its parent's rows are not in yet
      }
      if (!tried_.emplace(t.target_table(), o.name()).second) continue;
      auto st = target_.BuildObject(t.planned_target(), o);
      if (st) continue;
      if (st.error().code == Code::kUnavailable) {
        tried_.erase({t.target_table(), o.name()});
        return st;
      }
      failures_.push_back({t.target_table(), std::string(o.KindName()), o.name(), st.error().message});
    }
  }
  return Ok();
}

Status Backfill::SaveFailures() {
  nlohmann::json j = nlohmann::json::array();
  for (const auto& f : failures_) {
    j.push_back({{"table", f.table}, {"kind", f.kind}, {"object", f.object}, {"error", f.error}});
  }
  return state_.Put(kSchemaFailuresKey, j.dump());
}

Status Backfill::BuildAllObjects() {
  tried_.clear();
  failures_.clear();
  std::set<std::string> all;
  for (const auto& t : tables_) all.insert(t.target_table());
  const Side sides[] = {{"target", &target_}};
  TANDEM_RETURN_IF_ERROR(RunReconnecting([&] { return BuildObjects(all); }, sides,
                                         options_.backoff, options_.on_reconnect));
  return SaveFailures();
}

Result<std::vector<std::unique_ptr<Backfill::Job>>> Backfill::OpenJobs(int n) {
  std::vector<std::unique_ptr<Job>> jobs;
  for (int i = 0; i < n; ++i) {
    auto job = std::make_unique<Job>();
    job->id = i;
    // Pieces alive per job (kPiecesPerJob): the one the reader fills, the one queued, the one
    // the writer writes, and a spare; with read-ahead, the next chunk's reader fills one and
    // queues one while the writer still writes the current chunk's last. The spares hold
    // them all: with room for one, a piece the writer finished while the spare was taken was
    // freed and the reader's next one built afresh, rows and values allocated again (about 15
    // pieces of 10,000 rows in a 1M-row copy, a seventh of tandem's CPU in malloc and page
    // faults).
    job->spare = std::make_unique<BatchQueue<Piece>>(kPiecesPerJob);
    if (n == 1) {
      job->source = &source_;
      job->target = &target_;
    } else {
      if (!options_.open_source || !options_.open_target) {
        return Fail(Code::kInternal, "backfill: {} jobs need a way to open connections", n);
      }
      TANDEM_ASSIGN_OR_RETURN(job->own_source, options_.open_source());
      TANDEM_ASSIGN_OR_RETURN(job->own_target, options_.open_target());
      // A share of one connection's cache each, so memory does not grow with the jobs.
      TANDEM_RETURN_IF_ERROR(job->own_source->LimitCache(kJobCache / static_cast<size_t>(n)));
      TANDEM_RETURN_IF_ERROR(job->own_target->LimitCache(kJobCache / static_cast<size_t>(n)));
      job->source = job->own_source.get();
      job->target = job->own_target.get();
    }
    if (read_ahead_) {
      // A connection the source refuses (a role's connection limit) only leaves the job
      // without reading ahead.
      auto ahead = options_.open_source();
      if (ahead && (*ahead)->LimitCache(kJobCache / static_cast<size_t>(n))) {
        job->own_ahead = std::move(*ahead);
        job->ahead_source = job->own_ahead.get();
      }
    }
    jobs.push_back(std::move(job));
  }
  return jobs;
}

bool Backfill::CopyNext(Job& job) {
  size_t pi, ci;
  state::Chunk chunk;
  std::unique_ptr<ChunkRead> read;
  {
    std::lock_guard ahead_lock(job.ahead_mu);
    std::lock_guard lock(mu_);
    if (job.ahead) {
      // The chunk read ahead, on the second source connection, which becomes the job's. It
      // was taken already, so it is copied even when the run stops, as a chunk being copied
      // is finished.
      read = std::move(job.ahead);
      std::swap(job.source, job.ahead_source);
      pi = read->plan;
      ci = read->chunk;
    } else {
      if (stop_ || next_ == order_.size()) return false;
      std::tie(pi, ci) = order_[next_++];
      plans_[pi].chunks[ci].status = state::ChunkStatus::kCopying;
    }
    chunk = plans_[pi].chunks[ci];
  }
  changed_.notify_all();
  const auto& t = *plans_[pi].transform;
  {
    std::lock_guard lock(progress_mu_);
    progress_.ChunkStarted(job.id, jobs_, t.source_table(), chunk.index,
                           static_cast<int>(plans_[pi].chunks.size()));
  }
  Status st = CopyChunkWithRetry(job, t, chunk, plans_[pi].raw, std::move(read));
  if (!st) {
    st = std::unexpected(st.error().Context(fmt::format("copy {} chunk {}", t.source_table(), chunk.index)));
    // Not copied: it stays to do (a later run copies it again). It is marked copying in the
    // state store, which a resume treats like pending.
    chunk.status = state::ChunkStatus::kPending;
  }
  {
    std::lock_guard lock(mu_);
    plans_[pi].chunks[ci] = chunk;
    finished_.push_back({pi, ci, st});
    if (!st) stop_ = true;
  }
  changed_.notify_all();
  return true;
}

void Backfill::ReadAhead(Job& job) {
  std::lock_guard ahead_lock(job.ahead_mu);
  if (!job.ahead_source || job.ahead) return;
  size_t pi, ci;
  state::Chunk chunk;
  {
    std::lock_guard lock(mu_);
    if (stop_ || next_ == order_.size()) return;
    std::tie(pi, ci) = order_[next_];
    if (plans_[pi].raw != RawPath::kNone) return;  // passed through: not read here
    ++next_;
    plans_[pi].chunks[ci].status = state::ChunkStatus::kCopying;
    chunk = plans_[pi].chunks[ci];
  }
  changed_.notify_all();
  job.ahead = StartRead(job, *job.ahead_source, *plans_[pi].transform, chunk);
  job.ahead->plan = pi;
  job.ahead->chunk = ci;
}

void Backfill::DropAhead(Job& job) {
  std::unique_ptr<ChunkRead> read;
  {
    std::lock_guard ahead_lock(job.ahead_mu);
    read = std::move(job.ahead);
  }
  if (!read) return;
  size_t pi = read->plan, ci = read->chunk;
  read.reset();  // stops its thread; the scan is given up
  {
    std::lock_guard lock(mu_);
    plans_[pi].chunks[ci].status = state::ChunkStatus::kPending;  // copied by a later run
  }
  changed_.notify_all();
}

std::unique_ptr<Backfill::ChunkRead> Backfill::StartRead(Job& job, Engine& source,
                                                         const mapping::TableTransform& t,
                                                         const state::Chunk& c) {
  auto r = std::make_unique<ChunkRead>();
  // Each piece holds a batch twice (source rows and mapped rows).
  size_t share = kBatchMemory / (static_cast<size_t>(jobs_) * kPiecesPerJob * 2);
  ScanRequest req{t.source_table(), t.source_columns(), t.source_scan_key(), c.range,
                  options_.batch_rows, /*exclusive=*/true,  // nothing else uses this connection
                  std::min(options_.batch_bytes, std::max<size_t>(share, 64 << 10))};
  auto reader = source.Scan(req);
  if (!reader) {
    r->status = std::unexpected(reader.error());
    r->queue.Close();
    return r;
  }
  r->reader = std::move(*reader);
  r->thread = std::thread([this, &job, &t, index = c.index, r = r.get()] {
    BatchQueue<Piece>& spare = *job.spare;
    Piece p;
    (void)spare.TryPop(p);
    mapping::Refusal why;
    bool given_up = false;
    while (r->reader->Next(p.in)) {
      p.origin.clear();
      p.rejects.clear();
      size_t k = 0;
      for (size_t i = 0; i < p.in.size(); ++i) {
        if (k == p.out.size()) p.out.emplace_back();
        if (t.Apply(p.in[i], p.out[k], why)) {
          p.origin.push_back(i);
          ++k;
        } else {
          p.rejects.push_back(RejectOf(t, index, p.in[i], why));
        }
      }
      p.out.resize(k);
      r->read += static_cast<int64_t>(p.in.size());
      if (!r->queue.Push(std::move(p))) {  // the writer gave up
        given_up = true;
        break;
      }
      if (!spare.TryPop(p)) p = Piece();
    }
    r->status = r->reader->status();
    (void)spare.TryPush(p);  // its mapped rows keep their buffers for the next chunk
    r->queue.Close();
    // The scan is over while the writer still has this chunk's last batches to write and
    // commit: the next chunk's first ones can be read and mapped meanwhile.
    if (!given_up && r->status && read_ahead_) ReadAhead(job);
  });
  return r;
}

Result<std::vector<TableReport>> Backfill::Run(const std::function<Status()>& between_chunks) {
  std::vector<TableReport> reports(plans_.size());
  std::set<std::string> loaded;
  tried_.clear();
  failures_.clear();
  order_.clear();
  finished_.clear();
  next_ = 0;
  stop_ = false;
  // Per table: chunks still to copy, rows done, when its first chunk started.
  std::vector<size_t> left(plans_.size(), 0);
  std::vector<int64_t> done_rows(plans_.size(), 0), rejected(plans_.size(), 0);
  auto started = std::chrono::steady_clock::now();
  for (size_t pi = 0; pi < plans_.size(); ++pi) {
    auto& p = plans_[pi];
    const auto& t = *p.transform;
    reports[pi] = TableReport{t.source_table(), t.target_table()};
    int64_t total = 0;
    for (size_t ci = 0; ci < p.chunks.size(); ++ci) {
      const auto& c = p.chunks[ci];
      if (c.status != state::ChunkStatus::kDone) {
        order_.emplace_back(pi, ci);
        ++left[pi];
      } else {
        done_rows[pi] += c.rows_read;
        rejected[pi] += c.rows_rejected;
      }
    }
    if (left[pi] > 0) {
      total = p.rows;  // estimated when planning; a resumed plan estimates again
      if (total < 0) {
        TANDEM_ASSIGN_OR_RETURN(total, source_.EstimateRows(t.source_table(), t.source_scan_key()));
      }
    }
    progress_.TableStarted(t.source_table(), total, static_cast<int>(p.chunks.size()));
    if (left[pi] > 0) {
      TANDEM_ASSIGN_OR_RETURN(p.raw, ChooseRawPath(t));
      reports[pi].passthrough = p.raw != RawPath::kNone;
    }
  }
  // A table whose chunks are all in: its report, then its objects (indexes and foreign keys
  // are built after the rows are in, which loads faster; a foreign key waits for the table it
  // references). On the Backfill's own target connection, which no job uses with several jobs
  // and which the one job is not using between its chunks.
  auto table_done = [&](size_t pi) -> Status {
    auto& p = plans_[pi];
    auto& report = reports[pi];
    for (const auto& c : p.chunks) {
      report.source_rows += c.rows_read;
      report.written += c.rows_written;
      report.rejected += c.rows_rejected;
    }
    report.seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    {
      std::lock_guard lock(progress_mu_);
      progress_.TableFinished(report);
    }
    loaded.insert(p.transform->target_table());
    const Side sides[] = {{"target", &target_}};
    return RunReconnecting([&] { return BuildObjects(loaded); }, sides, options_.backoff,
                           options_.on_reconnect);
  };
  for (size_t pi = 0; pi < plans_.size(); ++pi) {
    if (left[pi] == 0) TANDEM_RETURN_IF_ERROR(table_done(pi));
  }

  int n = static_cast<int>(std::clamp<size_t>(static_cast<size_t>(std::max(options_.jobs, 1)), 1,
                                              std::max<size_t>(order_.size(), 1)));
  jobs_ = n;
  // One job reads its next chunk ahead (the gap between chunks is the one time the target
  // waits for the source; with several jobs another job's chunk fills it). Not when it copies
  // on the thread that applies changes between chunks: the change stream waits there for
  // chunks being copied, as a chunk read ahead is.
  read_ahead_ = n == 1 && !between_chunks && options_.open_source &&
                std::any_of(plans_.begin(), plans_.end(), [](const TablePlan& p) {
                  return p.raw == RawPath::kNone;
                });
  TANDEM_ASSIGN_OR_RETURN(auto jobs, OpenJobs(n));
  // One job writes through the Backfill's own target connection, the only writer of the
  // target while the run lasts: it may load in bulk (Engine::BeginBulkLoad; SQLite leaves WAL)
  // until the run ends, whichever way it ends.
  struct BulkLoad {
    Engine* target = nullptr;
    ~BulkLoad() {
      if (target) (void)target->EndBulkLoad();
    }
  } bulk;
  if (n == 1 && !order_.empty()) {
    TANDEM_ASSIGN_OR_RETURN(bool began, target_.BeginBulkLoad());
    if (began) bulk.target = &target_;
  }
  std::vector<std::thread> threads;
  if (n > 1) {
    for (auto& job : jobs) {
      threads.emplace_back([this, j = job.get()] {
        while (CopyNext(*j)) {
        }
        std::lock_guard lock(progress_mu_);
        progress_.JobIdle(j->id);
      });
    }
  }
  // The coordinator: sees each finished chunk, reports it, applies changes between chunks and
  // builds the objects of finished tables. With one job it copies the chunks itself.
  Status failure = Ok();
  size_t seen = 0;
  auto stop = [&](Status st) {
    if (failure) failure = std::move(st);
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    changed_.notify_all();
  };
  while (seen < order_.size()) {
    std::vector<Finished> batch;
    if (n == 1) {
      if (!failure || !CopyNext(*jobs[0])) break;
    }
    {
      std::unique_lock lock(mu_);
      changed_.wait(lock, [&] { return !finished_.empty() || (stop_ && next_ == seen); });
      batch.swap(finished_);
      if (batch.empty()) break;  // stopped, and nothing more will finish
    }
    for (auto& f : batch) {
      ++seen;
      if (!f.status) {
        stop(std::move(f.status));
        continue;
      }
      const auto& c = plans_[f.plan].chunks[f.chunk];
      if (chunk_in_) {
        chunk_in_(*plans_[f.plan].transform, c, static_cast<int>(plans_[f.plan].chunks.size()));
      }
      done_rows[f.plan] += c.rows_read;
      rejected[f.plan] += c.rows_rejected;
      {
        std::lock_guard lock(progress_mu_);
        progress_.Advanced(plans_[f.plan].transform->source_table(), done_rows[f.plan],
                           rejected[f.plan]);
      }
      if (failure && --left[f.plan] == 0) {
        if (auto st = table_done(f.plan); !st) stop(std::move(st));
      }
    }
    if (failure && between_chunks) {
      if (auto st = between_chunks(); !st) stop(std::move(st));
    }
    {
      std::lock_guard lock(mu_);
      // Stopped: wait only for the chunks taken already.
      if (stop_ && seen == next_) break;
    }
  }
  stop(Ok());
  for (auto& th : threads) th.join();
  for (auto& job : jobs) DropAhead(*job);  // a chunk read ahead when the run stopped
  if (!failure) return std::unexpected(failure.error());
  if (bulk.target) {
    bulk.target = nullptr;
    TANDEM_RETURN_IF_ERROR(target_.EndBulkLoad());
  }
  TANDEM_RETURN_IF_ERROR(SaveFailures());
  return reports;
}

Result<Backfill::RawPath> Backfill::ChooseRawPath(const mapping::TableTransform& t) {
  if (source_.kind() != target_.kind()) return RawPath::kNone;  // no raw form in common
  auto say = [&](RawPath raw, std::string_view why) {
    std::lock_guard lock(progress_mu_);
    progress_.CopyPath(t.source_table(), raw != RawPath::kNone, why);
    return raw;
  };
  if (!t.identity()) return say(RawPath::kNone, t.identity_why());
  TANDEM_ASSIGN_OR_RETURN(RawShape from, source_.RawShapeOf(t.source_table(), t.source_columns()));
  if (from.format.empty()) return say(RawPath::kNone, "source " + from.why);
  TANDEM_ASSIGN_OR_RETURN(RawShape to, target_.RawShapeOf(t.target_table(), t.target_columns()));
  if (to.format.empty()) return say(RawPath::kNone, "target " + to.why);
  if (from.format != to.format) {
    return say(RawPath::kNone,
               fmt::format("the columns are declared differently: source {}, target {}",
                           from.format, to.format));
  }
  // Tried on the Backfill's own connection; each chunk attaches again on its job's (a chunk
  // holds the source attached only while it copies).
  TANDEM_ASSIGN_OR_RETURN(bool attaches, target_.AttachSource(source_));
  if (attaches) TANDEM_RETURN_IF_ERROR(target_.DetachSource());
  if (!attaches && !from.stream) {
    return say(RawPath::kNone, fmt::format("the target cannot attach the source ({})",
                                           source_.Describe()));
  }
  // The form's name, without the column list (which the user has in the mapping).
  return say(attaches ? RawPath::kAttached : RawPath::kStream,
             fmt::format("{} columns declared alike, {}", t.source_columns().size(),
                         from.format.substr(0, from.format.find(';'))));
}

Status Backfill::CopyChunkWithRetry(Job& job, const mapping::TableTransform& t, state::Chunk& c,
                                    RawPath raw, std::unique_ptr<ChunkRead> read) {
  TANDEM_RETURN_IF_ERROR(state_.MarkCopying(c.table, c.index));
  c.status = state::ChunkStatus::kCopying;
  bool isolate = false;
  auto copy = [&]() -> Status {
    for (int attempt = 0;; ++attempt) {
      // A read started ahead serves the first attempt; another attempt reads again.
      auto st = raw != RawPath::kNone ? CopyChunkRaw(job, t, c, raw)
                                      : CopyChunk(job, t, c, isolate, std::move(read));
      if (st) return st;
      // The target refused the raw rows (a duplicate key, a check, a value its type refuses):
      // the decoded path copies the chunk again and keeps the refused rows as rejects. A lost
      // connection (redone by RunReconnecting) and an aborted transaction (retried) are not
      // refusals: the chunk stays on the raw path.
      if (raw != RawPath::kNone && st.error().code != Code::kUnavailable &&
          st.error().code != Code::kAborted) {
        raw = RawPath::kNone;
        std::lock_guard lock(progress_mu_);
        progress_.ChunkFellBack(t.source_table(), c.index, st.error().message);
        continue;
      }
      // The target refused some row of the batch: redo the chunk row by row so that only the
      // refused rows become rejects, each with the target's own words.
      if (st.error().code == Code::kInvalidArgument && !isolate) {
        isolate = true;
        continue;
      }
      if (st.error().code == Code::kAborted && attempt < options_.max_retries) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100 << attempt));
        continue;
      }
      return st;
    }
  };
  // A chunk is one target transaction that makes its range equal to what it read, so a chunk
  // cut short by a lost connection is simply copied again once the connection is back.
  const Side sides[] = {{"source", job.source}, {"target", job.target}};
  return RunReconnecting(copy, sides, options_.backoff, options_.on_reconnect);
}

Status Backfill::CopyChunkRaw(Job& job, const mapping::TableTransform& t, state::Chunk& c,
                              RawPath path) {
  Engine& source = *job.source;
  Engine& target = *job.target;
  TANDEM_ASSIGN_OR_RETURN(KeyRange target_range, t.TargetRange(c.range));
  // The pieces are bounded like a batch: at most one is held, by the target while it sends.
  ScanRequest req{t.source_table(), t.source_columns(), t.source_scan_key(), c.range,
                  options_.batch_rows, /*exclusive=*/true,
                  std::min(options_.batch_bytes,
                           std::max<size_t>(kBatchMemory / (static_cast<size_t>(jobs_) * kPiecesPerJob * 2),
                                            64 << 10))};
  std::unique_ptr<RawReader> reader;
  if (path == RawPath::kStream) {
    TANDEM_ASSIGN_OR_RETURN(reader, source.ScanRaw(req));
  } else {
    // Attached for this chunk only, outside its transaction: nothing else this connection
    // runs between chunks (objects, changes) ever sees the source's tables.
    TANDEM_ASSIGN_OR_RETURN(bool attached, target.AttachSource(source));
    if (!attached) return Fail(Code::kFailedPrecondition, "the target cannot attach the source");
  }
  // One target transaction makes the chunk's key range equal to what the scan read, as on
  // the decoded path (DESIGN.md, the backfill race).
  int64_t read = 0, written = 0;
  auto body = [&]() -> Status {
    TANDEM_RETURN_IF_ERROR(target.Begin());
    TANDEM_RETURN_IF_ERROR(target.RemoveRange(t.target_table(), t.target_scan_key(), target_range));
    if (reader) {
      TANDEM_ASSIGN_OR_RETURN(written, target.WriteRaw(t.target_table(), t.target_columns(), *reader));
      read = reader->rows();
    } else {
      TANDEM_ASSIGN_OR_RETURN(written,
                              target.CopyFromAttached(req, t.target_table(), t.target_columns()));
      read = written;
    }
    return target.Commit();
  };
  Status st = body();
  if (!st) (void)target.Rollback();
  if (path == RawPath::kAttached) {
    Status detached = target.DetachSource();
    if (st && !detached) st = std::move(detached);
  }
  if (!st) return st;
  c.rows_read = read;
  c.rows_written = written;
  c.rows_rejected = 0;
  c.status = state::ChunkStatus::kDone;
  return state_.FinishChunk(c, {});
}

Status Backfill::CopyChunk(Job& job, const mapping::TableTransform& t, state::Chunk& c,
                           bool isolate_rows, std::unique_ptr<ChunkRead> read) {
  Engine& target = *job.target;  // this job's connection
  BatchQueue<Piece>& spare = *job.spare;
  TANDEM_ASSIGN_OR_RETURN(KeyRange target_range, t.TargetRange(c.range));
  // The reader thread scans and maps; this thread writes. Source and target are separate
  // connections, each used by one thread only.
  if (!read) read = StartRead(job, *job.source, t, c);
  if (!read->reader) return read->status;  // the scan did not start: the target is untouched
  BatchQueue<Piece>& queue = read->queue;
  std::vector<state::Reject> rejects;
  int64_t written = 0;
  // One target transaction makes the chunk's key range equal to what the scan read: rows the
  // read did not see are removed with it (DESIGN.md, the backfill race).
  auto body = [&]() -> Status {
    TANDEM_RETURN_IF_ERROR(target.Begin());
    TANDEM_RETURN_IF_ERROR(target.RemoveRange(t.target_table(), t.target_scan_key(), target_range));
    if (isolate_rows) TANDEM_RETURN_IF_ERROR(target.Commit());
    // The chunk's batches as one insert (one COPY into PostgreSQL); destroyed, unfinished,
    // before the rollback of a failed chunk.
    std::unique_ptr<BulkInsert> insert;
    if (!isolate_rows) {
      TANDEM_ASSIGN_OR_RETURN(insert, target.OpenInsert(t.target_table(), t.target_columns(),
                                                        t.target_key()));
    }
    Piece p;
    while (queue.Pop(p)) {
      for (auto& r : p.rejects) rejects.push_back(std::move(r));
      if (!isolate_rows) {
        TANDEM_RETURN_IF_ERROR(insert->Add(p.out));
        written += static_cast<int64_t>(p.out.size());
        (void)spare.TryPush(p);
        continue;
      }
      // Row by row, each in its own statement: a refused row is a reject, not a failure. An
      // insert, as in the batch: the range is empty now, so a key already there is a second
      // source row mapped onto the same target key ('007' and '7' into a bigint), which must
      // be a reject, never an overwrite of the first.
      for (size_t i = 0; i < p.out.size(); ++i) {
        auto st = target.Write(t.target_table(), t.target_columns(), t.target_key(), {p.out[i]},
                               WriteMode::kInsert);
        if (st) {
          ++written;
        } else if (st.error().code == Code::kInvalidArgument) {
          mapping::Refusal why{"", Problem::kRefusedByTarget, "target",
                               fmt::format("target refused the row: {}", st.error().message),
                               {}};
          rejects.push_back(RejectOf(t, c.index, p.in[p.origin[i]], why));
        } else {
          return st;
        }
      }
    }
    if (!read->status) return read->status;
    if (!isolate_rows) {
      TANDEM_RETURN_IF_ERROR(insert->Finish());
      TANDEM_RETURN_IF_ERROR(target.Commit());
    }
    return Ok();
  };
  Status st = body();
  read->Stop();  // on failure, unblocks the reader
  if (st && !read->status) st = read->status;
  if (!st) {
    if (!isolate_rows) (void)target.Rollback();
    return st;
  }
  c.rows_read = read->read;
  c.rows_written = written;
  c.rows_rejected = static_cast<int64_t>(rejects.size());
  c.status = state::ChunkStatus::kDone;
  // The checkpoint is written only after what it covers is committed in the target.
  return state_.FinishChunk(c, rejects);
}

}  // namespace tandem::copy
