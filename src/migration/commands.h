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

// Lists stored rejects (all tables, or one) with their key and reason.
Result<int> ShowRejects(const std::string& config_path, const std::string& table, int limit,
                        FILE* out);

}  // namespace tandem::migration
