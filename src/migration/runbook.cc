#include "migration/runbook.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <fstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "capture/change_stream.h"
#include "copy/backfill.h"
#include "engines/sqlite/database.h"
#include "mapping/reverse.h"
#include "migration/follower_lock.h"
#include "migration/hooks.h"
#include "migration/progress.h"
#include "migration/session.h"
#include "verify/verifier.h"

namespace tandem::migration {

using nlohmann::json;

std::string_view PhaseName(Phase p) {
  switch (p) {
    case Phase::kNone: return "none";
    case Phase::kBackfill: return "backfill";
    case Phase::kDualWrite: return "dual-write";
    case Phase::kVerified: return "verified";
    case Phase::kReadNew: return "read-new";
    case Phase::kWriteNew: return "write-new";
    case Phase::kFinalized: return "finalized";
    case Phase::kStopped: return "stopped";
  }
  return "none";
}

Phase ParsePhase(std::string_view s) {
  for (Phase p : {Phase::kBackfill, Phase::kDualWrite, Phase::kVerified, Phase::kReadNew,
                  Phase::kWriteNew, Phase::kFinalized, Phase::kStopped}) {
    if (PhaseName(p) == s) return p;
  }
  return Phase::kNone;
}

namespace {

std::atomic<bool> g_stop{false};
extern "C" void OnStopSignal(int) { g_stop = true; }

double NowUnix() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

int64_t NowMicros() { return static_cast<int64_t>(NowUnix() * 1e6); }

std::string IsoTime(double unix_s) {
  std::time_t t = static_cast<std::time_t>(unix_s);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

bool Streaming(Phase p) {
  return p == Phase::kBackfill || p == Phase::kDualWrite || p == Phase::kVerified ||
         p == Phase::kReadNew || p == Phase::kWriteNew;
}

// Who reads and who writes in each phase, for hooks and status.
std::pair<std::string, std::string> ReadsWrites(Phase p) {
  switch (p) {
    case Phase::kReadNew: return {"new", "old"};
    case Phase::kWriteNew:
    case Phase::kFinalized: return {"new", "new"};
    default: return {"old", "old"};
  }
}

// A migration: the session, its phase in the state store and its two change streams.
class Migration {
 public:
  static Result<std::unique_ptr<Migration>> Open(const std::string& config_path) {
    auto m = std::unique_ptr<Migration>(new Migration());
    TANDEM_ASSIGN_OR_RETURN(m->s_, OpenSession(config_path, true));
    // tandem's own writes are never captured again (no echo between the streams).
    TANDEM_RETURN_IF_ERROR(m->s_.source_changes->SuppressOwnWrites(true));
    TANDEM_RETURN_IF_ERROR(m->s_.target_changes->SuppressOwnWrites(true));
    m->forward_ = std::make_unique<capture::ChangeStream>("forward", *m->s_.source,
                                                          *m->s_.source_changes, *m->s_.target,
                                                          m->s_.tables, *m->s_.state);
    return m;
  }

  Session& s() { return s_; }
  state::StateStore& state() { return *s_.state; }
  capture::ChangeStream& forward() { return *forward_; }

  Result<Phase> phase() {
    TANDEM_ASSIGN_OR_RETURN(auto v, state().Get("phase"));
    return v ? ParsePhase(*v) : Phase::kNone;
  }

  Status SetPhase(Phase p, std::string_view why) {
    TANDEM_RETURN_IF_ERROR(state().Put("phase", PhaseName(p)));
    return state().Log("phase", json{{"phase", PhaseName(p)}, {"why", why}}.dump());
  }

  Result<bool> Flag(std::string_view key) {
    TANDEM_ASSIGN_OR_RETURN(auto v, state().Get(key));
    return v && *v == "1";
  }

  // The reverse stream (new -> old), compiled against the schemas as they are now.
  Result<capture::ChangeStream*> reverse() {
    if (reverse_) return reverse_.get();
    TANDEM_ASSIGN_OR_RETURN(auto src, s_.source->Introspect());
    TANDEM_ASSIGN_OR_RETURN(auto tgt, s_.target->Introspect());
    TANDEM_ASSIGN_OR_RETURN(reverse_tables_, mapping::CompileAllReverse(s_.cfg, src, tgt));
    reverse_ = std::make_unique<capture::ChangeStream>("reverse", *s_.target, *s_.target_changes,
                                                       *s_.source, reverse_tables_, state());
    return reverse_.get();
  }

  std::string state_path() { return state().db().path(); }

  // Brings every installed stream up to the changes recorded so far: by waiting for the
  // follower (`tandem start`) when one runs, or by applying them here.
  Status CatchUp(double timeout_s) {
    TANDEM_ASSIGN_OR_RETURN(Phase p, phase());
    if (!Streaming(p)) return Ok();
    TANDEM_ASSIGN_OR_RETURN(bool rev, Flag("reverse_installed"));
    bool got = false;
    std::string holder;
    TANDEM_ASSIGN_OR_RETURN(auto lock, FollowerLock::TryAcquire(state_path(), got, holder));
    if (got) {
      if (p == Phase::kBackfill) {
        return Fail(Code::kFailedPrecondition,
                    "the backfill is not finished and no `tandem start` is running: run it first");
      }
      TANDEM_ASSIGN_OR_RETURN(auto f, forward().DrainToNow(timeout_s));
      if (!f.caught_up) return Fail(Code::kUnavailable, "the forward stream did not catch up within {} s", timeout_s);
      if (rev) {
        TANDEM_ASSIGN_OR_RETURN(auto* r, reverse());
        TANDEM_ASSIGN_OR_RETURN(auto rr, r->DrainToNow(timeout_s));
        if (!rr.caught_up) return Fail(Code::kUnavailable, "the reverse stream did not catch up within {} s", timeout_s);
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
      TANDEM_ASSIGN_OR_RETURN(Position fpos, state().Position("forward"));
      TANDEM_ASSIGN_OR_RETURN(Position rpos, state().Position("reverse"));
      TANDEM_ASSIGN_OR_RETURN(bool fdone, s_.source_changes->Covers(fpos, fgoal));
      bool rdone = true;
      if (rev) {
        TANDEM_ASSIGN_OR_RETURN(rdone, s_.target_changes->Covers(rpos, rgoal));
      }
      if (fdone && rdone) return Ok();
      if (std::chrono::steady_clock::now() > deadline) {
        return Fail(Code::kUnavailable,
                    "the follower (`tandem start`, pid {}) did not catch up within {} s "
                    "(forward at {} of {})",
                    holder, timeout_s, fpos.text, fgoal.text);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }

  // Changes not applied yet, and the age in seconds of the oldest of them.
  // Counts change rows that exist, not a distance between positions.
  Result<std::pair<int64_t, double>> Lag(ChangeSource& from, std::string_view stream) {
    TANDEM_ASSIGN_OR_RETURN(Position pos, state().Position(stream));
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

 private:
  Migration() = default;
  Session s_;
  std::unique_ptr<capture::ChangeStream> forward_, reverse_;
  std::vector<mapping::TableTransform> reverse_tables_;
};

// Writes are frozen on one side: by the user's freeze/unfreeze hooks, or for SQLite by a
// write lock tandem holds (other writers wait on it).
class Freeze {
 public:
  static Result<std::unique_ptr<Freeze>> Take(Migration& m, const std::string& side) {
    auto f = std::unique_ptr<Freeze>(new Freeze());
    f->cfg_ = &m.s().cfg;
    f->side_ = side;
    f->started_ = std::chrono::steady_clock::now();
    TANDEM_RETURN_IF_ERROR(m.state().Put("frozen", side));
    if (m.s().cfg.hooks.contains("freeze")) {
      TANDEM_RETURN_IF_ERROR(RunHook(m.s().cfg, "freeze", {{"TANDEM_SIDE", side}}));
      f->hook_ = true;
      return f;
    }
    const std::string& uri = side == "old" ? m.s().cfg.source : m.s().cfg.target;
    auto path = SqlitePath(uri, m.s().cfg.dir);
    if (!path) {
      return Fail(Code::kFailedPrecondition,
                  "cannot freeze writes on the {} database ({}): set hooks.freeze and "
                  "hooks.unfreeze in the mapping (they get TANDEM_SIDE=old|new)",
                  side, RedactUri(uri));
    }
    TANDEM_ASSIGN_OR_RETURN(auto db, sqlite::Database::Open(*path));
    TANDEM_RETURN_IF_ERROR(db.Exec("BEGIN IMMEDIATE"));
    f->lock_ = std::make_unique<sqlite::Database>(std::move(db));
    return f;
  }

  // Returns how long writes were frozen, in milliseconds.
  Result<double> Release(Migration& m) {
    if (released_) return ms_;
    released_ = true;
    if (lock_) {
      (void)lock_->Exec("ROLLBACK");
      lock_.reset();
    }
    if (hook_) TANDEM_RETURN_IF_ERROR(RunHook(*cfg_, "unfreeze", {{"TANDEM_SIDE", side_}}));
    ms_ = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started_).count();
    TANDEM_RETURN_IF_ERROR(m.state().Put("frozen", ""));
    return ms_;
  }

  ~Freeze() {
    if (lock_) (void)lock_->Exec("ROLLBACK");
    if (hook_ && !released_) (void)RunHook(*cfg_, "unfreeze", {{"TANDEM_SIDE", side_}});
  }

 private:
  Freeze() = default;
  const mapping::Config* cfg_ = nullptr;
  std::string side_;
  bool hook_ = false, released_ = false;
  double ms_ = 0;
  std::unique_ptr<sqlite::Database> lock_;
  std::chrono::steady_clock::time_point started_;
};

std::map<std::string, std::string> HookEnv(Phase p, std::string_view action) {
  auto [reads, writes] = ReadsWrites(p);
  return {{"TANDEM_PHASE", std::string(PhaseName(p))},
          {"TANDEM_READS", reads},
          {"TANDEM_WRITES", writes},
          {"TANDEM_ACTION", std::string(action)}};
}

double Percentile(std::vector<int64_t> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = std::min(v.size() - 1, static_cast<size_t>(q * (v.size() - 1) + 0.5));
  return v[i] / 1000.0;  // ms
}

Result<std::optional<json>> LastVerify(Migration& m) {
  TANDEM_ASSIGN_OR_RETURN(auto v, m.state().Get("last_verify"));
  if (!v) return std::optional<json>();
  auto j = json::parse(*v, nullptr, false);
  if (j.is_discarded()) return std::optional<json>();
  return std::optional<json>(j);
}

// A clean verify that started after the backfill finished.
Result<bool> CleanVerifySinceBackfill(Migration& m) {
  TANDEM_ASSIGN_OR_RETURN(auto lv, LastVerify(m));
  TANDEM_ASSIGN_OR_RETURN(auto done, m.state().Get("backfill_done_at"));
  if (!lv || !done) return false;
  return (*lv)["differences"].get<int64_t>() == 0 &&
         (*lv)["started_at"].get<double>() >= std::stod(*done);
}

Status LagGuard(Migration& m, const SwitchOptions& o) {
  TANDEM_ASSIGN_OR_RETURN(auto lag, m.Lag(*m.s().source_changes, "forward"));
  if (lag.first > o.max_lag && !o.force) {
    return Fail(Code::kFailedPrecondition,
                "the change stream is {} changes behind (limit {}): let `tandem start` catch up, "
                "or pass --force",
                lag.first, o.max_lag);
  }
  return Ok();
}

}  // namespace

// ---- start ------------------------------------------------------------------------------

Result<int> Start(const StartOptions& o, FILE* out, FILE* err) {
  TANDEM_ASSIGN_OR_RETURN(auto m, Migration::Open(o.config_path));
  bool got = false;
  std::string holder;
  TANDEM_ASSIGN_OR_RETURN(auto lock, FollowerLock::TryAcquire(m->state_path(), got, holder));
  // A command that drains the streams itself (verify, switch) holds the lock for a moment
  // when no follower runs; a follower starting then waits for it rather than refusing.
  for (int i = 0; !got && i < 50; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    TANDEM_ASSIGN_OR_RETURN(lock, FollowerLock::TryAcquire(m->state_path(), got, holder));
  }
  if (!got) {
    return Fail(Code::kFailedPrecondition,
                "pid {} is already following this migration (another `tandem start`, or a command draining its streams)", holder);
  }
  TANDEM_ASSIGN_OR_RETURN(Phase phase, m->phase());
  if (phase == Phase::kFinalized) {
    std::fprintf(out, "the migration is finalized; nothing to follow\n");
    return kExitOk;
  }
  if (phase == Phase::kNone || phase == Phase::kStopped) {
    TANDEM_RETURN_IF_ERROR(m->state().ResetBackfill());
    TANDEM_RETURN_IF_ERROR(m->state().PutPosition("forward", Position{}));
    TANDEM_RETURN_IF_ERROR(m->state().PutPosition("reverse", Position{}));
    TANDEM_RETURN_IF_ERROR(m->state().Put("reverse_installed", "0"));
    TANDEM_RETURN_IF_ERROR(m->state().Put("capture_installed", "0"));
    TANDEM_RETURN_IF_ERROR(m->state().Put("started_at", std::to_string(NowUnix())));
    TANDEM_RETURN_IF_ERROR(m->SetPhase(Phase::kBackfill, "tandem start"));
    phase = Phase::kBackfill;
  }
  g_stop = false;
  std::signal(SIGINT, OnStopSignal);
  std::signal(SIGTERM, OnStopSignal);

  // Recent lag samples for the summary, bounded so a follower running for weeks does not grow.
  std::vector<int64_t> lags;
  auto record = [&lags](const std::vector<int64_t>& more) {
    lags.insert(lags.end(), more.begin(), more.end());
    if (lags.size() > 200000) lags.erase(lags.begin(), lags.end() - 100000);
  };
  if (phase == Phase::kBackfill) {
    // Capture starts before the first row is copied. Installing takes locks on every captured
    // table (DDL), so it runs once, not on every resume, and retries when it loses a deadlock
    // against the application.
    TANDEM_ASSIGN_OR_RETURN(bool installed, m->Flag("capture_installed"));
    for (int attempt = 0; !installed; ++attempt) {
      auto st = m->forward().Install();
      if (st) break;
      if (st.error().code != Code::kAborted || attempt >= 5) return std::unexpected(st.error());
      EmitEvent(err, "retry", json{{"error", st.error().message}}.dump());
      std::this_thread::sleep_for(std::chrono::milliseconds(200 << attempt));
    }
    TANDEM_RETURN_IF_ERROR(m->state().Put("capture_installed", "1"));
    auto progress = MakeProgress(err);
    copy::Backfill backfill = m->s().MakeBackfill(*progress);
    TANDEM_RETURN_IF_ERROR(backfill.PrepareTargets());
    TANDEM_RETURN_IF_ERROR(backfill.Plan());
    auto chunk_rule = [&](std::string_view table, const Row& key) {
      return backfill.ChunkDone(table, key);
    };
    auto reports = backfill.Run([&]() -> Status {
      if (g_stop) return Fail(Code::kAborted, "interrupted");
      TANDEM_ASSIGN_OR_RETURN(Phase now, m->phase());
      if (!Streaming(now)) return Fail(Code::kAborted, "rolled back");
      TANDEM_ASSIGN_OR_RETURN(auto r, m->forward().Poll(1000000, chunk_rule));
      record(r.lag_micros);
      return Ok();
    });
    if (!reports) {
      if (g_stop) {
        std::fprintf(out, "stopped during the backfill; run `tandem start` again to resume\n");
        return kExitOk;
      }
      // `tandem rollback` before any switch stops the migration and removes capture, which
      // can also make the stream fail just before the phase says so.
      TANDEM_ASSIGN_OR_RETURN(Phase now, m->phase());
      if (!Streaming(now)) {
        std::fprintf(out, "the migration was rolled back during the backfill (phase %s); stopped\n",
                     std::string(PhaseName(now)).c_str());
        return kExitOk;
      }
      return std::unexpected(reports.error());
    }
    TANDEM_ASSIGN_OR_RETURN(auto drained, m->forward().DrainToNow(3600));
    (void)drained;
    TANDEM_RETURN_IF_ERROR(m->state().Put("backfill_done_at", std::to_string(NowUnix())));
    TANDEM_RETURN_IF_ERROR(m->SetPhase(Phase::kDualWrite, "backfill done, stream caught up"));
    int64_t rows = 0, rejected = 0;
    for (const auto& r : *reports) rows += r.source_rows, rejected += r.rejected;
    std::fprintf(out, "backfill done: %lld rows copied, %lld rejected; phase dual-write\n",
                 static_cast<long long>(rows), static_cast<long long>(rejected));
  }

  // Follow: forward always (stray writes on old land too), reverse once installed.
  auto last_prune = std::chrono::steady_clock::now();
  int64_t applied = 0;
  for (;;) {
    if (g_stop) break;
    TANDEM_ASSIGN_OR_RETURN(phase, m->phase());
    if (!Streaming(phase)) break;
    bool caught_up = true;
    auto step = [&]() -> Status {
      TANDEM_ASSIGN_OR_RETURN(auto f, m->forward().Poll(5000));
      caught_up &= f.caught_up;
      applied += static_cast<int64_t>(f.applied);
      record(f.lag_micros);
      TANDEM_ASSIGN_OR_RETURN(bool rev, m->Flag("reverse_installed"));
      if (rev) {
        TANDEM_ASSIGN_OR_RETURN(auto* r, m->reverse());
        TANDEM_ASSIGN_OR_RETURN(auto rr, r->Poll(5000));
        caught_up &= rr.caught_up;
        applied += static_cast<int64_t>(rr.applied);
        record(rr.lag_micros);
      }
      return Ok();
    };
    if (auto st = step(); !st) {
      // A busy or frozen side is a reason to wait, not to stop following.
      if (st.error().code == Code::kAborted || st.error().code == Code::kUnavailable) {
        EmitEvent(err, "retry", json{{"error", st.error().message}}.dump());
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        continue;
      }
      return std::unexpected(st.error());
    }
    if (caught_up && o.until_synced) break;
    // Applied changes are pruned from both change tables now and then (never while frozen:
    // the freeze lock would make the prune wait).
    if (std::chrono::steady_clock::now() - last_prune > std::chrono::seconds(5)) {
      last_prune = std::chrono::steady_clock::now();
      auto frozen = m->state().Get("frozen");
      if (frozen && (!*frozen || frozen->value().empty())) {
        if (auto pos = m->state().Position("forward")) (void)m->s().source_changes->Prune(*pos);
        auto rev = m->Flag("reverse_installed");
        if (rev && *rev) {
          if (auto pos = m->state().Position("reverse")) (void)m->s().target_changes->Prune(*pos);
        }
      }
    }
    if (caught_up) std::this_thread::sleep_for(std::chrono::duration<double>(o.idle_sleep_s));
  }
  json summary = {{"applied", applied},
                  {"lag_samples", lags.size()},
                  {"lag_p50_ms", Percentile(lags, 0.5)},
                  {"lag_p99_ms", Percentile(lags, 0.99)},
                  {"lag_max_ms", Percentile(lags, 1.0)}};
  (void)m->state().Log("follow", summary.dump());
  std::fprintf(out,
               "stopped following (phase %s): %lld keys applied; change lag p50 %.1f ms, p99 "
               "%.1f ms over %zu changes\n",
               std::string(PhaseName(phase)).c_str(), static_cast<long long>(applied),
               Percentile(lags, 0.5), Percentile(lags, 0.99), lags.size());
  return kExitOk;
}

// ---- verify -----------------------------------------------------------------------------

Result<int> Verify(const VerifyOptions& o, FILE* out, FILE* err) {
  TANDEM_ASSIGN_OR_RETURN(auto m, Migration::Open(o.config_path));
  double started = NowUnix();
  TANDEM_RETURN_IF_ERROR(m->CatchUp(300));
  verify::Verifier v(m->s().tables, *m->s().source, *m->s().target, m->state(),
                     {.range_rows = m->s().cfg.chunk_rows,
                      .batch_rows = static_cast<size_t>(m->s().cfg.batch_rows),
                      .catch_up = [&]() { return m->CatchUp(300); }});
  TANDEM_ASSIGN_OR_RETURN(auto report, v.Run());
  for (const auto& t : report.tables) {
    std::string name = t.source_table == t.target_table ? t.source_table
                                                        : t.source_table + " -> " + t.target_table;
    std::fprintf(out, "%-30s %10lld rows compared, %lld rejected (not expected), %zu difference%s\n",
                 name.c_str(), static_cast<long long>(t.source_rows),
                 static_cast<long long>(t.rejected), t.differences.size(),
                 t.differences.size() == 1 ? "" : "s");
    int shown = 0;
    for (const auto& d : t.differences) {
      if (shown++ >= o.max_print) {
        std::fprintf(out, "    ... %zu more\n", t.differences.size() - o.max_print);
        break;
      }
      std::fprintf(out, "    %s\n", d.Describe().c_str());
    }
  }
  std::fprintf(out, "%lld difference%s; %lld transient (writes in flight, gone on re-check) in %.2f s\n",
               static_cast<long long>(report.differences), report.differences == 1 ? "" : "s",
               static_cast<long long>(report.transient), report.seconds);
  json j = report.ToJson();
  j["started_at"] = started;
  if (!o.json_path.empty()) {
    std::ofstream f(o.json_path);
    f << j.dump(2) << "\n";
    if (!f.flush()) return Fail(Code::kFailedPrecondition, "cannot write {}", o.json_path);
  }
  json brief = {{"started_at", started},
                {"at", IsoTime(NowUnix())},
                {"differences", report.differences},
                {"transient", report.transient}};
  TANDEM_RETURN_IF_ERROR(m->state().Put("last_verify", brief.dump()));
  TANDEM_ASSIGN_OR_RETURN(Phase p, m->phase());
  if (p == Phase::kDualWrite && report.differences == 0) {
    TANDEM_RETURN_IF_ERROR(m->SetPhase(Phase::kVerified, "verify found 0 differences"));
  } else if (p == Phase::kVerified && report.differences > 0) {
    TANDEM_RETURN_IF_ERROR(m->SetPhase(Phase::kDualWrite, "verify found differences"));
  }
  (void)err;
  return report.differences ? kExitProblems : kExitOk;
}

// ---- status -----------------------------------------------------------------------------

Result<int> ShowStatus(const std::string& config_path, bool as_json, FILE* out) {
  TANDEM_ASSIGN_OR_RETURN(auto m, Migration::Open(config_path));
  TANDEM_ASSIGN_OR_RETURN(Phase p, m->phase());
  auto [reads, writes] = ReadsWrites(p);
  json j = {{"phase", PhaseName(p)}, {"reads", reads}, {"writes", writes}};
  TANDEM_ASSIGN_OR_RETURN(auto totals, m->state().Totals());
  for (const auto& t : m->s().tables) {
    json jt = {{"table", t.source_table()}, {"target", t.target_table()}};
    for (const auto& x : totals) {
      if (x.table != t.source_table()) continue;
      jt["chunks"] = x.chunks;
      jt["chunks_done"] = x.chunks_done;
      jt["rows_copied"] = x.written;
      jt["rows_read"] = x.read;
    }
    TANDEM_ASSIGN_OR_RETURN(int64_t total, m->s().source->Count(t.source_table(), t.source_key(), {}));
    TANDEM_ASSIGN_OR_RETURN(int64_t rejects, m->state().RejectCount(t.source_table()));
    jt["source_rows"] = total;
    jt["rejects"] = rejects;
    j["tables"].push_back(jt);
  }
  if (Streaming(p)) {
    TANDEM_ASSIGN_OR_RETURN(auto lag, m->Lag(*m->s().source_changes, "forward"));
    j["forward"] = {{"lag_changes", lag.first}, {"lag_seconds", lag.second}};
    TANDEM_ASSIGN_OR_RETURN(bool rev, m->Flag("reverse_installed"));
    if (rev) {
      TANDEM_ASSIGN_OR_RETURN(auto rlag, m->Lag(*m->s().target_changes, "reverse"));
      j["reverse"] = {{"lag_changes", rlag.first}, {"lag_seconds", rlag.second}};
    }
  }
  TANDEM_ASSIGN_OR_RETURN(auto lv, LastVerify(*m));
  if (lv) j["last_verify"] = *lv;
  TANDEM_ASSIGN_OR_RETURN(auto follower, FollowerLock::Holder(m->state_path()));
  j["follower"] = follower ? json(*follower) : json(nullptr);
  if (as_json) {
    std::fprintf(out, "%s\n", j.dump(2).c_str());
    return kExitOk;
  }
  std::fprintf(out, "phase: %s (reads %s, writes %s)%s\n", std::string(PhaseName(p)).c_str(),
               reads.c_str(), writes.c_str(),
               follower ? fmt::format("; followed by pid {}", *follower).c_str() : "; no `tandem start` running");
  for (const auto& t : j["tables"]) {
    std::fprintf(out, "  %-28s %10lld / %-10lld rows copied  chunks %d/%d  rejects %lld\n",
                 (t["table"].get<std::string>() + " -> " + t["target"].get<std::string>()).c_str(),
                 static_cast<long long>(t.value("rows_read", 0LL)),
                 static_cast<long long>(t["source_rows"].get<int64_t>()), t.value("chunks_done", 0),
                 t.value("chunks", 0), static_cast<long long>(t["rejects"].get<int64_t>()));
  }
  for (const char* s : {"forward", "reverse"}) {
    if (!j.contains(s)) continue;
    std::fprintf(out, "  %s stream: lag %lld changes, %.1f s\n", s,
                 static_cast<long long>(j[s]["lag_changes"].get<int64_t>()),
                 j[s]["lag_seconds"].get<double>());
  }
  if (lv) {
    std::fprintf(out, "  last verify: %s, %lld differences\n", (*lv)["at"].get<std::string>().c_str(),
                 static_cast<long long>((*lv)["differences"].get<int64_t>()));
  } else {
    std::fprintf(out, "  last verify: never\n");
  }
  return kExitOk;
}

// ---- switches ---------------------------------------------------------------------------

Result<int> SwitchReads(const SwitchOptions& o, FILE* out) {
  TANDEM_ASSIGN_OR_RETURN(auto m, Migration::Open(o.config_path));
  TANDEM_ASSIGN_OR_RETURN(Phase p, m->phase());
  if (p != Phase::kDualWrite && p != Phase::kVerified) {
    return Fail(Code::kFailedPrecondition, "switch reads needs phase dual-write or verified; it is {}",
                PhaseName(p));
  }
  TANDEM_ASSIGN_OR_RETURN(bool clean, CleanVerifySinceBackfill(*m));
  if (!clean && !o.force) {
    return Fail(Code::kFailedPrecondition,
                "no clean `tandem verify` since the backfill finished: run it (or pass --force)");
  }
  TANDEM_RETURN_IF_ERROR(LagGuard(*m, o));
  TANDEM_RETURN_IF_ERROR(RunHook(m->s().cfg, "reads", HookEnv(Phase::kReadNew, "switch-reads")));
  TANDEM_RETURN_IF_ERROR(m->SetPhase(Phase::kReadNew, "switch reads"));
  std::fprintf(out, "reads switched to new; phase read-new\n");
  return kExitOk;
}

Result<int> SwitchWrites(const SwitchOptions& o, FILE* out) {
  TANDEM_ASSIGN_OR_RETURN(auto m, Migration::Open(o.config_path));
  TANDEM_ASSIGN_OR_RETURN(Phase p, m->phase());
  bool allowed = p == Phase::kReadNew || (o.force && (p == Phase::kDualWrite || p == Phase::kVerified));
  if (!allowed) {
    return Fail(Code::kFailedPrecondition,
                "switch writes needs phase read-new (switch reads first); it is {}", PhaseName(p));
  }
  // The reverse stream must be able to run before any write goes to new.
  TANDEM_ASSIGN_OR_RETURN(auto* reverse, m->reverse());
  TANDEM_RETURN_IF_ERROR(LagGuard(*m, o));

  TANDEM_ASSIGN_OR_RETURN(auto freeze, Freeze::Take(*m, "old"));
  auto cutover = [&]() -> Status {
    TANDEM_RETURN_IF_ERROR(m->CatchUp(o.drain_timeout_s));
    TANDEM_RETURN_IF_ERROR(reverse->Install());
    TANDEM_ASSIGN_OR_RETURN(bool installed, m->Flag("reverse_installed"));
    if (!installed) {
      TANDEM_ASSIGN_OR_RETURN(Position last, m->s().target_changes->Last());
      TANDEM_RETURN_IF_ERROR(m->state().PutPosition("reverse", last));
      TANDEM_RETURN_IF_ERROR(m->state().Put("reverse_installed", "1"));
    }
    TANDEM_RETURN_IF_ERROR(m->SetPhase(Phase::kWriteNew, "switch writes"));
    if (auto st = RunHook(m->s().cfg, "writes", HookEnv(Phase::kWriteNew, "switch-writes")); !st) {
      (void)m->SetPhase(Phase::kReadNew, "writes hook failed");
      return st;
    }
    return Ok();
  };
  if (auto st = cutover(); !st) {
    (void)freeze->Release(*m);
    return std::unexpected(st.error().Context("switch writes (aborted, writes stay on old)"));
  }
  TANDEM_ASSIGN_OR_RETURN(double ms, freeze->Release(*m));
  TANDEM_RETURN_IF_ERROR(m->state().Log("switch-writes", json{{"freeze_ms", ms}}.dump()));
  std::fprintf(out, "writes switched to new; phase write-new; writes on old were frozen for %.0f ms\n", ms);
  return kExitOk;
}

Result<int> Rollback(const SwitchOptions& o, FILE* out) {
  TANDEM_ASSIGN_OR_RETURN(auto m, Migration::Open(o.config_path));
  TANDEM_ASSIGN_OR_RETURN(Phase p, m->phase());
  switch (p) {
    case Phase::kWriteNew: {
      TANDEM_ASSIGN_OR_RETURN(auto freeze, Freeze::Take(*m, "new"));
      auto back = [&]() -> Status {
        TANDEM_RETURN_IF_ERROR(m->CatchUp(o.drain_timeout_s));
        TANDEM_RETURN_IF_ERROR(m->SetPhase(Phase::kReadNew, "rollback of switch writes"));
        if (auto st = RunHook(m->s().cfg, "writes", HookEnv(Phase::kReadNew, "rollback")); !st) {
          (void)m->SetPhase(Phase::kWriteNew, "writes hook failed during rollback");
          return st;
        }
        return Ok();
      };
      if (auto st = back(); !st) {
        (void)freeze->Release(*m);
        return std::unexpected(st.error().Context("rollback (aborted, writes stay on new)"));
      }
      TANDEM_ASSIGN_OR_RETURN(double ms, freeze->Release(*m));
      TANDEM_RETURN_IF_ERROR(RunHook(m->s().cfg, "rollback", HookEnv(Phase::kReadNew, "rollback")));
      std::fprintf(out, "writes rolled back to old; phase read-new; writes on new were frozen for %.0f ms\n", ms);
      return kExitOk;
    }
    case Phase::kReadNew: {
      TANDEM_ASSIGN_OR_RETURN(bool clean, CleanVerifySinceBackfill(*m));
      Phase back = clean ? Phase::kVerified : Phase::kDualWrite;
      TANDEM_RETURN_IF_ERROR(RunHook(m->s().cfg, "reads", HookEnv(back, "rollback")));
      TANDEM_RETURN_IF_ERROR(m->SetPhase(back, "rollback of switch reads"));
      TANDEM_RETURN_IF_ERROR(RunHook(m->s().cfg, "rollback", HookEnv(back, "rollback")));
      std::fprintf(out, "reads rolled back to old; phase %s\n", std::string(PhaseName(back)).c_str());
      return kExitOk;
    }
    case Phase::kBackfill:
    case Phase::kDualWrite:
    case Phase::kVerified: {
      // Nothing switched yet: the application never left old. Stop and remove capture.
      TANDEM_RETURN_IF_ERROR(m->SetPhase(Phase::kStopped, "rollback before any switch"));
      TANDEM_RETURN_IF_ERROR(m->s().source_changes->Remove());
      TANDEM_ASSIGN_OR_RETURN(bool rev, m->Flag("reverse_installed"));
      if (rev) TANDEM_RETURN_IF_ERROR(m->s().target_changes->Remove());
      TANDEM_RETURN_IF_ERROR(RunHook(m->s().cfg, "rollback", HookEnv(Phase::kStopped, "rollback")));
      std::fprintf(out, "migration stopped and capture removed; the target's rows are left in place "
                        "(drop them, or run `tandem start` to begin again)\n");
      return kExitOk;
    }
    default:
      return Fail(Code::kFailedPrecondition, "nothing to roll back in phase {}", PhaseName(p));
  }
}

Result<int> Finalize(const SwitchOptions& o, FILE* out) {
  TANDEM_ASSIGN_OR_RETURN(auto m, Migration::Open(o.config_path));
  TANDEM_ASSIGN_OR_RETURN(Phase p, m->phase());
  if (p != Phase::kWriteNew) {
    return Fail(Code::kFailedPrecondition,
                "finalize needs phase write-new (both reads and writes on new); it is {}", PhaseName(p));
  }
  TANDEM_RETURN_IF_ERROR(m->CatchUp(o.drain_timeout_s));
  TANDEM_RETURN_IF_ERROR(m->SetPhase(Phase::kFinalized, "finalize"));
  TANDEM_RETURN_IF_ERROR(m->s().source_changes->Remove());
  TANDEM_RETURN_IF_ERROR(m->s().target_changes->Remove());
  TANDEM_RETURN_IF_ERROR(RunHook(m->s().cfg, "finalize", HookEnv(Phase::kFinalized, "finalize")));
  std::fprintf(out, "finalized: capture removed from both sides; the old database is retired\n");
  return kExitOk;
}

}  // namespace tandem::migration
