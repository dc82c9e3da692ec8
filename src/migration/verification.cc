// `tandem verify`: every table compared through the mapping while writes go on (DESIGN.md,
// "Verification"); a clean result moves dual-write to verified.
#include <algorithm>
#include <chrono>
#include <fstream>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "engines/reconnect.h"
#include "migration/migration.h"
#include "migration/progress.h"
#include "migration/runbook.h"
#include "verify/verifier.h"

namespace tandem::migration {

using nlohmann::json;

namespace {


}  // namespace

Result<int> Verify(const VerifyOptions& o, FILE* out, FILE* err) {
  TANDEM_ASSIGN_OR_RETURN(auto m, Migration::Open(o.config_path));
  m->s().jobs_flag = o.jobs;
  TANDEM_RETURN_IF_ERROR(RecoverInterrupted(*m, out, /*allow_running=*/true));
  TANDEM_ASSIGN_OR_RETURN(auto st0, m->Load());
  TANDEM_RETURN_IF_ERROR(m->CheckSetup(st0));
  double started = NowUnix();
  // A lost connection is re-opened with backoff and the interrupted range compared again.
  ReconnectObserver on_reconnect = ReportReconnects(err, m->store(), "verify");
  const Side sides[] = {{"source", m->s().source.get()}, {"target", m->s().target.get()}};
  auto catch_up = [&]() -> Status {
    return RunReconnecting([&]() { return m->CatchUp(300); }, sides, Backoff{}, on_reconnect);
  };
  TANDEM_RETURN_IF_ERROR(catch_up());
  // Progress on stderr: a line rewritten in place on a terminal, JSON events otherwise.
  bool tty = ::isatty(::fileno(err)) != 0;
  bool told = false;
  auto progress = [&](const std::string& table, int64_t rows) {
    if (tty) {
      std::fprintf(err, "\rverify: %s, %lld rows read\033[K", table.c_str(),
                   static_cast<long long>(rows));
      told = true;
    } else {
      EmitEvent(err, "verify_progress", json{{"table", table}, {"rows_read", rows}}.dump());
    }
    std::fflush(err);
  };
  verify::Verifier v(m->s().tables, *m->s().source, *m->s().target, m->store(),
                     {.range_rows = std::min<int64_t>(m->s().cfg.chunk_rows, verify::kMaxRangeRows),
                      .batch_rows = static_cast<size_t>(m->s().cfg.batch_rows),
                      .batch_bytes = static_cast<size_t>(m->s().cfg.batch_bytes),
                      .jobs = m->s().VerifyJobs(),
                      .open_source = [&] { return m->s().OpenSource(); },
                      .open_target = [&] { return m->s().OpenTarget(); },
                      .digests = o.digests,
                      .catch_up = catch_up,
                      .progress = progress,
                      .on_reconnect = on_reconnect});
  auto run = v.Run();
  if (told) std::fputc('\n', err);
  if (!run) return std::unexpected(run.error());
  const verify::Report& report = *run;
  for (const auto& t : report.tables) {
    std::string name = t.source_table == t.target_table ? t.source_table
                                                        : t.source_table + " -> " + t.target_table;
    std::fprintf(out, "%-30s %10lld rows compared, %lld rejected (not expected), %lld difference%s\n",
                 name.c_str(), static_cast<long long>(t.source_rows),
                 static_cast<long long>(t.rejected), static_cast<long long>(t.count()),
                 t.count() == 1 ? "" : "s");
    int shown = 0;
    for (const auto& d : t.differences) {
      if (shown++ >= o.max_print) break;
      std::fprintf(out, "    %s\n", d.Describe().c_str());
    }
    if (t.count() > o.max_print) {
      std::fprintf(out, "    ... %lld more%s\n", static_cast<long long>(t.count() - o.max_print),
                   t.spilled > 0 ? " (past the in-memory list: in the state store's verify_spill table)" : "");
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
  TANDEM_RETURN_IF_ERROR(m->store().Put("last_verify", brief.dump()));
  // The phase changes under the switch lock: a switch running meanwhile is not overwritten.
  TANDEM_ASSIGN_OR_RETURN(auto lock, TakeSwitchLock(m->state_path(), true));
  TANDEM_ASSIGN_OR_RETURN(auto st, m->Load());
  if (st.phase == Phase::kDualWrite && report.differences == 0) {
    st.phase = Phase::kVerified;
    TANDEM_RETURN_IF_ERROR(m->Save(st, "verify found 0 differences"));
  } else if (st.phase == Phase::kVerified && report.differences > 0) {
    st.phase = Phase::kDualWrite;
    TANDEM_RETURN_IF_ERROR(m->Save(st, "verify found differences"));
  }
  return report.differences ? kExitProblems : kExitOk;
}

}  // namespace tandem::migration
