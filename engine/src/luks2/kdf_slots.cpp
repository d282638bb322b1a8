#include "kdf_slots.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <string>

#include "cryptnode/engine/error.h"

namespace cryptnode::luks2 {

namespace {

constexpr int kDefaultJobs = 2;
constexpr int kMaxJobs = 64;

int open_slot(const std::string& dir, int i) {
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) throw_errno(dir, errno);
  const std::string path = dir + "/argon2." + std::to_string(i);
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) throw_errno(path, errno);
  return fd;
}

// Takes slot i: without blocking (nonblocking) or waiting for it. False when it is held.
bool lock_slot(int fd, bool nonblocking) {
  for (;;) {
    if (::flock(fd, LOCK_EX | (nonblocking ? LOCK_NB : 0)) == 0) return true;
    if (errno == EINTR) continue;
    if (errno == EWOULDBLOCK) return false;
    throw_errno("flock argon2 slot", errno);
  }
}

}  // namespace

int kdf_slot_count() {
  const char* v = std::getenv("CRYPTNODE_ARGON2_JOBS");
  if (!v || !*v) return kDefaultJobs;
  char* end = nullptr;
  long n = std::strtol(v, &end, 10);
  if (*end != '\0' || n < 1 || n > kMaxJobs)
    throw Error(Code::kInvalidArgument, "CRYPTNODE_ARGON2_JOBS=\"" + std::string(v) +
                                            "\" is not a number of jobs in 1.." +
                                            std::to_string(kMaxJobs));
  return static_cast<int>(n);
}

std::string kdf_slots_dir() {
  if (const char* d = std::getenv("CRYPTNODE_KDF_SLOTS_DIR"); d && *d) return d;
  if (::geteuid() == 0) return "/run/cryptnode";
  return "/tmp/cryptnode-" + std::to_string(::geteuid());
}

std::optional<KdfSlot> KdfSlot::try_acquire() {
  const int n = kdf_slot_count();
  const std::string dir = kdf_slots_dir();
  for (int i = 0; i < n; ++i) {
    int fd = open_slot(dir, i);
    try {
      if (lock_slot(fd, true)) return KdfSlot(fd, i);
    } catch (...) {
      ::close(fd);
      throw;
    }
    ::close(fd);
  }
  return std::nullopt;
}

KdfSlot KdfSlot::acquire() {
  if (auto s = try_acquire()) return std::move(*s);
  // All held: wait on one of them, spread by pid so waiters do not all queue on slot 0.
  const int i = static_cast<int>(::getpid() % kdf_slot_count());
  int fd = open_slot(kdf_slots_dir(), i);
  try {
    lock_slot(fd, false);
  } catch (...) {
    ::close(fd);
    throw;
  }
  return KdfSlot(fd, i);
}

KdfSlot::~KdfSlot() {
  if (fd_ >= 0) ::close(fd_);  // closing the last descriptor releases the flock
}

}  // namespace cryptnode::luks2
