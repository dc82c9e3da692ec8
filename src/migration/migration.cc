#include "migration/migration.h"

#include <chrono>
#include <thread>

#include <nlohmann/json.hpp>

#include "mapping/reverse.h"

namespace tandem::migration {

using nlohmann::json;

namespace {

int64_t NowMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

Result<std::unique_ptr<Migration>> Migration::Open(const std::string& config_path, bool for_start) {
  auto m = std::unique_ptr<Migration>(new Migration());
  TANDEM_ASSIGN_OR_RETURN(m->s_, OpenSession(config_path, true, /*in_migration=*/true, for_start));
  TANDEM_RETURN_IF_ERROR(m->s_.source_changes->SuppressOwnWrites(true));
  TANDEM_RETURN_IF_ERROR(m->s_.target_changes->SuppressOwnWrites(true));
  m->forward_ = std::make_unique<capture::ChangeStream>(
      "forward", *m->s_.source, *m->s_.source_changes, *m->s_.target, m->s_.tables, *m->s_.state);
  m->forward_->SetBatchBytes(static_cast<size_t>(m->s_.cfg.batch_bytes));
  Migration* raw = m.get();
  TANDEM_RETURN_IF_ERROR(m->forward_->WatchColumns(
      m->s_.source_schema, &m->s_.cfg,
      [raw](std::string_view table, const std::vector<mapping::ColumnChange>& changes,
            const std::string& message) {
        if (raw->on_hold_) raw->on_hold_(table, changes, message);
      }));
  return m;
}

Result<Phase> Migration::phase() {
  TANDEM_ASSIGN_OR_RETURN(auto st, Load());
  return st.phase;
}

Result<capture::ChangeStream*> Migration::reverse() {
  if (reverse_) return reverse_.get();
  TANDEM_ASSIGN_OR_RETURN(auto src, s_.source->Introspect());
  TANDEM_ASSIGN_OR_RETURN(auto tgt, s_.target->Introspect());
  TANDEM_ASSIGN_OR_RETURN(reverse_tables_, mapping::CompileAllReverse(s_.cfg, src, tgt));
  reverse_ = std::make_unique<capture::ChangeStream>("reverse", *s_.target, *s_.target_changes,
                                                     *s_.source, reverse_tables_, store());
  reverse_->SetBatchBytes(static_cast<size_t>(s_.cfg.batch_bytes));
  return reverse_.get();
}

Status Migration::CatchUp(double timeout_s, Streams which) {
  TANDEM_ASSIGN_OR_RETURN(auto st, Load());
  if (!Streaming(st.phase)) return Ok();
  bool fwd = which != Streams::kReverse;
  bool rev = st.capture_new && which != Streams::kForward;
  bool got = false;
  std::string holder;
  TANDEM_ASSIGN_OR_RETURN(auto lock, FollowerLock::TryAcquire(state_path(), got, holder));
  if (got) {
    if (st.phase == Phase::kBackfill) {
      return Fail(Code::kFailedPrecondition,
                  "the backfill is not finished and no `tandem start` is running: run it first");
    }
    if (fwd) {
      TANDEM_ASSIGN_OR_RETURN(auto f, forward().DrainToNow(timeout_s));
      if (!f.caught_up) {
        return Fail(Code::kDeadlineExceeded, "the forward stream did not catch up within {} s", timeout_s);
      }
    }
    if (rev) {
      TANDEM_ASSIGN_OR_RETURN(auto* r, reverse());
      TANDEM_ASSIGN_OR_RETURN(auto rr, r->DrainToNow(timeout_s));
      if (!rr.caught_up) {
        return Fail(Code::kDeadlineExceeded, "the reverse stream did not catch up within {} s", timeout_s);
      }
    }
    return Ok();
  }
  // The follower applies; wait until its checkpoints pass what exists now.
  TANDEM_ASSIGN_OR_RETURN(Position fgoal, s_.source_changes->Last());
  Position rgoal;
  if (rev) {
    TANDEM_ASSIGN_OR_RETURN(rgoal, s_.target_changes->Last());
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  for (;;) {
    TANDEM_ASSIGN_OR_RETURN(Position fpos, store().Position("forward"));
    TANDEM_ASSIGN_OR_RETURN(Position rpos, store().Position("reverse"));
    bool fdone = true;
    if (fwd) {
      TANDEM_ASSIGN_OR_RETURN(fdone, s_.source_changes->Covers(fpos, fgoal));
    }
    bool rdone = true;
    if (rev) {
      TANDEM_ASSIGN_OR_RETURN(rdone, s_.target_changes->Covers(rpos, rgoal));
    }
    if (fdone && rdone) return Ok();
    if (std::chrono::steady_clock::now() > deadline) {
      return Fail(Code::kDeadlineExceeded,
                  "the follower (`tandem start`, pid {}) did not catch up within {} s "
                  "(forward at {} of {}{})",
                  holder, timeout_s, fpos.text, fgoal.text,
                  rev ? fmt::format(", reverse at {} of {}", rpos.text, rgoal.text) : std::string());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

Result<std::pair<int64_t, double>> Migration::Lag(ChangeSource& from, std::string_view stream) {
  TANDEM_ASSIGN_OR_RETURN(Position pos, store().Position(stream));
  TANDEM_ASSIGN_OR_RETURN(int64_t pending, from.Pending(pos));
  double age = 0;
  if (pending > 0) {
    TANDEM_ASSIGN_OR_RETURN(auto next, from.Read(pos, 1));
    if (!next.changes.empty() && next.changes[0].at_micros > 0) {
      age = (NowMicros() - next.changes[0].at_micros) / 1e6;
    }
  }
  return std::make_pair(pending, age);
}

std::string Migration::SetupFingerprint() const {
  json j = {{"source", StripPassword(s_.cfg.source)}, {"target", StripPassword(s_.cfg.target)}};
  json tables = json::array();
  for (const auto& t : s_.tables) {
    tables.push_back({{"source", t.source_table()}, {"target", t.target_table()}, {"key", t.source_key()}});
  }
  j["tables"] = tables;
  return j.dump();
}

Status Migration::CheckSetup(const MigrationState& st) {
  if (st.setup.empty()) return Ok();  // started by an older tandem: nothing recorded
  auto was = json::parse(st.setup, nullptr, false);
  auto now = json::parse(SetupFingerprint());
  if (was.is_discarded()) return Ok();
  std::vector<std::string> changed;
  for (const char* side : {"source", "target"}) {
    if (was.value(side, "") != now.value(side, "")) {
      changed.push_back(fmt::format("the {} is now {} (the migration was started with {})", side,
                                    RedactUri(now.value(side, "")), RedactUri(was.value(side, ""))));
    }
  }
  auto find = [](const json& tables, const std::string& source) -> const json* {
    for (const auto& t : tables) {
      if (t.value("source", "") == source) return &t;
    }
    return nullptr;
  };
  for (const auto& t : was["tables"]) {
    std::string name = t.value("source", "");
    const json* n = find(now["tables"], name);
    if (!n) {
      changed.push_back(fmt::format("table {} was migrated and is no longer in the mapping", name));
      continue;
    }
    if ((*n)["target"] != t["target"]) {
      changed.push_back(fmt::format("table {} now lands in {} (it was {})", name,
                                    (*n)["target"].get<std::string>(), t["target"].get<std::string>()));
    }
    if ((*n)["key"] != t["key"]) {
      changed.push_back(fmt::format("table {} now has key {} (it was {})", name, (*n)["key"].dump(),
                                    t["key"].dump()));
    }
  }
  for (const auto& n : now["tables"]) {
    if (!find(was["tables"], n.value("source", ""))) {
      changed.push_back(fmt::format("table {} was not in the mapping when the migration started",
                                    n.value("source", "")));
    }
  }
  if (changed.empty()) return Ok();
  std::string all;
  for (const auto& c : changed) all += "\n  " + c;
  return Fail(Code::kFailedPrecondition,
              "the mapping no longer matches the migration in progress:{}\nrestore the mapping, "
              "or `tandem rollback` and `tandem start` again with the new one",
              all);
}

Result<FollowerLock> TakeSwitchLock(const std::string& state_path, bool wait) {
  bool got = false;
  std::string holder;
  TANDEM_ASSIGN_OR_RETURN(auto lock, FollowerLock::TryAcquire(state_path, got, holder, ".switch.lock"));
  for (int i = 0; !got && wait && i < 50; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    TANDEM_ASSIGN_OR_RETURN(lock, FollowerLock::TryAcquire(state_path, got, holder, ".switch.lock"));
  }
  if (!got) {
    return Fail(Code::kFailedPrecondition,
                "pid {} is running a switch, rollback or finalize of this migration; wait for it",
                holder);
  }
  return lock;
}

}  // namespace tandem::migration
