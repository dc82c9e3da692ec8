#include "migration/follower_lock.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace tandem::migration {
namespace {

// Open-file-description locks: released when the descriptor closes (also on kill -9), and
// testable with F_OFD_GETLK without taking them, so `tandem status` can ask who follows
// without ever making a starting follower believe another one runs.
struct flock WholeFile(short type) {
  struct flock fl {};
  fl.l_type = type;
  fl.l_whence = SEEK_SET;
  fl.l_start = 0;
  fl.l_len = 0;
  return fl;
}

Result<int> OpenLockFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    return Fail(Code::kFailedPrecondition, "cannot open lock file {}: {}", path, std::strerror(errno));
  }
  return fd;
}

std::string ReadHolder(int fd) {
  char buf[32] = {};
  ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
  return n > 0 ? std::string(buf, n) : "?";
}

}  // namespace

Result<FollowerLock> FollowerLock::TryAcquire(const std::string& state_path, bool& held,
                                              std::string& holder, std::string_view suffix) {
  TANDEM_ASSIGN_OR_RETURN(int fd, OpenLockFile(state_path + std::string(suffix)));
  struct flock fl = WholeFile(F_WRLCK);
  if (::fcntl(fd, F_OFD_SETLK, &fl) != 0) {
    holder = ReadHolder(fd);
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

Result<std::optional<std::string>> FollowerLock::Holder(const std::string& state_path,
                                                        std::string_view suffix) {
  TANDEM_ASSIGN_OR_RETURN(int fd, OpenLockFile(state_path + std::string(suffix)));
  struct flock fl = WholeFile(F_WRLCK);
  int rc = ::fcntl(fd, F_OFD_GETLK, &fl);
  int saved = errno;
  std::optional<std::string> holder;
  if (rc == 0 && fl.l_type != F_UNLCK) holder = ReadHolder(fd);
  ::close(fd);
  if (rc != 0) return Fail(Code::kInternal, "cannot test lock file {}{}: {}", state_path, suffix, std::strerror(saved));
  return holder;
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
  if (fd_ >= 0) ::close(fd_);  // closing the descriptor releases the lock
}

}  // namespace tandem::migration
