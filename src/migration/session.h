// A migration session: the mapping, both connections, the state store and the compiled
// tables, opened the same way by every command.
#pragma once

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "copy/backfill.h"
#include "engines/reconnect.h"
#include "mapping/config.h"
#include "mapping/drift.h"
#include "mapping/transform.h"
#include "state/state_store.h"
#include "tandem/change_source.h"
#include "tandem/engine.h"

namespace tandem::migration {

// Exit codes of every command.
enum Exit : int {
  kExitOk = 0,        // success
  kExitProblems = 1,  // completed, but found problems (rejects, differences)
  kExitInvalid = 2,   // invalid input: arguments, mapping
  kExitRuntime = 3,   // runtime failure: connection, precondition
};
int ExitFor(const Error& e);

struct Session {
  mapping::Config cfg;
  std::unique_ptr<Engine> source, target;
  // Change capture on each side, through the connection above (declared after it, so
  // destroyed before it): source_changes feeds the forward stream, target_changes the
  // reverse one, and each suppresses capture of tandem's own writes on its side.
  std::unique_ptr<ChangeSource> source_changes, target_changes;
  std::unique_ptr<state::StateStore> state;
  std::vector<TableSchema> source_schema, target_schema;
  std::vector<mapping::TableTransform> tables;
  // Mapped source tables whose columns no longer fit the mapping (a migration in progress
  // only, see OpenSession): compiled against the table as the mapping knows it, to be held.
  std::vector<std::pair<std::string, std::vector<mapping::ColumnChange>>> drifted;

  // `--jobs` as given on the command line (0: not given; see Config::Jobs).
  int jobs_flag = 0;

  // Opens a second connection to the source or target (for a worker or a stream).
  Result<std::unique_ptr<Engine>> OpenSource() const;
  Result<std::unique_ptr<Engine>> OpenTarget() const;
  // A target connection for a job: its writes are tandem's own, never captured (like the
  // session's target under a migration).
  Result<std::unique_ptr<Engine>> OpenTargetForJob() const;
  // Jobs for a copy or backfill: Config::Jobs, but one with a SQLite target (docs/decisions.md,
  // "Jobs": SQLite has one writer at a time).
  int CopyJobs() const;
  // Jobs for verify (reads only, so a SQLite side runs them too).
  int VerifyJobs() const { return cfg.Jobs(jobs_flag); }
  const mapping::TableTransform* FindTable(std::string_view source_table) const;
  // A backfill of every mapped table with the mapping's `options`; a chunk cut short by a
  // lost connection is copied again after reconnecting, each attempt told to `on_reconnect`.
  // With `only`, of those tables (REQUIRES: `only` outlives the Backfill).
  copy::Backfill MakeBackfill(copy::Progress& progress, ReconnectObserver on_reconnect = {},
                              const std::vector<mapping::TableTransform>* only = nullptr);
};

// Loads the mapping, connects to both sides, introspects them and compiles the mapping.
// With `with_state`, opens the state store too.
//
// With `in_migration` (and `with_state`), while the stored migration streams, a mapped table
// whose source columns no longer fit the mapping (a column added, or a mapped one gone) does not
// fail the whole mapping: it is compiled as the mapping knows it and listed in `drifted`.
// With `add_columns` too (`tandem start`), mapped columns missing on an existing target table
// are added there first (Engine::AddColumn), and the table is listed for a copy again
// (kRecopyKey) before the column is added, while a migration is in progress.
Result<Session> OpenSession(const std::string& config_path, bool with_state,
                            bool in_migration = false, bool add_columns = false);

// The state store key listing the source tables to copy again (a JSON array): their chunk
// plan is reset by the next `tandem start`, which copies them under the chunk rule while the
// other tables keep streaming.
inline constexpr std::string_view kRecopyKey = "schema.recopy";
Result<std::set<std::string>> RecopyTables(state::StateStore& store);
Status PutRecopyTables(state::StateStore& store, const std::set<std::string>& tables);

}  // namespace tandem::migration
