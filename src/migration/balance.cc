#include "migration/balance.h"

#include <algorithm>
#include <chrono>
#include <future>
#include <memory>
#include <thread>

#include "engines/reconnect.h"

namespace tandem::migration {

namespace {

// The source's exact row count of a table. A large table on an engine that counts faster in
// key ranges is counted in one range per job, each on its own connection (the session's and
// jobs - 1 new ones), at once; the ranges cover the whole key space, so the sum is the count.
// Anything that stops that (a key other than one integer column, a connection that will not
// open) falls back to one COUNT(*) on the session's connection.
Result<int64_t> CountSource(Session& s, const mapping::TableTransform& t) {
  const std::string& table = t.source_table();
  const std::vector<std::string>& key = t.source_scan_key();
  auto whole = [&] { return s.source->Count(table, key, {}); };
  int jobs = s.cfg.Jobs(s.jobs_flag);
  if (jobs < 2 || key.empty() || !t.key_ranges_portable() || !s.source->CountsFasterInRanges()) {
    return whole();
  }
  const TableSchema* schema = mapping::FindTable(s.source_schema, table);
  if (!schema) return whole();
  // One integer key column, never NULL (a NULL key is in no range): its bounds come from the
  // ends of its index, where another key would be split by a pass over the whole key first.
  const Column* c = key.size() == 1 ? schema->Find(key[0]) : nullptr;
  if (!c || c->nullable || c->type.kind != Kind::kInt) return whole();
  auto estimate = s.source->EstimateRows(table, key);
  if (!estimate || *estimate < kEstimateRowsFrom) return whole();
  auto bounds = s.source->Split(table, key, jobs);
  if (!bounds || bounds->empty()) return whole();
  std::vector<KeyRange> ranges = RangesBetween(*bounds);
  std::vector<std::unique_ptr<Engine>> others;
  for (size_t i = 1; i < ranges.size(); ++i) {
    auto e = s.OpenSource();
    if (!e) return whole();
    others.push_back(std::move(*e));
  }
  std::vector<std::future<Result<int64_t>>> parts;
  for (size_t i = 1; i < ranges.size(); ++i) {
    parts.push_back(std::async(std::launch::async, [&, i] {
      return others[i - 1]->Count(table, key, ranges[i]);
    }));
  }
  auto first = s.source->Count(table, key, ranges[0]);
  int64_t total = 0;
  bool failed = false;
  for (auto& p : parts) {
    auto n = p.get();
    if (n) total += *n;
    else failed = true;
  }
  if (!first) return first;  // the session's connection: the caller reconnects it
  if (failed) return whole();
  return total + *first;
}

}  // namespace

Result<std::vector<Balance>> CountBalances(
    Session& s, const std::vector<const mapping::TableTransform*>& tables,
    const std::function<Result<std::optional<std::string>>()>& activity,
    const std::map<std::string, Counted>& counted) {
  std::vector<Balance> out;
  for (const auto* t : tables) {
    Balance b;
    b.table = t->source_table();
    b.target = t->target_table();
    auto pre = counted.find(t->source_table());
    Counted use = pre == counted.end() ? Counted{} : pre->second;
    for (int attempt = 0;; ++attempt) {
      std::optional<std::string> before, after;
      if (activity) {
        TANDEM_ASSIGN_OR_RETURN(before, activity());
      }
      // Both sides count at once: each engine is its own connection, used by one thread. A
      // lost connection is re-opened and both counted again, like a chunk.
      const Side sides[] = {{"source", s.source.get()}, {"target", s.target.get()}};
      TANDEM_RETURN_IF_ERROR(RunReconnecting(
          [&]() -> Status {
            std::future<Result<int64_t>> src_count;
            if (!use.source) {
              src_count = std::async(std::launch::async, [&] { return CountSource(s, *t); });
            }
            auto tgt_count = use.target ? Result<int64_t>(*use.target)
                                        : s.target->Count(t->target_table(), t->target_scan_key(), {});
            auto src_result = use.source ? Result<int64_t>(*use.source) : src_count.get();
            TANDEM_ASSIGN_OR_RETURN(b.source, std::move(src_result));
            TANDEM_ASSIGN_OR_RETURN(b.target_rows, std::move(tgt_count));
            return Ok();
          },
          sides, Backoff{}, {}));
      TANDEM_ASSIGN_OR_RETURN(b.rejected, s.state->RejectCount(t->source_table()));
      if (activity) {
        TANDEM_ASSIGN_OR_RETURN(after, activity());
      }
      bool quiet = !activity || (before && after && *before == *after);
      b.source_counted_early = use.source.has_value();
      b.target_counted_early = use.target.has_value();
      if (b.source == b.target_rows + b.rejected) {
        b.state = Balance::State::kHolds;
        break;
      }
      if (use.source || use.target) {
        // Counted while copying and not adding up: count both sides whole now, and judge that.
        use = {};
        b.recounted = true;
        --attempt;
        continue;
      }
      if (quiet) {
        b.state = Balance::State::kBroken;
        break;
      }
      b.state = Balance::State::kUnsettled;
      b.note = before ? "the source was written to while counting"
                      : "changes are waiting to be applied";
      if (attempt == 4) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    out.push_back(std::move(b));
  }
  return out;
}

ChunkCounter::ChunkCounter(Session& s, int threads) : s_(s) {
  source_slow_ = s.source->CountsFasterInRanges();
  target_slow_ = s.target->CountsFasterInRanges();
  if (!source_slow_ && !target_slow_) return;
  for (int i = 0; i < std::max(threads, 1); ++i) threads_.emplace_back([this] { Loop(); });
}

ChunkCounter::~ChunkCounter() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
    queue_.clear();
  }
  changed_.notify_all();
  for (auto& th : threads_) th.join();
}

bool ChunkCounter::Eligible(const mapping::TableTransform& t, bool source_side) const {
  if (t.keyless() || !t.key_ranges_portable()) return false;
  // Every key column NOT NULL on that side: a row with a NULL key is in no range.
  const std::vector<TableSchema>& schema = source_side ? s_.source_schema : s_.target_schema;
  const std::string& table = source_side ? t.source_table() : t.target_table();
  const std::vector<std::string>& key = source_side ? t.source_key() : t.target_key();
  const TableSchema* found = mapping::FindTable(schema, table);
  // A target table not there when the session opened is created from the mapping.
  if (!found && !source_side) found = &t.planned_target();
  if (!found) return false;
  return std::all_of(key.begin(), key.end(), [&](const std::string& k) {
    const Column* c = found->Find(k);
    return c && !c->nullable;
  });
}

void ChunkCounter::Add(const mapping::TableTransform& t, const state::Chunk& chunk, int chunks) {
  if (threads_.empty()) return;
  bool src = source_slow_ && Eligible(t, true), tgt = target_slow_ && Eligible(t, false);
  if (!src && !tgt) return;
  {
    std::lock_guard lock(mu_);
    queue_.push_back({&t, chunk.range, chunk.index, chunks});
  }
  changed_.notify_all();  // Finish waits on the same condition
}

void ChunkCounter::Loop() {
  std::unique_ptr<Engine> source, target;
  bool broken = false;  // a connection would not open or was lost: count nothing more
  for (;;) {
    Work w;
    {
      std::unique_lock lock(mu_);
      changed_.wait(lock, [&] { return stop_ || !queue_.empty(); });
      if (queue_.empty()) return;
      w = std::move(queue_.front());
      queue_.pop_front();
      ++busy_;
    }
    const mapping::TableTransform& t = *w.table;
    std::optional<int64_t> src, tgt;
    bool ok = !broken;
    if (ok && source_slow_ && Eligible(t, true)) {
      if (!source) {
        if (auto e = s_.OpenSource()) source = std::move(*e);
      }
      auto n = source ? source->Count(t.source_table(), t.source_scan_key(), w.range)
                      : Result<int64_t>(std::unexpected(Error{Code::kUnavailable, ""}));
      if (n) src = *n;
      else ok = false;
    }
    if (ok && target_slow_ && Eligible(t, false)) {
      if (!target) {
        if (auto e = s_.OpenTarget()) target = std::move(*e);
      }
      auto range = t.TargetRange(w.range);
      auto n = target && range
                   ? target->Count(t.target_table(), t.target_scan_key(), *range)
                   : Result<int64_t>(std::unexpected(Error{Code::kUnavailable, ""}));
      if (n) tgt = *n;
      else ok = false;
    }
    broken |= !ok;
    {
      std::lock_guard lock(mu_);
      Tally& tally = tally_[t.source_table()];
      tally.of = w.chunks;
      tally.failed |= !ok;
      if (ok) {
        tally.chunks.insert(w.chunk);
        tally.source += src.value_or(0);
        tally.target += tgt.value_or(0);
      }
      --busy_;
    }
    changed_.notify_all();
  }
}

std::map<std::string, Counted> ChunkCounter::Finish() {
  std::map<std::string, Counted> out;
  std::unique_lock lock(mu_);
  changed_.wait(lock, [&] { return queue_.empty() && busy_ == 0; });
  for (const auto& [table, tally] : tally_) {
    if (tally.failed || static_cast<int>(tally.chunks.size()) != tally.of) continue;
    const mapping::TableTransform* t = s_.FindTable(table);
    if (!t) continue;
    Counted c;
    if (source_slow_ && Eligible(*t, true)) c.source = tally.source;
    if (target_slow_ && Eligible(*t, false)) c.target = tally.target;
    out[table] = c;
  }
  return out;
}

std::function<Result<std::optional<std::string>>()> StreamActivity(Session& s, bool streaming,
                                                                   bool reverse) {
  if (!streaming) return {};
  return [&s, reverse]() -> Result<std::optional<std::string>> {
    std::string token;
    for (auto [changes, stream] : {std::pair{s.source_changes.get(), "forward"},
                                   std::pair{s.target_changes.get(), "reverse"}}) {
      if (std::string_view(stream) == "reverse" && !reverse) continue;
      TANDEM_ASSIGN_OR_RETURN(auto at, s.state->Position(stream));
      TANDEM_ASSIGN_OR_RETURN(int64_t pending, changes->Pending(at));
      if (pending > 0) return std::optional<std::string>();
      TANDEM_ASSIGN_OR_RETURN(auto last, changes->Last());
      token += last.text + "|";
    }
    return std::optional<std::string>(token);
  };
}

bool PrintBalances(FILE* out, const std::vector<Balance>& balances) {
  std::fprintf(out, "%-28s %12s %12s %10s  %s\n", "table", "source rows", "target rows", "rejected",
               "source = target + rejected");
  bool broken = false;
  for (const auto& b : balances) {
    std::string name = b.table == b.target ? b.table : b.table + " -> " + b.target;
    std::string verdict;
    switch (b.state) {
      case Balance::State::kHolds: verdict = "ok"; break;
      case Balance::State::kBroken:
        verdict = fmt::format("BROKEN: {} != {} + {} ({} row(s) {})", b.source, b.target_rows,
                              b.rejected, std::llabs(b.source - b.target_rows - b.rejected),
                              b.source > b.target_rows + b.rejected ? "missing from the target"
                                                                    : "too many in the target");
        broken = true;
        break;
      case Balance::State::kUnsettled: verdict = "not judged: " + b.note; break;
    }
    std::fprintf(out, "%-28s %12lld %12lld %10lld  %s\n", name.c_str(),
                 static_cast<long long>(b.source), static_cast<long long>(b.target_rows),
                 static_cast<long long>(b.rejected), verdict.c_str());
  }
  if (broken) {
    std::fprintf(out,
                 "!!! ROWS DO NOT ADD UP: source rows != target rows + rejected rows (see BROKEN "
                 "above). A row is missing or extra in the target without a reject to account "
                 "for it: run `tandem verify` to find it, then `tandem copy --restart` or the "
                 "next `tandem start` after fixing the cause.\n");
  }
  return broken;
}

Error BrokenBalanceError(const std::vector<Balance>& balances) {
  std::string tables;
  for (const auto& b : balances) {
    if (b.state == Balance::State::kBroken) tables += (tables.empty() ? "" : ", ") + b.table;
  }
  return Error{Code::kDataLoss,
               fmt::format("row counts do not add up: source != target + rejected for {}", tables)};
}

}  // namespace tandem::migration
