// Writes frozen on one side while a switch drains the streams: by the user's freeze/unfreeze
// hooks, or for SQLite by a write lock tandem holds (other writers wait on it). The frozen
// side is in the migration state before the freeze is taken, so a freeze left behind by a
// killed command is released by the next one.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "engines/sqlite/database.h"
#include "migration/migration.h"

namespace tandem::migration {

class Freeze {
 public:
  // Records `side` ("old" or "new") as frozen in `st` (saved), then freezes it. On failure
  // whatever part of the freeze was taken is released and `st.frozen` is cleared again.
  static Result<std::unique_ptr<Freeze>> Take(Migration& m, MigrationState& st,
                                              const std::string& side);

  // Unfreezes, clears `st.frozen` (saved) and returns how long writes were frozen, in ms.
  Result<double> Release(Migration& m, MigrationState& st);

  // A freeze not released explicitly is released here (hooks best effort); the state keeps
  // saying frozen, so the next command releases it once more.
  ~Freeze();

 private:
  Freeze() = default;
  const mapping::Config* cfg_ = nullptr;
  std::string side_;
  bool hook_ = false, released_ = false;
  double ms_ = 0;
  std::unique_ptr<sqlite::Database> lock_;
  std::chrono::steady_clock::time_point started_;
};

// Releases a freeze that a killed process left recorded in `st`: runs the unfreeze hook when
// one is configured (a SQLite write lock died with its process), then clears `st.frozen`.
Status ReleaseLeftFreeze(Migration& m, MigrationState& st);

}  // namespace tandem::migration
