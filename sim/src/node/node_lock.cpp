#include "cryptnode/sim/node_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "cryptnode/engine/error.h"

namespace cryptnode::sim {

NodeLock::NodeLock(const std::string& dir) {
  const std::string path = dir + "/node.lock";
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd_ < 0) throw_errno(path, errno);
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    char buf[32] = {};
    ssize_t n = ::pread(fd_, buf, sizeof(buf) - 1, 0);
    std::string pid = n > 0 ? std::string(buf, static_cast<size_t>(n)) : "?";
    while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) pid.pop_back();
    ::close(fd_);
    fd_ = -1;
    if (err == EWOULDBLOCK)
      throw Error(Code::kLocked,
                  "node directory " + dir + " is locked by another process (pid " + pid + ")");
    throw_errno(path + ": flock", err);
  }
  std::string me = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd_, 0) == 0) (void)::pwrite(fd_, me.data(), me.size(), 0);
}

NodeLock::~NodeLock() {
  if (fd_ >= 0) {
    (void)::ftruncate(fd_, 0);
    ::close(fd_);  // releases the flock
  }
}

}  // namespace cryptnode::sim
