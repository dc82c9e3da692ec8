// The migration's phases and the commands that move between them (DESIGN.md phase table):
//
//   backfill -> dual-write -> verified -> read-new -> write-new -> finalized
//
// Every arrow is a command guarded by checks and announced through hooks; rollback undoes the
// last switch without losing a write made on either side.
#pragma once

#include <cstdio>
#include <string>

#include "migration/phase.h"
#include "tandem/error.h"

namespace tandem::migration {

struct StartOptions {
  std::string config_path = "tandem.yaml";
  bool until_synced = false;  // exit once the backfill is done and the stream caught up
  double idle_sleep_s = 0.02;  // between polls when caught up: ~50 cheap queries a second
  int jobs = 0;  // --jobs for the backfill (0: options.jobs, else the cores, at most 8)
};
// Installs capture, backfills (resuming), then follows the change streams until SIGINT or
// SIGTERM (or, with until_synced, until caught up).
Result<int> Start(const StartOptions& o, FILE* out, FILE* err);

struct VerifyOptions {
  std::string config_path = "tandem.yaml";
  std::string json_path;  // also write the report here
  int max_print = 50;     // differences printed per table
  int jobs = 0;           // --jobs: ranges compared at once (0: options.jobs, else the cores)
  bool digests = true;    // --no-digests: identity mappings row by row too (no in-database digests)
};
// Compares every table through the mapping; 0 when equal, 1 when differences remain.
Result<int> Verify(const VerifyOptions& o, FILE* out, FILE* err);

Result<int> ShowStatus(const std::string& config_path, bool json, FILE* out);

struct SwitchOptions {
  std::string config_path = "tandem.yaml";
  bool force = false;           // override the guards
  int64_t max_lag = 1000;       // changes not yet applied, above which a switch refuses
  double drain_timeout_s = 60;  // how long a switch waits for the stream to drain
  double probe_timeout_s = 15;  // how long switch writes waits for the follower's reverse poll
};
Result<int> SwitchReads(const SwitchOptions& o, FILE* out);
Result<int> SwitchWrites(const SwitchOptions& o, FILE* out);
Result<int> Rollback(const SwitchOptions& o, FILE* out);
Result<int> Finalize(const SwitchOptions& o, FILE* out);

}  // namespace tandem::migration
