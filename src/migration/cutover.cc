// The switches, rollback and finalize (DESIGN.md phase table). Each multi-action command is a
// Step: the state names the step and its stage before each action, under the switch lock, so
// that a command killed at any point is finished or undone by the next one
// (RecoverInterrupted) and no write is lost on either side.
#include <unistd.h>

#include <chrono>
#include <functional>
#include <thread>

#include <nlohmann/json.hpp>

#include "migration/freeze.h"
#include "migration/guards.h"
#include "migration/hooks.h"
#include "migration/migration.h"
#include "migration/runbook.h"
#include "migration/sequences.h"

namespace tandem::migration {

using nlohmann::json;

namespace {

// Removes capture from every side that still has it, recording each removal.
Status RemoveAllCapture(Migration& m, MigrationState& st, std::string_view step) {
  if (st.capture_old) {
    if (auto rs = m.s().source_changes->Remove(); !rs) {
      return std::unexpected(rs.error().Context("remove capture from old"));
    }
    st.capture_old = st.capture_old_ready = false;
    TANDEM_RETURN_IF_ERROR(m.Save(st, fmt::format("{}: capture removed from old", step)));
  }
  if (st.capture_new) {
    if (auto rs = m.s().target_changes->Remove(); !rs) {
      return std::unexpected(rs.error().Context("remove capture from new"));
    }
    st.capture_new = false;
    TANDEM_RETURN_IF_ERROR(m.Save(st, fmt::format("{}: capture removed from new", step)));
  }
  return Ok();
}

Status SaveStage(Migration& m, MigrationState& st, Stage stage, std::string_view why) {
  st.stage = stage;
  TANDEM_RETURN_IF_ERROR(m.Save(st, why));
  CrashPoint(fmt::format("{}:{}", StepName(st.step), StageName(stage)));
  return Ok();
}

// Moves the sequences of `side` past what either side has used, timed (the time is part of
// the write pause). No stage of its own: a move never goes backwards and repeating it moves
// nothing more, so a command killed here is undone (unfreeze; writes stay where they were,
// the counters merely ahead) or re-run without harm.
Status MoveSequences(Migration& m, const std::string& side, double& ms, FILE* out) {
  auto started = std::chrono::steady_clock::now();
  TANDEM_ASSIGN_OR_RETURN(auto moves, SyncSequences(m, side));
  ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
  TANDEM_RETURN_IF_ERROR(RecordSequenceSync(m, side, moves, ms, out));
  CrashPoint(fmt::format("sequences:{}", side));
  return Ok();
}

Status EndStep(Migration& m, MigrationState& st, std::string_view why) {
  st.step = Step::kNone;
  st.stage = Stage::kNone;
  return m.Save(st, why);
}

// Finishes a switch of writes killed once its phase was written (stages hooking, unfreezing).
// Its freeze died with it (a SQLite write lock) or is still held (hooks), and the hook may not
// have moved every writer: writes may have gone on on the frozen side meanwhile. They must
// reach the other side before the hook moves writes there (else the stream would later carry
// an older row over a newer one), so the freeze is taken anew, the frozen side's stream
// drained, and only then the hook run again. On failure the fresh freeze is released and the
// step stays recorded for the next command.
Status FinishFrozen(Migration& m, MigrationState& st, const std::string& side, Phase to,
                    const char* action, Migration::Streams drain) {
  TANDEM_ASSIGN_OR_RETURN(auto freeze, Freeze::Take(m, st, side));
  auto body = [&]() -> Status {
    TANDEM_RETURN_IF_ERROR(m.CatchUp(60, drain));
    TANDEM_RETURN_IF_ERROR(RunHook(m.s().cfg, "writes", HookEnv(to, action)));
    return SaveStage(m, st, Stage::kUnfreezing, fmt::format("{}: hook done", action));
  };
  if (auto bs = body(); !bs) {
    (void)freeze->Release(m, st);
    return bs;
  }
  TANDEM_ASSIGN_OR_RETURN(double ms, freeze->Release(m, st));
  (void)ms;
  return Ok();
}

Status FinishSwitchWrites(Migration& m, MigrationState& st) {
  TANDEM_RETURN_IF_ERROR(FinishFrozen(m, st, "old", Phase::kWriteNew, "switch-writes",
                                      Migration::Streams::kForward));
  return EndStep(m, st, "switch writes done");
}

Status FinishRollbackWrites(Migration& m, MigrationState& st) {
  TANDEM_RETURN_IF_ERROR(FinishFrozen(m, st, "new", Phase::kReadNew, "rollback",
                                      Migration::Streams::kReverse));
  TANDEM_RETURN_IF_ERROR(RunHook(m.s().cfg, "rollback", HookEnv(Phase::kReadNew, "rollback")));
  return EndStep(m, st, "rollback of switch writes done");
}

Status FinishStop(Migration& m, MigrationState& st) {
  TANDEM_RETURN_IF_ERROR(RemoveAllCapture(m, st, "stop"));
  CrashPoint("stop:removed");
  st.phase = Phase::kStopped;
  TANDEM_RETURN_IF_ERROR(EndStep(m, st, "rollback before any switch: capture removed"));
  return RunHook(m.s().cfg, "rollback", HookEnv(Phase::kStopped, "rollback"));
}

Status FinishFinalize(Migration& m, MigrationState& st) {
  TANDEM_RETURN_IF_ERROR(RemoveAllCapture(m, st, "finalize"));
  CrashPoint("finalize:removed");
  st.phase = Phase::kFinalized;
  TANDEM_RETURN_IF_ERROR(EndStep(m, st, "finalize"));
  return RunHook(m.s().cfg, "finalize", HookEnv(Phase::kFinalized, "finalize"));
}

// Finishes or undoes the step in `st`; `finished` (if set) tells which step was carried to
// its end. REQUIRES: the caller holds the switch lock.
Status RecoverLocked(Migration& m, MigrationState& st, FILE* out, Step* finished = nullptr) {
  if (finished) *finished = Step::kNone;
  if (st.step == Step::kNone) {
    if (st.frozen.empty()) return Ok();
    std::string side = st.frozen;
    TANDEM_RETURN_IF_ERROR(ReleaseLeftFreeze(m, st));
    std::fprintf(out, "released the freeze of writes on %s left by an interrupted command\n", side.c_str());
    return Ok();
  }
  std::string what = DescribeRecovery(st);
  Step step = st.step;
  bool finish = st.step == Step::kStop ||
                (st.step == Step::kFinalize && st.stage == Stage::kRemoving) ||
                st.stage == Stage::kHooking || st.stage == Stage::kUnfreezing;
  Status done = Ok();
  switch (st.step) {
    case Step::kSwitchWrites:
      if (st.stage == Stage::kHooking || st.stage == Stage::kUnfreezing) {
        done = FinishSwitchWrites(m, st);
      } else {
        done = ReleaseLeftFreeze(m, st);
        if (done) done = EndStep(m, st, "interrupted switch writes undone");
      }
      break;
    case Step::kRollbackWrites:
      if (st.stage == Stage::kHooking || st.stage == Stage::kUnfreezing) {
        done = FinishRollbackWrites(m, st);
      } else {
        done = ReleaseLeftFreeze(m, st);
        if (done) done = EndStep(m, st, "interrupted rollback undone");
      }
      break;
    case Step::kStop: done = FinishStop(m, st); break;
    case Step::kFinalize:
      if (st.stage == Stage::kRemoving) {
        done = FinishFinalize(m, st);
      } else {
        done = EndStep(m, st, "interrupted finalize undone");
      }
      break;
    case Step::kNone: break;
  }
  if (!done) {
    return std::unexpected(done.error().Context(
        fmt::format("an interrupted step could not be completed ({}); fix the cause and run the "
                    "command again",
                    what)));
  }
  std::fprintf(out, "interrupted step recovered: %s\n", what.c_str());
  if (finished && finish) *finished = step;
  return Ok();
}

// Proves that the running follower polls the reverse stream (its mapping compiles against
// the live schemas, its change table reads) before the application's writes move to new:
// the follower echoes a token once a reverse poll succeeded. Without a follower, says that
// changes on new reach old only once one runs.
Status ProbeReverse(Migration& m, MigrationState& st, const SwitchOptions& o, FILE* out) {
  TANDEM_ASSIGN_OR_RETURN(auto holder, FollowerLock::Holder(m.state_path()));
  if (!holder) {
    std::fprintf(out, "note: no `tandem start` is running: writes made on new reach old only once "
                      "one runs (or at `tandem rollback`)\n");
    return Ok();
  }
  st.probe = fmt::format("{}-{}", ::getpid(), std::chrono::steady_clock::now().time_since_epoch().count());
  TANDEM_RETURN_IF_ERROR(m.Save(st, "switch writes: probing the reverse stream"));
  auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(o.probe_timeout_s);
  for (;;) {
    TANDEM_ASSIGN_OR_RETURN(auto ack, m.store().Get(kProbeAckKey));
    if (ack && *ack == st.probe) break;
    TANDEM_ASSIGN_OR_RETURN(auto ferr, m.store().Get(kFollowerErrorKey));
    if (ferr && !ferr->empty()) {
      auto e = json::parse(*ferr, nullptr, false);
      return Fail(Code::kFailedPrecondition, "the follower stopped on the reverse stream: {}",
                  e.is_discarded() ? *ferr : e.value("error", *ferr));
    }
    if (std::chrono::steady_clock::now() > deadline) {
      return Fail(Code::kDeadlineExceeded,
                  "the follower (`tandem start`, pid {}) did not run the reverse stream within {} s",
                  *holder, o.probe_timeout_s);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  st.probe.clear();
  return Ok();
}

// A switch of writes, run with one side frozen: freeze, drain the stream into the other
// side, move that side's sequences, `before_hook`, write the phase, run the writes hook, then
// unfreeze. Each stage is recorded before its action. On failure the freeze is released, the
// phase stays where it was, and the step ends (the error says where writes stay).
struct FrozenSwitch {
  Step step;
  const char* name;    // for messages: "switch writes", "rollback"
  const char* action;  // TANDEM_ACTION of the hooks
  std::string frozen;  // "old" or "new": the side whose writes are frozen
  Phase to;            // the phase once writes moved
  Migration::Streams drain;
  const char* aborted;
  std::function<Status()> before_hook = {};
};

Result<double> RunFrozenSwitch(Migration& m, MigrationState& st, const SwitchOptions& o,
                               const FrozenSwitch& f, double& sequence_ms, FILE* out) {
  Phase before = st.phase;
  st.step = f.step;
  TANDEM_RETURN_IF_ERROR(SaveStage(m, st, Stage::kFreezing, fmt::format("{}: freezing {}", f.name, f.frozen)));
  auto freeze = Freeze::Take(m, st, f.frozen);
  if (!freeze) {
    (void)EndStep(m, st, fmt::format("{}: freeze failed", f.name));
    return std::unexpected(freeze.error().Context(fmt::format("{} ({})", f.name, f.aborted)));
  }
  auto body = [&]() -> Status {
    TANDEM_RETURN_IF_ERROR(SaveStage(m, st, Stage::kDraining, fmt::format("{}: draining", f.name)));
    // Everything written on the frozen side reaches the other one; the stream into the frozen
    // side goes on after the unfreeze.
    TANDEM_RETURN_IF_ERROR(m.CatchUp(o.drain_timeout_s, f.drain));
    TANDEM_RETURN_IF_ERROR(MoveSequences(m, f.frozen == "old" ? "new" : "old", sequence_ms, out));
    if (f.before_hook) TANDEM_RETURN_IF_ERROR(f.before_hook());
    st.phase = f.to;
    TANDEM_RETURN_IF_ERROR(SaveStage(m, st, Stage::kHooking, f.name));
    if (auto hs = RunHook(m.s().cfg, "writes", HookEnv(f.to, f.action)); !hs) {
      st.phase = before;
      (void)m.Save(st, fmt::format("writes hook failed during {}", f.name));
      return hs;
    }
    return SaveStage(m, st, Stage::kUnfreezing, fmt::format("{}: hook done", f.name));
  };
  if (auto bs = body(); !bs) {
    st.probe.clear();
    (void)(*freeze)->Release(m, st);
    (void)EndStep(m, st, fmt::format("{} aborted", f.name));
    return std::unexpected(bs.error().Context(fmt::format("{} ({})", f.name, f.aborted)));
  }
  return (*freeze)->Release(m, st);
}

// Opens the migration for a switch command: takes the switch lock, recovers an interrupted
// step, and checks that the mapping still matches the migration.
// `finished` is the step that recovery carried to its end: a command whose own step it was
// has nothing left to do.
struct StepContext {
  std::unique_ptr<Migration> m;
  FollowerLock lock;
  MigrationState st;
  Step finished = Step::kNone;
};

Result<StepContext> OpenForStep(const SwitchOptions& o, FILE* out) {
  TANDEM_ASSIGN_OR_RETURN(auto m, Migration::Open(o.config_path));
  TANDEM_ASSIGN_OR_RETURN(auto lock, TakeSwitchLock(m->state_path(), true));
  TANDEM_ASSIGN_OR_RETURN(auto st, m->Load());
  Step finished = Step::kNone;
  TANDEM_RETURN_IF_ERROR(RecoverLocked(*m, st, out, &finished));
  TANDEM_RETURN_IF_ERROR(m->CheckSetup(st));
  return StepContext{std::move(m), std::move(lock), std::move(st), finished};
}

}  // namespace

std::string DescribeRecovery(const MigrationState& st) {
  bool late = st.stage == Stage::kHooking || st.stage == Stage::kUnfreezing;
  switch (st.step) {
    case Step::kNone:
      return st.frozen.empty() ? "" : fmt::format("writes on {} are still frozen: the next command unfreezes them", st.frozen);
    case Step::kSwitchWrites:
      return late ? fmt::format("`switch writes` was interrupted at stage {}: the next command finishes it "
                                "(freeze and drain old again, writes hook to new, unfreeze old)", StageName(st.stage))
                  : fmt::format("`switch writes` was interrupted at stage {}: the next command undoes it "
                                "(unfreeze old; writes stay on old)", StageName(st.stage));
    case Step::kRollbackWrites:
      return late ? fmt::format("`rollback` was interrupted at stage {}: the next command finishes it "
                                "(freeze and drain new again, writes hook to old, unfreeze new)", StageName(st.stage))
                  : fmt::format("`rollback` was interrupted at stage {}: the next command undoes it "
                                "(unfreeze new; writes stay on new)", StageName(st.stage));
    case Step::kStop:
      return "`rollback` (stop) was interrupted: the next command finishes removing capture and stops the migration";
    case Step::kFinalize:
      return st.stage == Stage::kRemoving
                 ? "`finalize` was interrupted while removing capture: the next command finishes it"
                 : "`finalize` was interrupted before removing capture: the next command undoes it";
  }
  return "";
}

Status RecoverInterrupted(Migration& m, FILE* out, bool allow_running) {
  TANDEM_ASSIGN_OR_RETURN(auto st, m.Load());
  if (st.step == Step::kNone && st.frozen.empty()) return Ok();
  auto lock = TakeSwitchLock(m.state_path(), false);
  if (!lock) {
    if (allow_running) return Ok();  // a switch is running in another process right now
    return std::unexpected(lock.error());
  }
  TANDEM_ASSIGN_OR_RETURN(st, m.Load());
  return RecoverLocked(m, st, out);
}

Result<int> SwitchReads(const SwitchOptions& o, FILE* out) {
  TANDEM_ASSIGN_OR_RETURN(auto c, OpenForStep(o, out));
  auto& m = *c.m;
  auto& st = c.st;
  if (st.phase != Phase::kDualWrite && st.phase != Phase::kVerified) {
    return Fail(Code::kFailedPrecondition, "switch reads needs phase dual-write or verified; it is {}",
                PhaseName(st.phase));
  }
  TANDEM_ASSIGN_OR_RETURN(bool clean, CleanVerifySinceBackfill(m, st));
  if (!clean && !o.force) {
    return Fail(Code::kFailedPrecondition,
                "no clean `tandem verify` since the backfill finished: run it (or pass --force)");
  }
  TANDEM_RETURN_IF_ERROR(SchemaGuard(m, o));
  TANDEM_RETURN_IF_ERROR(HoldGuard(m));
  TANDEM_RETURN_IF_ERROR(LagGuard(m, o));
  TANDEM_RETURN_IF_ERROR(RunHook(m.s().cfg, "reads", HookEnv(Phase::kReadNew, "switch-reads")));
  st.phase = Phase::kReadNew;
  TANDEM_RETURN_IF_ERROR(m.Save(st, "switch reads"));
  std::fprintf(out, "reads switched to new; phase read-new\n");
  return kExitOk;
}

Result<int> SwitchWrites(const SwitchOptions& o, FILE* out) {
  TANDEM_ASSIGN_OR_RETURN(auto c, OpenForStep(o, out));
  auto& m = *c.m;
  auto& st = c.st;
  if (c.finished == Step::kSwitchWrites) {
    std::fprintf(out, "writes switched to new; phase write-new\n");
    return kExitOk;
  }
  bool allowed = st.phase == Phase::kReadNew ||
                 (o.force && (st.phase == Phase::kDualWrite || st.phase == Phase::kVerified));
  if (!allowed) {
    return Fail(Code::kFailedPrecondition,
                "switch writes needs phase read-new (switch reads first); it is {}", PhaseName(st.phase));
  }
  // The reverse stream must be able to run before any write goes to new.
  TANDEM_ASSIGN_OR_RETURN(auto* reverse, m.reverse());
  TANDEM_RETURN_IF_ERROR(HoldGuard(m));
  TANDEM_RETURN_IF_ERROR(LagGuard(m, o));

  double sequence_ms = 0;
  FrozenSwitch f{.step = Step::kSwitchWrites,
                 .name = "switch writes",
                 .action = "switch-writes",
                 .frozen = "old",
                 .to = Phase::kWriteNew,
                 .drain = Migration::Streams::kForward,
                 .aborted = "aborted, writes stay on old",
                 .before_hook = [&]() -> Status {
                   TANDEM_RETURN_IF_ERROR(SaveStage(m, st, Stage::kReverse, "switch writes: reverse capture"));
                   TANDEM_RETURN_IF_ERROR(reverse->Install());
                   if (!st.capture_new) {
                     TANDEM_ASSIGN_OR_RETURN(Position last, m.s().target_changes->Last());
                     TANDEM_RETURN_IF_ERROR(m.store().PutPosition("reverse", last));
                     st.capture_new = true;
                   }
                   return ProbeReverse(m, st, o, out);
                 }};
  TANDEM_ASSIGN_OR_RETURN(double ms, RunFrozenSwitch(m, st, o, f, sequence_ms, out));
  TANDEM_RETURN_IF_ERROR(EndStep(m, st, "switch writes done"));
  TANDEM_RETURN_IF_ERROR(m.store().Log("switch-writes",
                                       json{{"freeze_ms", ms}, {"sequence_ms", sequence_ms}}.dump()));
  std::fprintf(out,
               "writes switched to new; phase write-new; writes on old were frozen for %.0f ms "
               "(%.1f ms of it moving sequences on new)\n",
               ms, sequence_ms);
  return kExitOk;
}

Result<int> Rollback(const SwitchOptions& o, FILE* out) {
  TANDEM_ASSIGN_OR_RETURN(auto c, OpenForStep(o, out));
  auto& m = *c.m;
  auto& st = c.st;
  if (c.finished == Step::kRollbackWrites) {
    std::fprintf(out, "writes rolled back to old; phase read-new\n");
    return kExitOk;
  }
  if (c.finished == Step::kStop) {
    std::fprintf(out, "migration stopped and capture removed\n");
    return kExitOk;
  }
  switch (st.phase) {
    case Phase::kWriteNew: {
      double sequence_ms = 0;
      FrozenSwitch f{.step = Step::kRollbackWrites,
                     .name = "rollback",
                     .action = "rollback",
                     .frozen = "new",
                     .to = Phase::kReadNew,
                     .drain = Migration::Streams::kReverse,
                     .aborted = "aborted, writes stay on new"};
      TANDEM_ASSIGN_OR_RETURN(double ms, RunFrozenSwitch(m, st, o, f, sequence_ms, out));
      TANDEM_RETURN_IF_ERROR(RunHook(m.s().cfg, "rollback", HookEnv(Phase::kReadNew, "rollback")));
      TANDEM_RETURN_IF_ERROR(EndStep(m, st, "rollback of switch writes done"));
      TANDEM_RETURN_IF_ERROR(m.store().Log(
          "rollback-writes", json{{"freeze_ms", ms}, {"sequence_ms", sequence_ms}}.dump()));
      std::fprintf(out,
                   "writes rolled back to old; phase read-new; writes on new were frozen for %.0f "
                   "ms (%.1f ms of it moving sequences on old)\n",
                   ms, sequence_ms);
      return kExitOk;
    }
    case Phase::kReadNew: {
      TANDEM_ASSIGN_OR_RETURN(bool clean, CleanVerifySinceBackfill(m, st));
      Phase back = clean ? Phase::kVerified : Phase::kDualWrite;
      TANDEM_RETURN_IF_ERROR(RunHook(m.s().cfg, "reads", HookEnv(back, "rollback")));
      st.phase = back;
      TANDEM_RETURN_IF_ERROR(m.Save(st, "rollback of switch reads"));
      TANDEM_RETURN_IF_ERROR(RunHook(m.s().cfg, "rollback", HookEnv(back, "rollback")));
      std::fprintf(out, "reads rolled back to old; phase %s\n", std::string(PhaseName(back)).c_str());
      return kExitOk;
    }
    case Phase::kBackfill:
    case Phase::kDualWrite:
    case Phase::kVerified:
    case Phase::kStopped: {
      if (st.phase == Phase::kStopped && !st.capture_old && !st.capture_new) {
        return Fail(Code::kFailedPrecondition, "the migration is already stopped and capture removed");
      }
      // Nothing switched yet: the application never left old. Capture goes first; the phase
      // says stopped only once it is gone, and a failed removal can be re-run.
      st.step = Step::kStop;
      TANDEM_RETURN_IF_ERROR(SaveStage(m, st, Stage::kRemoving, "rollback before any switch"));
      TANDEM_RETURN_IF_ERROR(FinishStop(m, st));
      std::fprintf(out, "migration stopped and capture removed; the target's rows are left in place "
                        "(drop them, or run `tandem start` to begin again)\n");
      return kExitOk;
    }
    default:
      return Fail(Code::kFailedPrecondition, "nothing to roll back in phase {}", PhaseName(st.phase));
  }
}

Result<int> Finalize(const SwitchOptions& o, FILE* out) {
  TANDEM_ASSIGN_OR_RETURN(auto c, OpenForStep(o, out));
  auto& m = *c.m;
  auto& st = c.st;
  if (c.finished == Step::kFinalize) {
    std::fprintf(out, "finalized: capture removed from both sides; the old database is retired\n");
    return kExitOk;
  }
  if (st.phase == Phase::kFinalized && (st.capture_old || st.capture_new)) {
    st.step = Step::kFinalize;
    TANDEM_RETURN_IF_ERROR(SaveStage(m, st, Stage::kRemoving, "finalize: capture left behind"));
    TANDEM_RETURN_IF_ERROR(FinishFinalize(m, st));
    std::fprintf(out, "finalized: capture removed from both sides; the old database is retired\n");
    return kExitOk;
  }
  if (st.phase != Phase::kWriteNew) {
    return Fail(Code::kFailedPrecondition,
                "finalize needs phase write-new (both reads and writes on new); it is {}", PhaseName(st.phase));
  }
  st.step = Step::kFinalize;
  TANDEM_RETURN_IF_ERROR(SaveStage(m, st, Stage::kDraining, "finalize: draining"));
  if (auto cs = m.CatchUp(o.drain_timeout_s); !cs) {
    (void)EndStep(m, st, "finalize aborted");
    return std::unexpected(cs.error().Context("finalize (aborted; still write-new)"));
  }
  TANDEM_RETURN_IF_ERROR(SaveStage(m, st, Stage::kRemoving, "finalize: removing capture"));
  TANDEM_RETURN_IF_ERROR(FinishFinalize(m, st));
  std::fprintf(out, "finalized: capture removed from both sides; the old database is retired\n");
  return kExitOk;
}

}  // namespace tandem::migration
