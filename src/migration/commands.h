// The commands behind the CLI. Each returns an exit code (see session.h) or an error that the
// CLI prints and maps with ExitFor().
#pragma once

#include <cstdio>
#include <string>

#include "copy/backfill.h"
#include "tandem/error.h"

namespace tandem::migration {

struct InitOptions {
  std::string source, target, output = "tandem.yaml";
  bool force = false;  // overwrite an existing file
};
// Writes a draft mapping listing every source table and column. Creates nothing else.
Result<int> Init(const InitOptions& options, FILE* out);

// Validates the mapping against both live schemas; prints every problem.
Result<int> Check(const std::string& config_path, FILE* out);

struct CopyOptions {
  std::string config_path = "tandem.yaml";
  bool restart = false;  // forget checkpoints and copy everything again
  int jobs = 0;          // --jobs (0: the mapping's options.jobs, else the cores, at most 8)
};
// Creates missing target tables, copies every table in chunks (resuming an unfinished copy),
// prints per table: source rows, written, rejected. 1 when there were rejects.
Result<int> Copy(const CopyOptions& options, FILE* out, FILE* err);

struct SchemaOptions {
  std::string config_path = "tandem.yaml";
  std::string sql_path;  // also write the DDL here ("" for none)
};
// Prints the target DDL in the order copy and start run it: every table, then per table its
// indexes, checks and foreign keys. Connects to read both schemas; changes nothing.
Result<int> Schema(const SchemaOptions& options, FILE* out);

// Prints the objects the last build could not make, from the state store; empty when none.
std::string DescribeObjectFailures(const std::vector<copy::ObjectFailure>& failures);

// Lists stored rejects (all tables, or one) with their key, reason, kind and rule.
// 1 when there are any.
Result<int> ShowRejects(const std::string& config_path, const std::string& table, int limit,
                        FILE* out);

// Prints the rejects of one source key (as `rejects` lists it: `4242, 2`, `'a@b.c'`, or JSON
// `[4242, 2]`) whole: table, key, kind, rule, reason, the full source row. kNotFound when no
// reject has that key. `table` narrows the search ("" for every table).
Result<int> ShowReject(const std::string& config_path, const std::string& table,
                       const std::string& key, FILE* out);

// Writes every reject (or one table's) to `csv_path`, RFC 4180 quoted, with a header:
// table, key, kind, rule, reason, row, chunk, at (key and row as JSON).
Result<int> ExportRejects(const std::string& config_path, const std::string& table,
                          const std::string& csv_path, FILE* out);

// `tandem rejects retry`: each rejected key is read again from the source (the row may have
// changed or gone), run through the mapping as tandem.yaml says now, and written to the
// target; its reject is removed once the row landed (or once the source row is gone), and
// updated with the new reason when it is refused again. Refused while `tandem start` or a
// switch runs (their streams would race the retry: stop the follower first; the changes made
// meanwhile stay captured and are applied by the next `tandem start`), and once writes go to
// new (write-new, finalized). Ends with the invariant per table. 0 when every reject landed,
// 1 when some remain.
Result<int> RetryRejects(const std::string& config_path, const std::string& table, FILE* out);

struct AssessOptions {
  std::string config_path = "tandem.yaml";
  std::string json_path, html_path;  // also write the report here ("" for none)
  int jobs = 0;  // --jobs (0: the mapping's options.jobs, else the cores, at most 8)
};
// Reads every source row through the mapping and reports what would not fit the target
// (src/assess). 0 when nothing would be rejected or fail, 1 otherwise.
Result<int> Assess(const AssessOptions& options, FILE* out, FILE* err);

}  // namespace tandem::migration
