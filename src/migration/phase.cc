#include "migration/phase.h"

#include <signal.h>
#include <unistd.h>

#include <cstdlib>

#include <nlohmann/json.hpp>

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

bool Streaming(Phase p) {
  return p == Phase::kBackfill || p == Phase::kDualWrite || p == Phase::kVerified ||
         p == Phase::kReadNew || p == Phase::kWriteNew;
}

std::pair<std::string, std::string> ReadsWrites(Phase p) {
  switch (p) {
    case Phase::kReadNew: return {"new", "old"};
    case Phase::kWriteNew:
    case Phase::kFinalized: return {"new", "new"};
    default: return {"old", "old"};
  }
}

std::map<std::string, std::string> HookEnv(Phase p, std::string_view action) {
  auto [reads, writes] = ReadsWrites(p);
  return {{"TANDEM_PHASE", std::string(PhaseName(p))},
          {"TANDEM_READS", reads},
          {"TANDEM_WRITES", writes},
          {"TANDEM_ACTION", std::string(action)}};
}

std::string_view StepName(Step s) {
  switch (s) {
    case Step::kNone: return "none";
    case Step::kSwitchWrites: return "switch-writes";
    case Step::kRollbackWrites: return "rollback-writes";
    case Step::kStop: return "stop";
    case Step::kFinalize: return "finalize";
  }
  return "none";
}

std::string_view StageName(Stage s) {
  switch (s) {
    case Stage::kNone: return "none";
    case Stage::kFreezing: return "freezing";
    case Stage::kDraining: return "draining";
    case Stage::kReverse: return "reverse";
    case Stage::kHooking: return "hooking";
    case Stage::kUnfreezing: return "unfreezing";
    case Stage::kRemoving: return "removing";
  }
  return "none";
}

namespace {

template <typename E, size_t N>
E ParseName(std::string_view s, const E (&all)[N], std::string_view (*name)(E)) {
  for (E e : all) {
    if (name(e) == s) return e;
  }
  return all[0];
}

constexpr Step kSteps[] = {Step::kNone, Step::kSwitchWrites, Step::kRollbackWrites, Step::kStop,
                           Step::kFinalize};
constexpr Stage kStages[] = {Stage::kNone,    Stage::kFreezing,   Stage::kDraining, Stage::kReverse,
                             Stage::kHooking, Stage::kUnfreezing, Stage::kRemoving};

json ToJson(const MigrationState& s) {
  return json{{"phase", PhaseName(s.phase)},     {"capture_old", s.capture_old},
              {"capture_old_ready", s.capture_old_ready},
              {"capture_new", s.capture_new},    {"frozen", s.frozen},
              {"step", StepName(s.step)},        {"stage", StageName(s.stage)},
              {"started_at", s.started_at},      {"backfill_done_at", s.backfill_done_at},
              {"setup", s.setup},                {"probe", s.probe}};
}

}  // namespace

Result<MigrationState> LoadState(state::StateStore& store) {
  MigrationState s;
  TANDEM_ASSIGN_OR_RETURN(auto v, store.Get("migration"));
  if (v) {
    auto j = json::parse(*v, nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
      return Fail(Code::kDataLoss, "state store {}: the migration record is not valid JSON",
                  store.db().path());
    }
    s.phase = ParsePhase(j.value("phase", "none"));
    s.capture_old = j.value("capture_old", false);
    s.capture_old_ready = j.value("capture_old_ready", false);
    s.capture_new = j.value("capture_new", false);
    s.frozen = j.value("frozen", "");
    s.step = ParseName(j.value("step", "none"), kSteps, StepName);
    s.stage = ParseName(j.value("stage", "none"), kStages, StageName);
    s.started_at = j.value("started_at", 0.0);
    s.backfill_done_at = j.value("backfill_done_at", 0.0);
    s.setup = j.value("setup", "");
    s.probe = j.value("probe", "");
    return s;
  }
  // A store from before the typed record: loose keys.
  auto get = [&](std::string_view k) -> std::string {
    auto r = store.Get(k);
    return r && *r ? **r : std::string();
  };
  s.phase = ParsePhase(get("phase"));
  s.capture_old = s.capture_old_ready = get("capture_installed") == "1";
  s.capture_new = get("reverse_installed") == "1";
  s.frozen = get("frozen");
  if (auto t = get("started_at"); !t.empty()) s.started_at = std::atof(t.c_str());
  if (auto t = get("backfill_done_at"); !t.empty()) s.backfill_done_at = std::atof(t.c_str());
  return s;
}

Status SaveState(state::StateStore& store, const MigrationState& s, std::string_view why) {
  json event = {{"phase", PhaseName(s.phase)}, {"why", why}};
  if (s.step != Step::kNone) {
    event["step"] = StepName(s.step);
    event["stage"] = StageName(s.stage);
  }
  return store.PutAndLog("migration", ToJson(s).dump(), "state", event.dump());
}

void CrashPoint(std::string_view point) {
  static const char* at = std::getenv("TANDEM_CRASH_AT");
  if (at && point == at) ::kill(::getpid(), SIGKILL);
}

}  // namespace tandem::migration
