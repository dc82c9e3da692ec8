#include "capture/change_stream.h"

#include <chrono>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "core/row_json.h"

namespace tandem::capture {

namespace {

int64_t NowMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

ChangeStream::ChangeStream(std::string name, Engine& from, ChangeSource& changes, Engine& to,
                           const std::vector<mapping::TableTransform>& tables,
                           state::StateStore& state)
    : name_(std::move(name)), from_(from), changes_(changes), to_(to), state_(state) {
  for (const auto& t : tables) by_table_[t.source_table()] = &t;
}

Status ChangeStream::Install() {
  std::vector<CaptureTable> tables;
  for (const auto& [name, t] : by_table_) tables.push_back({name, t->source_key()});
  return changes_.Install(tables);
}

Result<int64_t> ChangeStream::Lag() {
  TANDEM_ASSIGN_OR_RETURN(Position pos, state_.Position(name_));
  return changes_.Pending(pos);
}

Result<PollResult> ChangeStream::Poll(size_t max_changes, const ApplyFilter& filter) {
  PollResult result;
  TANDEM_ASSIGN_OR_RETURN(result.position, state_.Position(name_));
  TANDEM_ASSIGN_OR_RETURN(ChangeBatch batch, changes_.Read(result.position, max_changes));
  const std::vector<Change>& changes = batch.changes;
  result.changes = changes.size();
  // Keys kept while their table was held, now that it is not (after the mapping was edited).
  bool replayed = true;
  if (!replay_.empty()) {
    TANDEM_ASSIGN_OR_RETURN(replayed, Replay(max_changes, filter, result));
  }
  if (changes.empty()) {
    // Nothing to apply, but the read may have moved past history proven empty (a gap left
    // by rolled-back transactions).
    if (batch.upto != result.position) {
      result.position = batch.upto;
      TANDEM_RETURN_IF_ERROR(state_.PutPosition(name_, result.position));
    }
    result.caught_up = replayed;
    return result;
  }
  // Group by table; each key once (the current row is re-read, so the last op is what counts).
  std::map<std::string, std::vector<Row>, std::less<>> keys;
  std::map<std::string, std::set<Row>, std::less<>> seen;
  for (const auto& c : changes) {
    if (!by_table_.contains(c.table)) continue;
    // A held table's keys are kept whatever the filter says: the replay applies the filter.
    if (filter && !held_.contains(c.table) && !filter(c.table, c.key)) {
      ++result.skipped;
      continue;
    }
    if (seen[c.table].insert(c.key).second) keys[c.table].push_back(c.key);
  }
  // Held changes: kept in the state store as the checkpoint passes them (never lost, never
  // blocking the other tables).
  std::vector<std::pair<std::string, Row>> held;
  for (const auto& [table, ks] : keys) {
    if (watching_ && !held_.contains(table)) {
      TANDEM_ASSIGN_OR_RETURN(bool changed, CheckColumns(table, false));
      (void)changed;
    }
    if (held_.contains(table)) {
      for (const auto& k : ks) held.emplace_back(table, k);
      continue;
    }
    if (auto st = ApplyKeys(*by_table_[table], ks, result); !st) {
      // A fetch or write that failed may be the table's columns changing under it.
      if (watching_ && st.error().code != Code::kUnavailable) {
        TANDEM_ASSIGN_OR_RETURN(bool changed, CheckColumns(table, true));
        if (changed) {
          for (const auto& k : ks) held.emplace_back(table, k);
          continue;
        }
      }
      return std::unexpected(st.error().Context(fmt::format("{} stream, table {}", name_, table)));
    }
  }
  // The checkpoint moves only after what it covers is committed in `to` (or kept, if held).
  result.position = batch.upto;
  TANDEM_RETURN_IF_ERROR(state_.PutPositionHolding(name_, result.position, held));
  result.held = held.size();
  int64_t now = NowMicros();
  for (const auto& c : changes) {
    if (c.at_micros > 0) result.lag_micros.push_back(now - c.at_micros);
  }
  result.caught_up = changes.size() < max_changes && replayed;
  return result;
}

Status ChangeStream::WatchColumns(std::vector<TableSchema> compiled, const mapping::Config* cfg,
                                  HoldObserver on_hold, std::chrono::milliseconds recheck) {
  watching_ = true;
  cfg_ = cfg;
  on_hold_ = std::move(on_hold);
  recheck_ = recheck;
  for (auto& t : compiled) {
    if (by_table_.contains(t.name)) compiled_[t.name] = std::move(t.columns);
  }
  TANDEM_ASSIGN_OR_RETURN(auto holds, state_.Holds(name_));
  for (const auto& h : holds) held_.insert(h.table);
  TANDEM_ASSIGN_OR_RETURN(auto kept, state_.TablesWithHeldKeys(name_));
  for (const auto& t : kept) {
    if (!held_.contains(t) && by_table_.contains(t)) replay_.insert(t);
  }
  return Ok();
}

Status ChangeStream::Hold(std::string_view table, const std::vector<mapping::ColumnChange>& changes) {
  const mapping::TableMap* map = cfg_ ? cfg_->FindBySource(table) : nullptr;
  std::string message = mapping::DescribeChanges(table, changes, map, cfg_ ? cfg_->path : "tandem.yaml");
  nlohmann::json jc = nlohmann::json::array();
  for (const auto& c : changes) {
    jc.push_back({{"what", mapping::ChangeName(c.what)}, {"column", c.column}, {"was", c.was},
                  {"was_type", c.was_type}, {"now_type", c.now_type},
                  {"type", c.portable.ToString()},
                  {"write", mapping::SuggestedMapping(c, map)}});
  }
  nlohmann::json body = {{"message", message}, {"changes", jc},
                         {"only_drops", mapping::OnlyDrops(changes)}};
  TANDEM_RETURN_IF_ERROR(state_.PutHold(name_, table, body.dump()));
  held_.insert(std::string(table));
  replay_.erase(std::string(table));
  if (on_hold_) on_hold_(table, changes, message);
  return Ok();
}

Status ChangeStream::Release(std::string_view table) {
  TANDEM_RETURN_IF_ERROR(state_.ClearHold(name_, table));
  held_.erase(std::string(table));
  if (by_table_.contains(table)) replay_.insert(std::string(table));
  checked_at_.erase(std::string(table));
  return Ok();
}

Result<bool> ChangeStream::CheckColumns(std::string_view table, bool force) {
  auto it = compiled_.find(table);
  if (it == compiled_.end()) return false;
  auto now = std::chrono::steady_clock::now();
  auto& at = checked_at_[std::string(table)];
  if (!force && now - at < recheck_) return false;
  at = now;
  auto live = from_.DescribeColumns(std::string(table));
  std::vector<mapping::ColumnChange> changes;
  if (!live) {
    if (live.error().code != Code::kNotFound) return std::unexpected(live.error());
    // The whole table is gone: every column reads as dropped.
    changes = mapping::DiffColumns(it->second, {});
  } else {
    changes = mapping::DiffColumns(it->second, *live);
  }
  changes = mapping::Relevant(std::move(changes), cfg_ ? cfg_->FindBySource(table) : nullptr);
  if (changes.empty()) return false;
  TANDEM_RETURN_IF_ERROR(Hold(table, changes));
  return true;
}

Result<bool> ChangeStream::Replay(size_t limit, const ApplyFilter& filter, PollResult& result) {
  for (auto it = replay_.begin(); it != replay_.end() && limit > 0;) {
    const std::string table = *it;
    TANDEM_ASSIGN_OR_RETURN(auto keys, state_.HeldKeys(name_, table, static_cast<int>(limit)));
    if (keys.empty()) {
      it = replay_.erase(it);
      continue;
    }
    limit -= std::min(limit, keys.size());
    // The chunk rule applies as to any change: a key in a chunk not copied yet is dropped
    // (the copy reads its newest row).
    std::vector<Row> apply;
    for (const auto& k : keys) {
      if (!filter || filter(table, k)) apply.push_back(k);
    }
    if (!apply.empty()) {
      if (auto st = ApplyKeys(*by_table_[table], apply, result); !st) {
        return std::unexpected(st.error().Context(fmt::format("{} stream, kept changes of table {}", name_, table)));
      }
    }
    // Released only once applied: a crash in between applies them again, which is harmless.
    TANDEM_RETURN_IF_ERROR(state_.ReleaseHeldKeys(name_, table, keys));
    result.replayed += keys.size();
    ++it;
  }
  return replay_.empty();
}

Status ChangeStream::ApplyImages(const mapping::TableTransform& t, const std::vector<Row>& images,
                                 PollResult& result) {
  // Each changed image (old row of an update or delete, new row of an insert or update) is
  // made to occur in `to` as often as it occurs in `from` now: the keyless form of "re-read the
  // current row". Applying it twice is harmless, and a change whose row the copy already saw
  // is not applied twice (docs/decisions.md, "Tables without a key").
  TANDEM_ASSIGN_OR_RETURN(auto have,
                          from_.CountImages(t.source_table(), t.source_columns(), images));
  // Mapped images (several source images can only meet in one target image through a cast).
  std::map<Row, int64_t> want;
  std::vector<state::Reject> rejects;
  std::vector<Row> landed;
  Row mapped;
  mapping::Refusal why;
  for (size_t i = 0; i < images.size(); ++i) {
    if (!t.Apply(images[i], mapped, why)) {
      if (have[i] > 0) {
        rejects.push_back({t.source_table(), -1, images[i], std::move(why.message),
                           RowToReadableJson(images[i], t.source_columns()).dump(), "",
                           std::move(why.rule), std::string(ProblemName(why.problem))});
      }
      continue;
    }
    want[mapped] += have[i];
    landed.push_back(images[i]);
  }
  std::vector<Row> targets;
  for (const auto& [row, n] : want) targets.push_back(row);
  TANDEM_RETURN_IF_ERROR(to_.Begin());
  auto body = [&]() -> Status {
    TANDEM_ASSIGN_OR_RETURN(auto there,
                            to_.CountImages(t.target_table(), t.target_columns(), targets));
    for (size_t i = 0; i < targets.size(); ++i) {
      int64_t diff = want[targets[i]] - there[i];
      if (diff < 0) {
        TANDEM_RETURN_IF_ERROR(to_.RemoveImage(t.target_table(), t.target_columns(), targets[i], -diff));
      } else if (diff > 0) {
        std::vector<Row> copies(static_cast<size_t>(diff), targets[i]);
        TANDEM_RETURN_IF_ERROR(to_.Write(t.target_table(), t.target_columns(), {}, copies,
                                         WriteMode::kInsert));
      }
      if (diff != 0) result.applied += static_cast<size_t>(diff < 0 ? -diff : diff);
    }
    return to_.Commit();
  };
  if (auto st = body(); !st) {
    (void)to_.Rollback();
    return st;
  }
  result.rejected += rejects.size();
  return RecordRejects(t.source_table(), landed, rejects);
}

Status ChangeStream::ApplyKeys(const mapping::TableTransform& t, const std::vector<Row>& keys,
                               PollResult& result) {
  if (t.keyless()) return ApplyImages(t, keys, result);
  for (size_t i = 0; i < keys.size();) {
    // As many keys as fit in batch_bytes at the widest row of the table seen so far; a few at
    // first. Each slice is its own target transaction: applying a change twice is harmless,
    // and the checkpoint moves only after every slice is in.
    auto w = widest_.find(t.source_table());
    size_t n = w == widest_.end() ? kFirstFetchKeys
                                  : std::clamp<size_t>(batch_bytes_ / std::max<size_t>(w->second, 1), 1, kMaxFetchKeys);
    n = std::min(n, keys.size() - i);
    std::vector<Row> slice(keys.begin() + static_cast<std::ptrdiff_t>(i),
                           keys.begin() + static_cast<std::ptrdiff_t>(i + n));
    TANDEM_RETURN_IF_ERROR(ApplyTable(t, slice, result));
    i += n;
  }
  return Ok();
}

Status ChangeStream::ApplyTable(const mapping::TableTransform& t, const std::vector<Row>& keys,
                                PollResult& result) {
  TANDEM_ASSIGN_OR_RETURN(auto rows,
                          from_.Fetch(t.source_table(), t.source_columns(), t.source_key(), keys));
  size_t& widest = widest_[t.source_table()];
  for (const auto& r : rows) widest = std::max(widest, RowBytes(r));
  std::set<Row> present;
  std::vector<Row> upserts, removals;
  std::vector<state::Reject> rejects;
  std::vector<Row> landed;  // source keys whose earlier rejects are void now
  std::vector<size_t> origin;  // upserts[i] came from rows[origin[i]]
  Row mapped;
  mapping::Refusal why;
  for (size_t i = 0; i < rows.size(); ++i) {
    const Row& in = rows[i];
    Row key = t.SourceKey(in);
    present.insert(key);
    if (t.Apply(in, mapped, why)) {
      upserts.push_back(std::move(mapped));
      origin.push_back(i);
      landed.push_back(std::move(key));
    } else {
      // The new version cannot land: the old version must not stay behind in `to`.
      TANDEM_ASSIGN_OR_RETURN(Row tk, t.TargetKey(key));
      removals.push_back(std::move(tk));
      rejects.push_back({t.source_table(), -1, std::move(key), std::move(why.message),
                         RowToReadableJson(in, t.source_columns()).dump(), "",
                         std::move(why.rule), std::string(ProblemName(why.problem))});
    }
  }
  for (const auto& k : keys) {
    if (present.contains(k)) continue;
    auto tk = t.TargetKey(k);
    if (!tk) continue;  // a key that cannot exist in the target was never written there
    removals.push_back(std::move(*tk));
    landed.push_back(k);
  }
  TANDEM_RETURN_IF_ERROR(to_.Begin());
  auto body = [&]() -> Status {
    if (!removals.empty()) TANDEM_RETURN_IF_ERROR(to_.Remove(t.target_table(), t.target_key(), removals));
    if (!upserts.empty()) {
      TANDEM_RETURN_IF_ERROR(to_.Write(t.target_table(), t.target_columns(), t.target_key(),
                                       upserts, WriteMode::kUpsert));
    }
    return to_.Commit();
  };
  if (auto st = body(); !st) {
    (void)to_.Rollback();
    if (st.error().code != Code::kInvalidArgument) return st;
    // The receiving side refused some row of the batch (a constraint, a value it cannot
    // hold): apply row by row, so that only the refused rows become rejects, each with the
    // server's words, and their old versions are removed. Nothing stops the stream.
    TANDEM_RETURN_IF_ERROR(ApplyRowByRow(t, rows, upserts, origin, removals, landed, rejects));
  }
  result.applied += upserts.size() + removals.size() - rejects.size();
  result.rejected += rejects.size();
  return RecordRejects(t.source_table(), landed, rejects);
}

// Rejects live in the state store: keys that landed clear their earlier rejects (skipped while
// the table has none), and the rows that could not land are stored.
Status ChangeStream::RecordRejects(const std::string& table, const std::vector<Row>& landed,
                                   const std::vector<state::Reject>& rejects) {
  auto [it, fresh] = has_rejects_.try_emplace(table, false);
  if (fresh) {
    TANDEM_ASSIGN_OR_RETURN(int64_t n, state_.RejectCount(table));
    it->second = n > 0;
  }
  if (it->second) {
    for (const auto& k : landed) TANDEM_RETURN_IF_ERROR(state_.ClearStreamReject(table, k));
  }
  for (const auto& r : rejects) {
    TANDEM_RETURN_IF_ERROR(state_.PutStreamReject(r));
    it->second = true;
  }
  return Ok();
}

Status ChangeStream::ApplyRowByRow(const mapping::TableTransform& t, const std::vector<Row>& rows,
                                   const std::vector<Row>& upserts, const std::vector<size_t>& origin,
                                   const std::vector<Row>& removals, std::vector<Row>& landed,
                                   std::vector<state::Reject>& rejects) {
  auto atomically = [&](const std::function<Status()>& body) -> Status {
    TANDEM_RETURN_IF_ERROR(to_.Begin());
    if (auto st = body(); !st) {
      (void)to_.Rollback();
      return st;
    }
    return to_.Commit();
  };
  if (!removals.empty()) {
    TANDEM_RETURN_IF_ERROR(atomically([&] { return to_.Remove(t.target_table(), t.target_key(), removals); }));
  }
  std::set<Row> refused;
  for (size_t i = 0; i < upserts.size(); ++i) {
    auto st = atomically([&] {
      return to_.Write(t.target_table(), t.target_columns(), t.target_key(), {upserts[i]},
                       WriteMode::kUpsert);
    });
    if (st) continue;
    if (st.error().code != Code::kInvalidArgument) return st;
    const Row& in = rows[origin[i]];
    Row key = t.SourceKey(in);
    TANDEM_ASSIGN_OR_RETURN(Row tk, t.TargetKey(key));
    TANDEM_RETURN_IF_ERROR(atomically([&] { return to_.Remove(t.target_table(), t.target_key(), {tk}); }));
    rejects.push_back({t.source_table(), -1, key,
                       fmt::format("{} refused the row: {}", name_ == "reverse" ? "old" : "new",
                                   st.error().message),
                       RowToReadableJson(in, t.source_columns()).dump(), "",
                       "target", std::string(ProblemName(Problem::kRefusedByTarget))});
    refused.insert(std::move(key));
  }
  std::erase_if(landed, [&](const Row& k) { return refused.contains(k); });
  return Ok();
}

Result<PollResult> ChangeStream::DrainToNow(double timeout_s, const ApplyFilter& filter) {
  TANDEM_ASSIGN_OR_RETURN(Position goal, changes_.Last());
  auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  PollResult total;
  for (;;) {
    TANDEM_ASSIGN_OR_RETURN(auto r, Poll(5000, filter));
    total.changes += r.changes;
    total.applied += r.applied;
    total.skipped += r.skipped;
    total.rejected += r.rejected;
    total.position = r.position;
    total.lag_micros.insert(total.lag_micros.end(), r.lag_micros.begin(), r.lag_micros.end());
    TANDEM_ASSIGN_OR_RETURN(bool reached, changes_.Covers(r.position, goal));
    if (reached) {
      total.caught_up = true;
      return total;
    }
    if (std::chrono::steady_clock::now() > deadline) return total;
    // A gap (a change whose transaction has not committed yet) holds the checkpoint back.
    if (r.changes == 0) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

}  // namespace tandem::capture
