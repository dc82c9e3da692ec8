#include "migration/follower_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace tandem::migration {

Result<FollowerLock> FollowerLock::TryAcquire(const std::string& state_path, bool& held,
                                              std::string& holder) {
  std::string path = state_path + ".lock";
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    return Fail(Code::kFailedPrecondition, "cannot open lock file {}: {}", path, std::strerror(errno));
  }
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    char buf[32] = {};
    ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
    holder = n > 0 ? std::string(buf, n) : "?";
    ::close(fd);
    held = false;
    return FollowerLock(-1);
  }
  std::string pid = std::to_string(::getpid());
  (void)::ftruncate(fd, 0);
  (void)::pwrite(fd, pid.data(), pid.size(), 0);
  held = true;
  return FollowerLock(fd);
}

FollowerLock& FollowerLock::operator=(FollowerLock&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = o.fd_;
    o.fd_ = -1;
  }
  return *this;
}

FollowerLock::~FollowerLock() {
  if (fd_ >= 0) ::close(fd_);  // closing releases the flock
}

}  // namespace tandem::migration
