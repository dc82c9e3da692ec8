// `tandem assess`: the edge-case scan of src/assess, with the terminal summary, a progress bar
// per table and the JSON and HTML reports.
#include <malloc.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>

#include "assess/assess.h"
#include "migration/commands.h"
#include "migration/progress.h"
#include "migration/session.h"

namespace tandem::migration {

namespace {

// The copy's progress (a bar on a terminal, JSON lines otherwise), told about a scan.
class AssessProgress : public assess::Progress {
 public:
  explicit AssessProgress(FILE* err) : bar_(MakeProgress(err)) {}
  void TableStarted(std::string_view table, int64_t rows, int ranges) override {
    bar_->TableStarted(table, rows, ranges);
  }
  // Told after every batch (hundreds a second); drawn or written at most ten times a second.
  void Advanced(std::string_view table, int64_t done, int64_t rejected) override {
    auto now = std::chrono::steady_clock::now();
    if (now - last_ < std::chrono::milliseconds(100)) return;
    last_ = now;
    bar_->Advanced(table, done, rejected);
  }
  void TableFinished(const assess::TableSummary& s) override {
    copy::TableReport r{s.table, s.target_table, s.rows, s.rows - s.rejected, s.rejected, s.seconds};
    bar_->TableFinished(r);
  }

 private:
  std::unique_ptr<copy::Progress> bar_;
  std::chrono::steady_clock::time_point last_;
};

Status WriteFile(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary);
  f << text;
  if (!f.flush()) return Fail(Code::kFailedPrecondition, "cannot write {}", path);
  return Ok();
}

}  // namespace

Result<int> Assess(const AssessOptions& o, FILE* out, FILE* err) {
  TANDEM_ASSIGN_OR_RETURN(Session s, OpenSession(o.config_path, false));
  // The scratch directory for the key checks lives beside the state store (the disk tandem already
  // writes to), not in memory.
  std::string scratch = SqlitePath(s.cfg.state, s.cfg.dir)
                            .value_or((std::filesystem::path(s.cfg.dir) / "tandem").string()) +
                        ".assess-scratch";
  AssessProgress progress(err);
  assess::Options options;
  // The copy's batch size when it is smaller (a mapping's options.batch_rows), else the
  // assessment's own.
  options.batch_rows = std::min(options.batch_rows, static_cast<size_t>(s.cfg.batch_rows));
  options.range_rows = s.cfg.chunk_rows;
  s.jobs_flag = o.jobs;
  options.jobs = s.VerifyJobs();  // reads only: a SQLite source runs jobs too
  options.open_source = [&s] { return s.OpenSource(); };
  // main() keeps the process to one malloc arena (a copy's batches are allocated on one
  // thread and freed on another). The jobs of an assessment each allocate and free on their
  // own thread (casts, rows refilled at each range): on one arena they queue on its lock, and
  // two jobs ran no faster than one (measured). An arena a job, and one for the rest.
  mallopt(M_ARENA_MAX, options.jobs + 1);
  options.scratch_path = scratch;
  assess::Input in{s.cfg, s.tables, s.source_schema, s.target_schema, *s.source, *s.target};
  TANDEM_ASSIGN_OR_RETURN(assess::Report report, assess::Assess(in, progress, options));
  report.at = IsoTime(NowUnix());
  std::fputs(assess::ReportText(report).c_str(), out);
  if (!o.json_path.empty()) {
    TANDEM_RETURN_IF_ERROR(WriteFile(o.json_path, assess::ReportJson(report).dump(2) + "\n"));
    std::fprintf(out, "wrote %s\n", o.json_path.c_str());
  }
  if (!o.html_path.empty()) {
    TANDEM_RETURN_IF_ERROR(WriteFile(o.html_path, assess::ReportHtml(report)));
    std::fprintf(out, "wrote %s\n", o.html_path.c_str());
  }
  return report.HasProblems() ? kExitProblems : kExitOk;
}

}  // namespace tandem::migration
