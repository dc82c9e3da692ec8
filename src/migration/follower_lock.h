// Only one process applies a change stream at a time: two appliers could land an older
// re-read after a newer one. The follower (`tandem start`) holds this lock; other commands
// that need the stream drained either wait for the follower or take the lock and drain
// themselves.
#pragma once

#include <optional>
#include <string>

#include "tandem/error.h"

namespace tandem::migration {

class FollowerLock {
 public:
  // Tries to take the lock file next to the state store (state path + `suffix`); `held` is
  // false when another process holds it (its pid is then in `holder`).
  static Result<FollowerLock> TryAcquire(const std::string& state_path, bool& held,
                                         std::string& holder, std::string_view suffix = ".lock");
  // Who holds the lock (their pid as written in the file), without taking it.
  static Result<std::optional<std::string>> Holder(const std::string& state_path,
                                                   std::string_view suffix = ".lock");
  FollowerLock(FollowerLock&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  FollowerLock& operator=(FollowerLock&& o) noexcept;
  FollowerLock(const FollowerLock&) = delete;
  ~FollowerLock();
  bool held() const { return fd_ >= 0; }

 private:
  explicit FollowerLock(int fd) : fd_(fd) {}
  int fd_ = -1;
};

}  // namespace tandem::migration
