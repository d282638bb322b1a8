#include <fcntl.h>
#include <linux/fs.h>
#include <openssl/rand.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "cryptnode/engine/env.h"
#include "cryptnode/engine/error.h"

namespace cryptnode {
namespace {

class PosixBlockDevice final : public BlockDevice {
 public:
  PosixBlockDevice(std::string path, int fd, uint64_t size)
      : path_(std::move(path)), fd_(fd), size_(size) {}
  ~PosixBlockDevice() override { ::close(fd_); }

  const std::string& path() const override { return path_; }
  uint64_t size() const override { return size_; }

  void read_at(uint64_t offset, void* buf, size_t len) override {
    auto* p = static_cast<uint8_t*>(buf);
    while (len > 0) {
      ssize_t n = ::pread(fd_, p, len, static_cast<off_t>(offset));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) throw_errno(path_ + ": read", errno);
      if (n == 0) throw Error(Code::kIO, path_ + ": read: unexpected end of device");
      p += n;
      len -= static_cast<size_t>(n);
      offset += static_cast<uint64_t>(n);
    }
  }

  void write_at(uint64_t offset, const void* buf, size_t len) override {
    auto* p = static_cast<const uint8_t*>(buf);
    while (len > 0) {
      ssize_t n = ::pwrite(fd_, p, len, static_cast<off_t>(offset));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) throw_errno(path_ + ": write", errno);
      p += n;
      len -= static_cast<size_t>(n);
      offset += static_cast<uint64_t>(n);
    }
  }

  void sync() override {
    if (::fsync(fd_) != 0) throw_errno(path_ + ": fsync", errno);
  }

 private:
  std::string path_;
  int fd_;
  uint64_t size_;
};

class PosixRandom final : public RandomSource {
 public:
  void fill(uint8_t* out, size_t len) override {
    if (len && RAND_bytes(out, static_cast<int>(len)) != 1)
      throw Error(Code::kInternal, "RAND_bytes failed");
  }
};

class MonotonicClock final : public Clock {
 public:
  int64_t now_ms() override {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
  }
};

class PosixEnv final : public Env {
 public:
  std::unique_ptr<BlockDevice> open_block(const std::string& path, bool writable) override {
    int fd = ::open(path.c_str(), (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC);
    if (fd < 0) throw_errno(path, errno);
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
      int e = errno;
      ::close(fd);
      throw_errno(path + ": stat", e);
    }
    uint64_t size = static_cast<uint64_t>(st.st_size);
    if (S_ISBLK(st.st_mode) && ::ioctl(fd, BLKGETSIZE64, &size) != 0) {
      int e = errno;
      ::close(fd);
      throw_errno(path + ": BLKGETSIZE64", e);
    }
    return std::make_unique<PosixBlockDevice>(path, fd, size);
  }
  RandomSource& random() override { return random_; }
  Clock& clock() override { return clock_; }

 private:
  PosixRandom random_;
  MonotonicClock clock_;
};

}  // namespace

Env& Env::posix() {
  static PosixEnv env;
  return env;
}

}  // namespace cryptnode
