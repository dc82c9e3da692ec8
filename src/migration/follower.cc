// `tandem start`: capture, backfill, then follow both change streams (DESIGN.md, "Change
// capture and the backfill race"). One follower per migration (the follower lock).
#include <atomic>
#include <chrono>
#include <csignal>
#include <functional>
#include <set>
#include <thread>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "copy/backfill.h"
#include "migration/balance.h"
#include "migration/commands.h"
#include "engines/reconnect.h"
#include "migration/migration.h"
#include "migration/progress.h"
#include "migration/runbook.h"

namespace tandem::migration {

using nlohmann::json;

namespace {

std::atomic<bool> g_stop{false};
extern "C" void OnStopSignal(int) { g_stop = true; }


double Percentile(std::vector<int64_t> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = std::min(v.size() - 1, static_cast<size_t>(q * (v.size() - 1) + 0.5));
  return v[i] / 1000.0;  // ms
}

// True when the migration is being stopped or finalized (its capture goes away under the
// follower) or no longer streams: the follower then ends cleanly instead of failing.
bool Ending(const MigrationState& st) {
  return !Streaming(st.phase) || st.step == Step::kStop ||
         (st.step == Step::kFinalize && st.stage == Stage::kRemoving);
}

// Installs forward capture, once per migration: the intent is recorded first, so a kill
// during the install leaves a state whose rollback removes what was installed.
Status InstallForward(Migration& m, MigrationState& st, FILE* err) {
  // A kill during the install (MariaDB DDL commits table by table) leaves capture_old set
  // but not ready: the install runs again (it is idempotent) before any row is copied.
  if (st.capture_old_ready) return Ok();
  for (int attempt = 0;; ++attempt) {
    st.capture_old = true;
    TANDEM_RETURN_IF_ERROR(m.Save(st, "installing capture on old"));
    CrashPoint("start:installing");
    auto is = m.forward().Install();
    if (is) break;
    // Installing takes locks on every captured table (DDL): a lost deadlock is retried.
    if (is.error().code != Code::kAborted || attempt >= 5) return std::unexpected(is.error());
    EmitEvent(err, "retry", json{{"error", is.error().message}}.dump());
    std::this_thread::sleep_for(std::chrono::milliseconds(200 << attempt));
  }
  st.capture_old_ready = true;
  return m.Save(st, "capture installed on old");
}

// Says that the forward stream holds a table: a "schema_changed" event on `err`, the message
// on `out` (and in the state store's hold, for `tandem status`).
void ReportHolds(Migration& m, FILE* out, FILE* err) {
  m.set_on_hold([out, err](std::string_view table, const std::vector<mapping::ColumnChange>& changes,
                           const std::string& message) {
    json jc = json::array();
    for (const auto& c : changes) {
      jc.push_back({{"what", mapping::ChangeName(c.what)}, {"column", c.column}, {"was", c.was},
                    {"was_type", c.was_type}, {"now_type", c.now_type}});
    }
    EmitEvent(err, "schema_changed", json{{"table", table}, {"changes", jc}, {"message", message}}.dump());
    std::fprintf(out, "HELD: %s\n", message.c_str());
    std::fflush(out);
  });
}

// At start, the holds meet the mapping as it is now: a table that still does not fit is held
// again (with what differs now); one that fits is released, its kept changes applied, and,
// unless only columns were dropped, listed to be copied again. Then every listed table's
// chunk plan is reset (after switch writes the application writes to new: no copy then).
Status ResolveHolds(Migration& m, const MigrationState& st, FILE* out) {
  std::set<std::string> still;
  for (const auto& [table, changes] : m.s().drifted) still.insert(table);
  TANDEM_ASSIGN_OR_RETURN(auto holds, m.store().Holds("forward"));
  TANDEM_ASSIGN_OR_RETURN(auto recopy, RecopyTables(m.store()));
  bool can_copy = st.phase == Phase::kBackfill || st.phase == Phase::kDualWrite ||
                  st.phase == Phase::kVerified || st.phase == Phase::kReadNew;
  for (const auto& h : holds) {
    if (still.contains(h.table) || !m.s().FindTable(h.table)) continue;
    auto body = json::parse(h.body, nullptr, false);
    bool only_drops = !body.is_discarded() && body.value("only_drops", false);
    if (!only_drops && can_copy && recopy.insert(h.table).second) {
      TANDEM_RETURN_IF_ERROR(PutRecopyTables(m.store(), recopy));
    }
    TANDEM_RETURN_IF_ERROR(m.forward().Release(h.table));
    std::fprintf(out, "table %s: the mapping fits its columns again; %lld kept changes are applied%s\n",
                 h.table.c_str(), static_cast<long long>(h.held_keys),
                 only_drops ? "" : can_copy ? " and the table is copied again" : "");
  }
  for (const auto& [table, changes] : m.s().drifted) TANDEM_RETURN_IF_ERROR(m.forward().Hold(table, changes));
  if (recopy.empty()) return Ok();
  if (!can_copy) {
    std::fprintf(out, "tables not copied again, as the application writes to new since `switch writes`:");
    for (const auto& t : recopy) std::fprintf(out, " %s", t.c_str());
    std::fprintf(out, " (their columns added on new are filled by the changes applied from now on)\n");
  } else {
    for (const auto& t : recopy) TANDEM_RETURN_IF_ERROR(m.store().ResetTableBackfill(t));
  }
  return PutRecopyTables(m.store(), {});
}

// The tables to copy (again) now: those not held whose chunk plan is missing or unfinished.
std::vector<mapping::TableTransform> TablesToCopy(Migration& m, const std::vector<state::TableTotals>& totals) {
  std::vector<mapping::TableTransform> out;
  for (const auto& t : m.s().tables) {
    if (m.forward().Held(t.source_table())) continue;
    bool done = false;
    for (const auto& x : totals) {
      if (x.table == t.source_table()) done = x.chunks > 0 && x.chunks_done == x.chunks;
    }
    if (!done) out.push_back(t);
  }
  return out;
}

// Keeps the object failures of tables outside `copied` that the build of `copied` forgot.
Status MergeObjectFailures(state::StateStore& store, const std::string& before,
                           const std::vector<mapping::TableTransform>& copied) {
  auto was = json::parse(before.empty() ? "[]" : before, nullptr, false);
  if (!was.is_array() || was.empty()) return Ok();
  TANDEM_ASSIGN_OR_RETURN(auto now_text, store.Get(copy::kSchemaFailuresKey));
  auto now = json::parse(now_text.value_or("[]"), nullptr, false);
  if (!now.is_array()) now = json::array();
  for (const auto& f : was) {
    bool ours = false;
    for (const auto& t : copied) ours |= f.value("table", "") == t.target_table();
    if (!ours) now.push_back(f);
  }
  return store.Put(copy::kSchemaFailuresKey, now.dump());
}

// The follower proper, once it holds the follower lock.
Result<int> Follow(const StartOptions& o, std::unique_ptr<Migration>& m, FILE* out, FILE* err);

}  // namespace

// A follower that stops on an error leaves the error in the state store, so that `status`
// shows a stopped follower with its reason instead of a lag that only grows.
Result<int> Start(const StartOptions& o, FILE* out, FILE* err) {
  TANDEM_ASSIGN_OR_RETURN(auto m, Migration::Open(o.config_path, /*for_start=*/true));
  m->s().jobs_flag = o.jobs;
  // A switch killed half way is finished or undone first (before this process follows: the
  // recovery may drain the streams itself); one running now needs this follower to drain, so
  // it is left alone.
  TANDEM_RETURN_IF_ERROR(RecoverInterrupted(*m, out, /*allow_running=*/true));
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
                "pid {} is already following this migration (another `tandem start`, or a command "
                "draining its streams)",
                holder);
  }
  (void)m->store().Put(kFollowerErrorKey, "");
  auto r = Follow(o, m, out, err);
  if (!r) {
    json e = {{"at", NowUnix()}, {"pid", static_cast<int64_t>(::getpid())}, {"error", r.error().message}};
    (void)m->store().Put(kFollowerErrorKey, e.dump());
  }
  return r;
}

namespace {

Result<int> Follow(const StartOptions& o, std::unique_ptr<Migration>& m, FILE* out, FILE* err) {
  TANDEM_ASSIGN_OR_RETURN(auto st, m->Load());
  if (st.phase == Phase::kFinalized) {
    std::fprintf(out, "the migration is finalized; nothing to follow\n");
    return kExitOk;
  }
  if (st.phase == Phase::kNone || st.phase == Phase::kStopped) {
    TANDEM_RETURN_IF_ERROR(m->store().ResetBackfill());
    TANDEM_RETURN_IF_ERROR(m->store().PutPosition("forward", Position{}));
    TANDEM_RETURN_IF_ERROR(m->store().PutPosition("reverse", Position{}));
    st = MigrationState{};
    st.phase = Phase::kBackfill;
    st.started_at = NowUnix();
    st.setup = m->SetupFingerprint();
    TANDEM_RETURN_IF_ERROR(m->Save(st, "tandem start"));
  } else {
    TANDEM_RETURN_IF_ERROR(m->CheckSetup(st));
  }
  ReportHolds(*m, out, err);
  TANDEM_RETURN_IF_ERROR(ResolveHolds(*m, st, out));
  g_stop = false;
  std::signal(SIGINT, OnStopSignal);
  std::signal(SIGTERM, OnStopSignal);

  // Recent lag samples for the summary, bounded so a follower running for weeks does not grow.
  std::vector<int64_t> lags;
  auto record = [&lags](const std::vector<int64_t>& more) {
    lags.insert(lags.end(), more.begin(), more.end());
    if (lags.size() > 200000) lags.erase(lags.begin(), lags.end() - 100000);
  };
  // A lost connection (the server restarted, a DBA killed tandem's session) is re-opened with
  // backoff and the interrupted chunk or change batch redone; each attempt is an event and the
  // last one is kept in the state store for `status`.
  const Side sides[] = {{"source", m->s().source.get()}, {"target", m->s().target.get()}};
  ReconnectObserver on_reconnect = ReportReconnects(err, m->store(), "start");
  Backoff backoff{.cancelled = [] { return g_stop.load(); }};
  auto reconnecting = [&](const std::function<Status()>& unit) {
    return RunReconnecting(unit, sides, backoff, on_reconnect);
  };
  if (st.phase != Phase::kBackfill && !Ending(st) && st.phase != Phase::kFinalized) {
    // Objects that failed to build before (the user fixed the data or the mapping since).
    TANDEM_ASSIGN_OR_RETURN(auto failed, m->store().Get(copy::kSchemaFailuresKey));
    if (failed && *failed != "[]") {
      auto progress = MakeProgress(err);
      copy::Backfill build = m->s().MakeBackfill(*progress, on_reconnect);
      TANDEM_RETURN_IF_ERROR(build.BuildAllObjects());
      std::fprintf(out, "%s", build.object_failures().empty()
                                  ? "every mapped index, check and foreign key is built\n"
                                  : DescribeObjectFailures(build.object_failures()).c_str());
    }
  }
  // Between the chunks of a backfill (or of a table copied again): stop when asked or rolled
  // back, else apply the forward stream under the chunk rule of that backfill.
  auto between_chunks = [&](copy::Backfill& b) {
    return [&]() -> Status {
      if (g_stop) return Fail(Code::kAborted, "interrupted");
      TANDEM_ASSIGN_OR_RETURN(auto now, m->Load());
      if (Ending(now)) return Fail(Code::kAborted, "rolled back");
      auto chunk_rule = [&b](std::string_view table, const Row& key) {
        return b.ChunkDone(table, key);
      };
      return reconnecting([&]() -> Status {
        TANDEM_ASSIGN_OR_RETURN(auto r, m->forward().Poll(1000000, chunk_rule));
        record(r.lag_micros);
        return Ok();
      });
    };
  };
  if (st.phase == Phase::kBackfill) {
    // Capture starts before the first row is copied.
    TANDEM_RETURN_IF_ERROR(InstallForward(*m, st, err));
    auto progress = MakeProgress(err);
    // A held table is copied once its mapping fits again (by the start after the edit).
    std::vector<mapping::TableTransform> copied;
    for (const auto& t : m->s().tables) {
      if (!m->forward().Held(t.source_table())) copied.push_back(t);
    }
    copy::Backfill backfill = m->s().MakeBackfill(*progress, on_reconnect, &copied);
    TANDEM_RETURN_IF_ERROR(backfill.PrepareTargets());
    TANDEM_RETURN_IF_ERROR(backfill.Plan());
    auto reports = backfill.Run(between_chunks(backfill));
    if (reports && !backfill.object_failures().empty()) {
      std::fprintf(out, "%s", DescribeObjectFailures(backfill.object_failures()).c_str());
    }
    if (!reports) {
      if (g_stop) {
        std::fprintf(out, "stopped during the backfill; run `tandem start` again to resume\n");
        return kExitOk;
      }
      // `tandem rollback` before any switch stops the migration and removes capture, which
      // can also make the stream fail just before the phase says so.
      TANDEM_ASSIGN_OR_RETURN(auto now, m->Load());
      if (Ending(now)) {
        std::fprintf(out, "the migration was rolled back during the backfill (phase %s); stopped\n",
                     std::string(PhaseName(now.phase)).c_str());
        return kExitOk;
      }
      return std::unexpected(reports.error());
    }
    TANDEM_RETURN_IF_ERROR(reconnecting([&]() -> Status {
      TANDEM_ASSIGN_OR_RETURN(auto drained, m->forward().DrainToNow(3600));
      (void)drained;
      return Ok();
    }));
    {
      // Under the switch lock, so a `rollback` running meanwhile is not overwritten.
      TANDEM_ASSIGN_OR_RETURN(auto switch_lock, TakeSwitchLock(m->state_path(), true));
      TANDEM_ASSIGN_OR_RETURN(st, m->Load());
      if (Ending(st)) {
        std::fprintf(out, "the migration was rolled back during the backfill (phase %s); stopped\n",
                     std::string(PhaseName(st.phase)).c_str());
        return kExitOk;
      }
      st.backfill_done_at = NowUnix();
      st.phase = Phase::kDualWrite;
      TANDEM_RETURN_IF_ERROR(m->Save(st, "backfill done, stream caught up"));
    }
    int64_t rows = 0, rejected = 0;
    for (const auto& r : *reports) rows += r.source_rows, rejected += r.rejected;
    std::fprintf(out, "backfill done: %lld rows copied, %lld rejected; phase dual-write\n",
                 static_cast<long long>(rows), static_cast<long long>(rejected));
    // The invariant per table, counted on both databases (not judged while writes are in
    // flight). Broken: loud here and in `tandem status`; --until-synced exits with it.
    std::vector<const mapping::TableTransform*> balanced;
    for (const auto& r : *reports) balanced.push_back(m->s().FindTable(r.source_table));
    TANDEM_ASSIGN_OR_RETURN(auto balances,
                            CountBalances(m->s(), balanced, StreamActivity(m->s(), true, false)));
    if (PrintBalances(out, balances)) {
      (void)m->store().Log("balance_broken", json{{"error", BrokenBalanceError(balances).message}}.dump());
      if (o.until_synced) return std::unexpected(BrokenBalanceError(balances));
    }
  }

  // Tables to copy again (their mapping gained a column): under the chunk rule, with the
  // forward stream applied between chunks as in the backfill, the other tables streaming.
  if (st.phase == Phase::kDualWrite || st.phase == Phase::kVerified || st.phase == Phase::kReadNew) {
    TANDEM_ASSIGN_OR_RETURN(auto totals, m->store().Totals());
    std::vector<mapping::TableTransform> again = TablesToCopy(*m, totals);
    if (!again.empty()) {
      TANDEM_ASSIGN_OR_RETURN(auto failed_before, m->store().Get(copy::kSchemaFailuresKey));
      auto progress = MakeProgress(err);
      copy::Backfill recopy = m->s().MakeBackfill(*progress, on_reconnect, &again);
      TANDEM_RETURN_IF_ERROR(recopy.Plan());
      for (const auto& t : again) {
        EmitEvent(err, "copy_again", json{{"table", t.source_table()}}.dump());
      }
      auto chunk_rule = [&](std::string_view table, const Row& key) { return recopy.ChunkDone(table, key); };
      auto reports = recopy.Run(between_chunks(recopy));
      TANDEM_RETURN_IF_ERROR(MergeObjectFailures(m->store(), failed_before.value_or(""), again));
      if (!reports) {
        if (g_stop) {
          std::fprintf(out, "stopped while copying tables again; run `tandem start` again to resume\n");
          return kExitOk;
        }
        TANDEM_ASSIGN_OR_RETURN(auto now, m->Load());
        if (Ending(now)) return kExitOk;
        return std::unexpected(reports.error());
      }
      // Kept changes of a table copied again: what the filter did not drop is applied now.
      TANDEM_RETURN_IF_ERROR(reconnecting([&]() -> Status {
        while (m->forward().Replaying()) {
          TANDEM_ASSIGN_OR_RETURN(auto r, m->forward().Poll(5000, chunk_rule));
          record(r.lag_micros);
        }
        return Ok();
      }));
      for (const auto& r : *reports) {
        std::fprintf(out, "table %s copied again: %lld rows, %lld rejected\n", r.source_table.c_str(),
                     static_cast<long long>(r.source_rows), static_cast<long long>(r.rejected));
      }
      (void)m->store().Log("copied_again", json{{"tables", [&] {
                                                   json a = json::array();
                                                   for (const auto& t : again) a.push_back(t.source_table());
                                                   return a;
                                                 }()}}.dump());
    }
  }

  // Follow: forward always (stray writes on old land too), reverse once installed.
  auto last_prune = std::chrono::steady_clock::now();
  int64_t applied = 0;
  for (;;) {
    if (g_stop) break;
    TANDEM_ASSIGN_OR_RETURN(st, m->Load());
    if (Ending(st)) break;
    bool caught_up = true;
    // A stream is not applied into a frozen side: a SQLite freeze is a write lock that would
    // hold tandem's writes too, and the switch drains only the other stream.
    auto step = [&]() -> Status {
      if (st.frozen != "new") {
        TANDEM_ASSIGN_OR_RETURN(auto f, m->forward().Poll(5000));
        caught_up &= f.caught_up;
        applied += static_cast<int64_t>(f.applied);
        record(f.lag_micros);
      }
      if (st.capture_new && st.frozen == "old" && !st.probe.empty()) {
        // `switch writes` holds old frozen while it asks: prove the stream without applying
        // (its mapping compiles against the live schemas and its change table reads).
        TANDEM_ASSIGN_OR_RETURN(auto* r, m->reverse());
        TANDEM_ASSIGN_OR_RETURN(int64_t pending, r->Lag());
        (void)pending;
        TANDEM_RETURN_IF_ERROR(m->store().Put(kProbeAckKey, st.probe));
      }
      if (st.capture_new && st.frozen != "old") {
        TANDEM_ASSIGN_OR_RETURN(auto* r, m->reverse());
        TANDEM_ASSIGN_OR_RETURN(auto rr, r->Poll(5000));
        caught_up &= rr.caught_up;
        applied += static_cast<int64_t>(rr.applied);
        record(rr.lag_micros);
        // `switch writes` waits for this before it moves the application's writes.
        if (!st.probe.empty()) TANDEM_RETURN_IF_ERROR(m->store().Put(kProbeAckKey, st.probe));
      }
      return Ok();
    };
    // A change batch is redone whole after a reconnect: applying a change twice is harmless.
    if (auto ss = reconnecting(step); !ss) {
      if (g_stop) break;
      TANDEM_ASSIGN_OR_RETURN(auto now, m->Load());
      if (Ending(now)) break;
      // A busy or frozen side is a reason to wait, not to stop following. A connection that
      // stayed lost past the backoff's bound ends the follower with the last error.
      if (ss.error().code == Code::kAborted) {
        EmitEvent(err, "retry", json{{"error", ss.error().message}}.dump());
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        continue;
      }
      return std::unexpected(ss.error());
    }
    if (caught_up && o.until_synced) break;
    // Applied changes are pruned from both change tables now and then (never while frozen:
    // the freeze lock would make the prune wait).
    if (std::chrono::steady_clock::now() - last_prune > std::chrono::seconds(5) && st.frozen.empty()) {
      last_prune = std::chrono::steady_clock::now();
      if (auto pos = m->store().Position("forward")) (void)m->s().source_changes->Prune(*pos);
      if (st.capture_new) {
        if (auto pos = m->store().Position("reverse")) (void)m->s().target_changes->Prune(*pos);
      }
    }
    if (caught_up) std::this_thread::sleep_for(std::chrono::duration<double>(o.idle_sleep_s));
  }
  json summary = {{"applied", applied},
                  {"lag_samples", lags.size()},
                  {"lag_p50_ms", Percentile(lags, 0.5)},
                  {"lag_p99_ms", Percentile(lags, 0.99)},
                  {"lag_max_ms", Percentile(lags, 1.0)}};
  (void)m->store().Log("follow", summary.dump());
  std::fprintf(out,
               "stopped following (phase %s): %lld keys applied; change lag p50 %.1f ms, p99 "
               "%.1f ms over %zu changes\n",
               std::string(PhaseName(st.phase)).c_str(), static_cast<long long>(applied),
               Percentile(lags, 0.5), Percentile(lags, 0.99), lags.size());
  return kExitOk;
}

}  // namespace

}  // namespace tandem::migration
