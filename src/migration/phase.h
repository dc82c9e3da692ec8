// The migration's typed state: its phase, what capture is installed on each side, a freeze
// that may be held, and the switch step in progress with how far it got. Written in one
// state-store transaction before each action, so that after kill -9 the next command knows
// exactly what to finish or undo (like pgcopydb's single-row `setup` table).
//
//   backfill -> dual-write -> verified -> read-new -> write-new -> finalized
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "state/state_store.h"
#include "tandem/error.h"

namespace tandem::migration {

enum class Phase { kNone, kBackfill, kDualWrite, kVerified, kReadNew, kWriteNew, kFinalized, kStopped };
std::string_view PhaseName(Phase p);
Phase ParsePhase(std::string_view s);

// True in the phases where the change streams run.
bool Streaming(Phase p);
// Who the application reads from and writes to in phase `p`: "old" or "new".
std::pair<std::string, std::string> ReadsWrites(Phase p);
// The environment a hook gets for phase `p`: TANDEM_PHASE, TANDEM_READS, TANDEM_WRITES,
// TANDEM_ACTION.
std::map<std::string, std::string> HookEnv(Phase p, std::string_view action);

// A multi-action command in progress. A step that is set while no process holds the switch
// lock was interrupted (kill -9, a crash, a lost server).
enum class Step {
  kNone,
  kSwitchWrites,    // freeze old, drain, reverse capture, phase write-new, writes hook, unfreeze
  kRollbackWrites,  // freeze new, drain, phase read-new, writes hook, unfreeze, rollback hook
  kStop,            // rollback before any switch: remove capture, phase stopped
  kFinalize,        // drain, remove capture on both sides, phase finalized
};
std::string_view StepName(Step s);

// How far a step got. Each stage is written before the action it names is taken.
enum class Stage {
  kNone,
  kFreezing,   // the freeze is being taken (it may be partly held)
  kDraining,   // frozen; the streams are being drained
  kReverse,    // drained; reverse capture being installed
  kHooking,    // the phase is written; the writes hook is running
  kUnfreezing, // the hook ran; the freeze is being released
  kRemoving,   // capture is being removed (stop, finalize)
};
std::string_view StageName(Stage s);

struct MigrationState {
  Phase phase = Phase::kNone;
  bool capture_old = false;  // forward capture may be installed on old (set before installing)
  bool capture_old_ready = false;  // ... and its install completed on every table
  bool capture_new = false;  // reverse capture installed on new (the target)
  std::string frozen;        // "", "old" or "new": a freeze that may be held
  Step step = Step::kNone;
  Stage stage = Stage::kNone;
  double started_at = 0;        // unix seconds of the `tandem start` that began the migration
  double backfill_done_at = 0;  // unix seconds; 0 while backfilling
  std::string setup;            // what the migration was started with (SetupFingerprint)
  // A token `switch writes` asks the follower to echo (state key "probe_ack") once it has
  // polled the reverse stream: proof that the reverse stream runs before writes move.
  std::string probe;
};

// Reads the state (a store written by an older tandem keeps loose keys: they are read too).
Result<MigrationState> LoadState(state::StateStore& store);
// Writes the whole state and logs `why` with the phase and step, in one transaction.
Status SaveState(state::StateStore& store, const MigrationState& st, std::string_view why);

// Test hook for crash testing: when TANDEM_CRASH_AT equals `point`, the process kills itself
// with SIGKILL right there (as `kill -9` would, without any cleanup).
void CrashPoint(std::string_view point);

}  // namespace tandem::migration
