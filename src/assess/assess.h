// `tandem assess`: every source row of every mapped table is read through the mapping, in key
// ranges, and each mapped value is checked against the target column and constraints before a
// single row is copied. What would make a row be rejected, or a target object fail, or land a
// value that is probably wrong, becomes a Finding with counts, sample keys and the mapping
// change that fixes it.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "mapping/config.h"
#include "mapping/transform.h"
#include "tandem/engine.h"

namespace tandem::assess {

// What a finding means for the copy.
enum class Severity {
  kReject,   // the copy would reject these rows (they become rejects)
  kFails,    // the rows land, but a target object cannot be built (a unique index, a foreign key)
  kWarning,  // the rows land, with values that are probably wrong (mojibake, control characters)
};
// "reject", "fails", "warning".
std::string_view SeverityName(Severity s);

inline constexpr size_t kSampleKeys = 10;

struct Finding {
  std::string table;         // source table
  std::string target_table;
  std::string column;        // source column; for a key or foreign key its columns, comma-joined
  Problem kind = Problem::kNone;
  Severity severity = Severity::kWarning;
  int64_t count = 0;         // rows
  std::vector<Row> sample_keys;  // source keys of the first rows found (key order), at most 10
  std::string rule;          // what the rows meet: the mapping rule, target column or object
  std::string example;       // the message for the first row found
  std::string suggestion;    // YAML to add to the column's mapping ("" when no YAML fixes it)
  std::string advice;        // what to do, in a sentence
};

struct TableSummary {
  std::string table, target_table;
  int64_t rows = 0;      // source rows read
  int64_t rejected = 0;  // rows the copy would reject (each counted once, under its first problem)
  int64_t flagged = 0;   // rows that would land with a warning
  double seconds = 0;
};

struct Report {
  std::string source, target;  // URIs without passwords
  std::string at;              // when it ran, ISO 8601 UTC
  std::vector<TableSummary> tables;
  // Worst first: rejects, then objects that fail, then warnings; within each by table, count.
  std::vector<Finding> findings;
  double seconds = 0;
  // Some finding rejects rows or fails an object (`tandem assess` exits 1).
  bool HasProblems() const;
};

// Told how the scan goes; implemented by the caller (terminal bar, JSON lines).
class Progress {
 public:
  virtual ~Progress() = default;
  virtual void TableStarted(std::string_view table, int64_t estimated_rows, int ranges) = 0;
  virtual void Advanced(std::string_view table, int64_t rows_done, int64_t rejected) = 0;
  virtual void TableFinished(const TableSummary& summary) = 0;
};

struct Options {
  // Rows a job reads, maps and checks at a time: few enough that a batch is still in the
  // CPU's cache when it is mapped and checked (measured on 1,000,000 rows, 2 jobs: 2,000-row
  // batches took 0.12-0.16 s less than 10,000-row ones, and 50 MB of memory instead of 117).
  size_t batch_rows = 2000;
  int64_t range_rows = mapping::kDefaultChunkRows;  // rows per key range of the scan (at most)
  // Key ranges scanned at once (--jobs), each job with a source connection of its own from
  // `open_source` (job 0 reads through Input::source). The report is the same at any value.
  int jobs = 1;
  std::function<Result<std::unique_ptr<Engine>>()> open_source;
  // The directory that holds the hashed key values of the duplicate and foreign-key checks
  // (created, and removed afterwards; key_spill.h): tables larger than memory are checked on
  // disk.
  std::string scratch_path;
  // Bytes of hashed key values kept in memory rather than in the scratch files, for all key
  // sets together (key_spill.h); what is past it goes to disk.
  size_t kept_key_bytes = 64u << 20;
};

// What an assessment reads. REQUIRES: everything outlives the call; `tables` compiled from
// `cfg` against `source_schema` and `target_schema`.
struct Input {
  const mapping::Config& cfg;
  const std::vector<mapping::TableTransform>& tables;
  const std::vector<TableSchema>& source_schema;
  const std::vector<TableSchema>& target_schema;
  Engine& source;
  // Asked what it refuses (ValueRefusal) and its kind; read only for the keys of a table a
  // foreign key references that the mapping does not copy into.
  Engine& target;
};

// Scans every table and returns the findings. Fails (with the table named) only when a
// database or its scratch directory fails; a bad row is a finding, not an error.
Result<Report> Assess(const Input& in, Progress& progress, const Options& options);

// {"source", "target", "at", "seconds", "rows", "tables": [...], "findings": [...]}.
nlohmann::json ReportJson(const Report& report);
// One self-contained HTML page (inline CSS, no external assets).
std::string ReportHtml(const Report& report);
// The terminal summary: one line per finding with its suggestion, then per table.
std::string ReportText(const Report& report);

}  // namespace tandem::assess
