// A migration as every command sees it: the session (mapping, both connections, state
// store), its typed state, and its two change streams.
#pragma once

#include <cstdio>
#include <memory>
#include <string>
#include <utility>

#include "capture/change_stream.h"
#include "tandem/change_source.h"
#include "migration/follower_lock.h"
#include "migration/phase.h"
#include "migration/session.h"

namespace tandem::migration {

class Migration {
 public:
  // Opens the session and the forward stream; tandem's own writes on both sides are marked
  // so capture does not record them again (no echo between the streams).
  // The forward stream watches each mapped source table's columns (ChangeStream::
  // WatchColumns); a table whose columns no longer fit the mapping is held, not the end of the
  // migration (OpenSession's `in_migration`). `for_start`: mapped columns missing on the
  // target are added first (OpenSession's `add_columns`).
  static Result<std::unique_ptr<Migration>> Open(const std::string& config_path,
                                                 bool for_start = false);
  // Told when the forward stream starts holding a table (the follower emits the message).
  void set_on_hold(capture::HoldObserver on_hold) { on_hold_ = std::move(on_hold); }

  Session& s() { return s_; }
  state::StateStore& store() { return *s_.state; }
  capture::ChangeStream& forward() { return *forward_; }
  std::string state_path() { return store().db().path(); }

  Result<MigrationState> Load() { return LoadState(store()); }
  Status Save(const MigrationState& st, std::string_view why) { return SaveState(store(), st, why); }
  Result<Phase> phase();

  // The reverse stream (new -> old), compiled against the schemas as they are now.
  Result<capture::ChangeStream*> reverse();

  // Brings every installed stream up to the changes recorded so far: by waiting for the
  // follower (`tandem start`) when one runs, or by applying them here. Fails with
  // kDeadlineExceeded when `timeout_s` passes first. A switch drains only the stream that
  // writes into the side it did not freeze: the frozen side cannot take tandem's writes
  // either when the freeze is a SQLite write lock.
  enum class Streams { kBoth, kForward, kReverse };
  Status CatchUp(double timeout_s, Streams which = Streams::kBoth);

  // Changes not applied yet on a stream, and the age in seconds of the oldest of them.
  Result<std::pair<int64_t, double>> Lag(ChangeSource& from, std::string_view stream);

  // Refuses to go on when the mapping's URIs, tables or keys differ from those the migration
  // was started with (a resume with an edited key would copy into the wrong ranges).
  Status CheckSetup(const MigrationState& st);
  // What CheckSetup compares: URIs without passwords, and each table's source, target, key.
  std::string SetupFingerprint() const;

 private:
  Migration() = default;
  Session s_;
  std::unique_ptr<capture::ChangeStream> forward_, reverse_;
  std::vector<mapping::TableTransform> reverse_tables_;
  capture::HoldObserver on_hold_;
};

// State keys beside the migration record: the follower's last fatal error ({"at", "pid",
// "error"}; empty while one runs) and its answer to `switch writes`' probe.
inline constexpr std::string_view kFollowerErrorKey = "follower_error";
inline constexpr std::string_view kProbeAckKey = "probe_ack";

// The switch lock: held by a command for the whole of a multi-action step (switch, rollback,
// finalize), so a step found in the state while nobody holds the lock was interrupted.
Result<FollowerLock> TakeSwitchLock(const std::string& state_path, bool wait);

// Finishes or undoes a step that an interrupted command left half done (see Step), saying
// what it did on `out`. Nothing to do: Ok. A step still running in another process: Ok
// when `allow_running`, else kFailedPrecondition naming its pid.
Status RecoverInterrupted(Migration& m, FILE* out, bool allow_running);

// What the next command will do about an interrupted step, for `tandem status`.
std::string DescribeRecovery(const MigrationState& st);

}  // namespace tandem::migration
