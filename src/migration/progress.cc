#include "migration/progress.h"

#include <ctime>
#include <map>
#include <vector>

#include <unistd.h>

#include <fmt/chrono.h>
#include <nlohmann/json.hpp>

namespace tandem::migration {

double NowUnix() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string IsoTime(double unix_s) {
  std::time_t t = static_cast<std::time_t>(unix_s);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

namespace {

std::string NowIso() { return IsoTime(NowUnix()); }

std::string Thousands(int64_t n) {
  std::string s = std::to_string(n < 0 ? -n : n), out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (i && (s.size() - i) % 3 == 0) out += ',';
    out += s[i];
  }
  return n < 0 ? "-" + out : out;
}

// One line, redrawn: the table last advanced with its bar, and with several jobs what each job
// is copying ("jobs: 1 orders 3/20, 2 items 1/1").
class TerminalBar : public copy::Progress {
 public:
  explicit TerminalBar(FILE* out) : out_(out) {}
  void TableStarted(std::string_view table, int64_t total, int chunks) override {
    auto& t = tables_[std::string(table)];
    t.total = total;
    t.started = std::chrono::steady_clock::now();
  }
  void Advanced(std::string_view table, int64_t done, int64_t rejected) override {
    Draw(table, done, rejected, false);
  }
  void TableFinished(const copy::TableReport& r) override {
    Draw(r.source_table, r.source_rows, r.rejected, true);
  }
  void ChunkStarted(int job, int jobs, std::string_view table, int chunk, int chunks) override {
    if (jobs <= 1) return;
    if (jobs_.size() < static_cast<size_t>(jobs)) jobs_.resize(static_cast<size_t>(jobs));
    jobs_[static_cast<size_t>(job)] = fmt::format("{} {} {}/{}", job + 1, table, chunk + 1, chunks);
    auto it = tables_.find(std::string(table));
    if (it != tables_.end()) Draw(table, it->second.done, it->second.rejected, false);
  }
  void JobIdle(int job) override {
    if (static_cast<size_t>(job) < jobs_.size()) jobs_[static_cast<size_t>(job)] = fmt::format("{} idle", job + 1);
  }
  void CopyPath(std::string_view table, bool passthrough, std::string_view why) override {
    Line(passthrough ? fmt::format("{}: pass-through ({})", table, why)
                     : fmt::format("{}: decoded, not passed through: {}", table, why));
  }
  void ChunkFellBack(std::string_view table, int chunk, std::string_view why) override {
    Line(fmt::format("{}: chunk {} refused by the target on the pass-through path, copied again "
                     "decoded: {}", table, chunk, why));
  }

 private:
  struct Table {
    int64_t total = 0, done = 0, rejected = 0;
    std::chrono::steady_clock::time_point started;
  };
  // A line of its own above the bar, which the next Draw puts back.
  void Line(const std::string& text) {
    std::fprintf(out_, "\r%s\x1b[K\n", text.c_str());
    std::fflush(out_);
  }
  void Draw(std::string_view name, int64_t done, int64_t rejected, bool final) {
    auto& t = tables_[std::string(name)];
    t.done = done;
    t.rejected = rejected;
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t.started).count();
    int64_t total = std::max(t.total, done);
    double frac = total > 0 ? static_cast<double>(done) / total : 1.0;
    int width = 30, fill = static_cast<int>(frac * width);
    std::string bar = std::string(fill, '#') + std::string(width - fill, '-');
    double rate = secs > 0 ? done / secs : 0;
    std::string jobs;
    for (const auto& j : jobs_) jobs += (jobs.empty() ? "  jobs: " : ", ") + j;
    std::string name_s(name);
    // \x1b[K clears what a longer line drawn before left behind.
    std::fprintf(out_, "\r%-24.24s [%s] %3d%% %s/%s rows  rejects %s  %s rows/s%s\x1b[K%s",
                 name_s.c_str(), bar.c_str(), static_cast<int>(frac * 100), Thousands(done).c_str(),
                 Thousands(total).c_str(), Thousands(rejected).c_str(),
                 Thousands(static_cast<int64_t>(rate)).c_str(), final ? "" : jobs.c_str(),
                 final ? "\n" : "");
    std::fflush(out_);
  }
  FILE* out_;
  std::map<std::string, Table> tables_;
  std::vector<std::string> jobs_;  // what each job is on
};

class JsonLines : public copy::Progress {
 public:
  explicit JsonLines(FILE* out) : out_(out) {}
  void TableStarted(std::string_view table, int64_t total, int chunks) override {
    EmitEvent(out_, "table_started",
              nlohmann::json{{"table", table}, {"rows", total}, {"chunks", chunks}}.dump());
  }
  void Advanced(std::string_view table, int64_t done, int64_t rejected) override {
    EmitEvent(out_, "progress",
              nlohmann::json{{"table", table}, {"rows_done", done}, {"rejected", rejected}}.dump());
  }
  void ChunkStarted(int job, int jobs, std::string_view table, int chunk, int chunks) override {
    EmitEvent(out_, "chunk_started",
              nlohmann::json{{"job", job + 1}, {"jobs", jobs}, {"table", table},
                             {"chunk", chunk}, {"chunks", chunks}}.dump());
  }
  void JobIdle(int job) override {
    EmitEvent(out_, "job_idle", nlohmann::json{{"job", job + 1}}.dump());
  }
  void CopyPath(std::string_view table, bool passthrough, std::string_view why) override {
    EmitEvent(out_, "copy_path",
              nlohmann::json{{"table", table},
                             {"path", passthrough ? "pass-through" : "decoded"},
                             {"why", why}}
                  .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  }
  void ChunkFellBack(std::string_view table, int chunk, std::string_view why) override {
    EmitEvent(out_, "pass_through_fallback",
              nlohmann::json{{"table", table}, {"chunk", chunk}, {"why", why}}
                  .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  }
  void TableFinished(const copy::TableReport& r) override {
    EmitEvent(out_, "table_finished",
              nlohmann::json{{"table", r.source_table},
                             {"target", r.target_table},
                             {"source_rows", r.source_rows},
                             {"written", r.written},
                             {"rejected", r.rejected},
                             {"seconds", r.seconds},
                             {"passthrough", r.passthrough}}
                  .dump());
  }

 private:
  FILE* out_;
};

}  // namespace

void EmitEvent(FILE* out, std::string_view kind, const std::string& fields) {
  auto j = nlohmann::json::parse(fields, nullptr, false);
  nlohmann::json line = {{"event", kind}, {"at", NowIso()}};
  if (j.is_object()) line.update(j);
  std::fprintf(out, "%s\n", line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
  std::fflush(out);
}

std::unique_ptr<copy::Progress> MakeProgress(FILE* out) {
  if (isatty(fileno(out))) return std::make_unique<TerminalBar>(out);
  return std::make_unique<JsonLines>(out);
}

ReconnectObserver ReportReconnects(FILE* err, state::StateStore& store, std::string command) {
  return [err, &store, command = std::move(command)](const ReconnectAttempt& a) {
    double now = NowUnix();
    nlohmann::json j = {{"command", command},       {"side", a.side},
                        {"attempt", a.attempt},     {"error", a.error},
                        {"waited_s", a.waited_s},   {"reconnected", a.reconnected},
                        {"reconnect_error", a.reconnect_error}};
    EmitEvent(err, "reconnect", j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
    j["at"] = now;
    (void)store.Put(kLastReconnectKey,
                    j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  };
}

}  // namespace tandem::migration
