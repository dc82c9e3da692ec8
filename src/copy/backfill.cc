#include "copy/backfill.h"

#include <chrono>
#include <thread>

#include "copy/batch_queue.h"

#include "core/row_json.h"

#include <nlohmann/json.hpp>

namespace tandem::copy {

Backfill::Backfill(const std::vector<mapping::TableTransform>& tables, Engine& source,
                   Engine& target, state::StateStore& state, Progress& progress,
                   BackfillOptions options)
    : tables_(tables),
      source_(source),
      target_(target),
      state_(state),
      progress_(progress),
      options_(options),
      spare_(std::make_unique<BatchQueue<Piece>>(6)) {}

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

bool Backfill::ChunkDone(std::string_view table, const Row& key) const {
  for (const auto& p : plans_) {
    if (p.transform->source_table() != table) continue;
    for (const auto& c : p.chunks) {
      if (c.range.Contains(key)) return c.status == state::ChunkStatus::kDone;
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

Result<std::vector<TableReport>> Backfill::Run(const std::function<Status()>& between_chunks) {
  std::vector<TableReport> reports;
  std::set<std::string> loaded;
  tried_.clear();
  failures_.clear();
  for (auto& p : plans_) {
    const auto& t = *p.transform;
    auto started = std::chrono::steady_clock::now();
    int64_t total = 0;
    TableReport report{t.source_table(), t.target_table()};
    bool any_pending = false;
    for (const auto& c : p.chunks) any_pending |= c.status != state::ChunkStatus::kDone;
    if (any_pending) {
      total = p.rows;  // estimated when planning; a resumed plan estimates again
      if (total < 0) {
        TANDEM_ASSIGN_OR_RETURN(total, source_.EstimateRows(t.source_table(), t.source_scan_key()));
      }
    }
    progress_.TableStarted(t.source_table(), total, static_cast<int>(p.chunks.size()));
    int64_t done_rows = 0, rejected = 0;
    for (auto& c : p.chunks) {
      if (c.status != state::ChunkStatus::kDone) {
        if (auto st = CopyChunkWithRetry(t, c); !st) {
          return std::unexpected(
              st.error().Context(fmt::format("copy {} chunk {}", t.source_table(), c.index)));
        }
        if (between_chunks) TANDEM_RETURN_IF_ERROR(between_chunks());
      }
      done_rows += c.rows_read;
      rejected += c.rows_rejected;
      report.source_rows += c.rows_read;
      report.written += c.rows_written;
      report.rejected += c.rows_rejected;
      progress_.Advanced(t.source_table(), done_rows, rejected);
    }
    report.seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    progress_.TableFinished(report);
    reports.push_back(report);
    // Indexes and foreign keys are built after the rows are in (bulk loading without them is
    // faster); a foreign key waits for the table it references.
    loaded.insert(t.target_table());
    const Side sides[] = {{"target", &target_}};
    TANDEM_RETURN_IF_ERROR(RunReconnecting([&] { return BuildObjects(loaded); }, sides,
                                           options_.backoff, options_.on_reconnect));
  }
  TANDEM_RETURN_IF_ERROR(SaveFailures());
  return reports;
}

Status Backfill::CopyChunkWithRetry(const mapping::TableTransform& t, state::Chunk& c) {
  TANDEM_RETURN_IF_ERROR(state_.MarkCopying(c.table, c.index));
  c.status = state::ChunkStatus::kCopying;
  bool isolate = false;
  auto copy = [&]() -> Status {
    for (int attempt = 0;; ++attempt) {
      auto st = CopyChunk(t, c, isolate);
      if (st) return st;
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
  const Side sides[] = {{"source", &source_}, {"target", &target_}};
  return RunReconnecting(copy, sides, options_.backoff, options_.on_reconnect);
}

Status Backfill::CopyChunk(const mapping::TableTransform& t, state::Chunk& c, bool isolate_rows) {
  TANDEM_ASSIGN_OR_RETURN(KeyRange target_range, t.TargetRange(c.range));
  ScanRequest req{t.source_table(), t.source_columns(), t.source_scan_key(), c.range,
                  options_.batch_rows, /*exclusive=*/true};  // nothing else uses source_ meanwhile
  TANDEM_ASSIGN_OR_RETURN(auto reader, source_.Scan(req));

  // The reader thread scans and maps; this thread writes. Source and target are separate
  // connections, each used by one thread only.
  BatchQueue<Piece> queue(4);
  Status read_status = Ok();
  int64_t read = 0;
  auto to_reject = [&](const Row& in, mapping::Refusal& why) {
    return state::Reject{t.source_table(), c.index, t.SourceKey(in), std::move(why.message),
                         RowToReadableJson(in, t.source_columns()).dump(), "",
                         std::move(why.rule), std::string(ProblemName(why.problem))};
  };
  std::thread producer([&] {
    Piece p;
    (void)spare_->TryPop(p);
    mapping::Refusal why;
    while (reader->Next(p.in)) {
      p.origin.clear();
      p.rejects.clear();
      size_t k = 0;
      for (size_t i = 0; i < p.in.size(); ++i) {
        if (k == p.out.size()) p.out.emplace_back();
        if (t.Apply(p.in[i], p.out[k], why)) {
          p.origin.push_back(i);
          ++k;
        } else {
          p.rejects.push_back(to_reject(p.in[i], why));
        }
      }
      p.out.resize(k);
      read += static_cast<int64_t>(p.in.size());
      if (!queue.Push(std::move(p))) break;  // the writer gave up
      if (!spare_->TryPop(p)) p = Piece();
    }
    read_status = reader->status();
    (void)spare_->TryPush(p);  // its mapped rows keep their buffers for the next chunk
    queue.Close();
  });

  std::vector<state::Reject> rejects;
  int64_t written = 0;
  // One target transaction makes the chunk's key range equal to what the scan read: rows the
  // read did not see are removed with it (DESIGN.md, the backfill race).
  auto body = [&]() -> Status {
    TANDEM_RETURN_IF_ERROR(target_.Begin());
    TANDEM_RETURN_IF_ERROR(target_.RemoveRange(t.target_table(), t.target_scan_key(), target_range));
    if (isolate_rows) TANDEM_RETURN_IF_ERROR(target_.Commit());
    Piece p;
    while (queue.Pop(p)) {
      for (auto& r : p.rejects) rejects.push_back(std::move(r));
      if (!isolate_rows) {
        TANDEM_RETURN_IF_ERROR(target_.Write(t.target_table(), t.target_columns(), t.target_key(),
                                             p.out, WriteMode::kInsert));
        written += static_cast<int64_t>(p.out.size());
        (void)spare_->TryPush(p);
        continue;
      }
      // Row by row, each in its own statement: a refused row is a reject, not a failure. An
      // insert, as in the batch: the range is empty now, so a key already there is a second
      // source row mapped onto the same target key ('007' and '7' into a bigint), which must
      // be a reject, never an overwrite of the first.
      for (size_t i = 0; i < p.out.size(); ++i) {
        auto st = target_.Write(t.target_table(), t.target_columns(), t.target_key(), {p.out[i]},
                                WriteMode::kInsert);
        if (st) {
          ++written;
        } else if (st.error().code == Code::kInvalidArgument) {
          mapping::Refusal why{"", Problem::kRefusedByTarget, "target",
                               fmt::format("target refused the row: {}", st.error().message)};
          rejects.push_back(to_reject(p.in[p.origin[i]], why));
        } else {
          return st;
        }
      }
    }
    if (!read_status) return read_status;
    if (!isolate_rows) TANDEM_RETURN_IF_ERROR(target_.Commit());
    return Ok();
  };
  Status st = body();
  queue.Close();  // on failure, unblocks the reader
  producer.join();
  if (st && !read_status) st = read_status;
  if (!st) {
    if (!isolate_rows) (void)target_.Rollback();
    return st;
  }
  c.rows_read = read;
  c.rows_written = written;
  c.rows_rejected = static_cast<int64_t>(rejects.size());
  c.status = state::ChunkStatus::kDone;
  // The checkpoint is written only after what it covers is committed in the target.
  return state_.FinishChunk(c, rejects);
}

}  // namespace tandem::copy
