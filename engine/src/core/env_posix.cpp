// Env::posix(): the real operating system. Every syscall the engine and the node make lives in
// this file (and the activation backends' FUSE server, which is a kernel protocol of its own).
#include <dirent.h>
#include <fcntl.h>
#include <linux/blkpg.h>
#include <linux/fs.h>
#include <linux/loop.h>
#include <linux/openat2.h>
#include <openssl/rand.h>
#include <signal.h>
#include <spawn.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "cryptnode/engine/env.h"
#include "cryptnode/engine/error.h"

extern char** environ;

namespace cryptnode {
namespace {

int64_t monotonic_ms() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

void sleep_ms(int64_t ms) {
  if (ms <= 0) return;
  timespec ts{static_cast<time_t>(ms / 1000), static_cast<long>((ms % 1000) * 1000000)};
  while (::nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  Fd(Fd&& o) noexcept : fd_(o.release()) {}
  Fd& operator=(Fd&& o) noexcept {
    if (this != &o) {
      if (fd_ >= 0) ::close(fd_);
      fd_ = o.release();
    }
    return *this;
  }
  int get() const { return fd_; }
  int release() {
    int f = fd_;
    fd_ = -1;
    return f;
  }

 private:
  int fd_;
};

void write_all(int fd, std::string_view data, const std::string& what) {
  const char* p = data.data();
  size_t left = data.size();
  while (left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw_errno(what, errno);
    p += n;
    left -= static_cast<size_t>(n);
  }
}

std::string dirname_of(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

// /proc/self/mountinfo escapes space, tab, newline and backslash as \ooo.
std::string unescape_octal(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size() && s[i + 1] >= '0' && s[i + 1] <= '3' && s[i + 2] >= '0' &&
        s[i + 2] <= '7' && s[i + 3] >= '0' && s[i + 3] <= '7') {
      out += static_cast<char>((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0'));
      i += 3;
    } else {
      out += s[i];
    }
  }
  return out;
}

// openat2 beneath `dirfd`: no `..` or symlink may leave it, no magic links.
int open_beneath(int dirfd, const std::string& rel, uint64_t flags, uint64_t mode) {
  open_how how{};
  how.flags = flags | O_CLOEXEC;
  how.mode = (flags & O_CREAT) ? mode : 0;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
  for (;;) {
    long fd = ::syscall(SYS_openat2, dirfd, rel.c_str(), &how, sizeof(how));
    if (fd >= 0 || errno != EAGAIN) return static_cast<int>(fd);
  }
}

[[noreturn]] void throw_beneath(const std::string& root, const std::string& rel, int err) {
  if (err == EXDEV || err == ELOOP)
    throw Error(Code::kInvalidArgument, rel + ": resolves outside " + root);
  if (err == EISDIR) throw Error(Code::kInvalidArgument, rel + ": is a directory");
  if (err == ENOTDIR) throw Error(Code::kInvalidArgument, rel + ": a parent is not a directory");
  throw_errno(rel, err);
}

std::vector<std::string> split_relative(const std::string& root, const std::string& rel) {
  if (rel.empty() || rel[0] == '/')
    throw Error(Code::kInvalidArgument, "path \"" + rel + "\" must be relative to " + root);
  if (rel.find('\0') != std::string::npos)
    throw Error(Code::kInvalidArgument, "path must not contain a NUL byte");
  std::vector<std::string> parts;
  size_t p = 0;
  while (p <= rel.size()) {
    size_t slash = rel.find('/', p);
    if (slash == std::string::npos) slash = rel.size();
    std::string part = rel.substr(p, slash - p);
    if (!part.empty() && part != ".") parts.push_back(part);
    p = slash + 1;
  }
  if (parts.empty()) throw Error(Code::kInvalidArgument, "path \"" + rel + "\" names no file");
  return parts;
}

class PosixBlockDevice final : public BlockDevice {
 public:
  PosixBlockDevice(std::string path, int fd, uint64_t size, bool is_block)
      : path_(std::move(path)), fd_(fd), size_(size), is_block_(is_block) {}
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

  void discard(uint64_t offset, uint64_t len) override {
    if (!is_block_) return;
    uint64_t range[2] = {offset, len};
    ::ioctl(fd_, BLKDISCARD, range);  // errors ignored, as go-blockdevice does
  }

 private:
  std::string path_;
  int fd_;
  uint64_t size_;
  bool is_block_;
};

// BLKPG_DEL_PARTITION of partition `index` of `disk`, retried while a closing user still holds
// it; gives up silently (the partition may be gone already, or still held: a later
// add_partition deals with what is left).
void blkpg_delete(const std::string& disk, int index) {
  blkpg_partition part{};
  part.pno = index;
  blkpg_ioctl_arg arg{};
  arg.op = BLKPG_DEL_PARTITION;
  arg.datalen = sizeof(part);
  arg.data = &part;
  Fd fd(::open(disk.c_str(), O_RDWR | O_CLOEXEC));
  if (fd.get() < 0) return;
  for (int i = 0; i < 100; ++i) {  // EBUSY while a closing user still holds it
    if (::ioctl(fd.get(), BLKPG, &arg) == 0) {
      // A node made by mknod outlives the partition (devtmpfs only removes its own).
      ::unlink((disk + "p" + std::to_string(index)).c_str());
      return;
    }
    if (errno != EBUSY) return;
    sleep_ms(10);
  }
}

// The partition numbers the kernel holds for a loop device (/sys/block/loopN/loopNpM/partition).
std::vector<int> kernel_partitions(const std::string& loop) {
  const std::string base = loop.substr(loop.rfind('/') + 1);
  std::vector<int> out;
  DIR* d = ::opendir(("/sys/block/" + base).c_str());
  if (!d) return out;
  while (dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (name.rfind(base + "p", 0) != 0) continue;
    Fd fd(::open(("/sys/block/" + base + "/" + name + "/partition").c_str(), O_RDONLY | O_CLOEXEC));
    char buf[16] = {};
    if (fd.get() >= 0 && ::read(fd.get(), buf, sizeof buf - 1) > 0) out.push_back(std::atoi(buf));
  }
  ::closedir(d);
  return out;
}

// Partitions added with BLKPG outlive LOOP_CLR_FD: the kernel drops a loop device's partitions at
// detach (and at the next LOOP_CONFIGURE) only when it was bound with LO_FLAGS_PARTSCAN, which the
// simulation does not set (it adds the GPT's partitions itself). A loop device detached without
// deleting them first (a crashed owner's, cleared by recovery; a partition still held when its
// delete gave up) hands them to its next user, whose BLKPG add then fails with EBUSY.
void drop_partitions(const std::string& loop) {
  for (int index : kernel_partitions(loop)) blkpg_delete(loop, index);
}

class PosixLoopDevice final : public LoopDevice {
 public:
  PosixLoopDevice(std::string path, int number, int fd)
      : path_(std::move(path)), number_(number), fd_(fd) {}
  ~PosixLoopDevice() override {
    try {
      detach();
    } catch (...) {
    }
  }
  const std::string& path() const override { return path_; }
  int number() const override { return number_; }

  void detach() override {
    if (fd_ < 0) return;
    ::fsync(fd_);
    for (int i = 0; i < 200; ++i) {
      if (::ioctl(fd_, LOOP_CLR_FD, 0) == 0 || errno == ENXIO) break;
      sleep_ms(10);  // EBUSY: still in use
    }
    ::close(fd_);
    fd_ = -1;
    // The kernel detaches when the last opener is gone; wait until the backing file is released.
    const std::string sys = "/sys/block/loop" + std::to_string(number_) + "/loop/backing_file";
    for (int i = 0; i < 200 && ::access(sys.c_str(), F_OK) == 0; ++i) sleep_ms(5);
  }

 private:
  std::string path_;
  int number_;
  int fd_;
};

class PosixDaemon final : public Daemon {
 public:
  explicit PosixDaemon(pid_t pid) : pid_(pid) {}
  ~PosixDaemon() override { terminate(2000); }
  int pid() const override { return pid_; }

  bool alive() override {
    if (pid_ <= 0) return false;
    int status = 0;
    pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_ || (r < 0 && errno == ECHILD)) {
      pid_ = -1;
      return false;
    }
    return true;
  }

  void terminate(int grace_ms) override {
    if (!alive()) return;
    ::kill(pid_, SIGTERM);
    for (int waited = 0; waited < grace_ms; waited += 5) {
      if (!alive()) return;
      sleep_ms(5);
    }
    kill();
  }

  void kill() override {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
  }

 private:
  pid_t pid_;
};

// posix_spawnp with the given stdio; returns the pid. `extra_env` is appended to environ.
pid_t spawn_child(const std::vector<std::string>& argv, const std::vector<std::string>& extra_env,
                  int in_fd, int out_fd) {
  if (argv.empty()) throw Error(Code::kInvalidArgument, "run: empty argv");
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in_fd, 0);
  posix_spawn_file_actions_adddup2(&fa, out_fd, 1);
  posix_spawn_file_actions_adddup2(&fa, out_fd, 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);  // a child never inherits a blocked SIGTERM
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::vector<char*> envp;
  for (char** e = environ; e && *e; ++e) envp.push_back(*e);
  for (const auto& e : extra_env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  pid_t pid = 0;
  int rc = ::posix_spawnp(&pid, args[0], &fa, &attr, args.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) throw_errno("cannot run " + argv[0], rc);
  return pid;
}

class PosixFileLock final : public FileLock {
 public:
  explicit PosixFileLock(int fd) : fd_(fd) {}
  ~PosixFileLock() override {
    (void)::ftruncate(fd_, 0);
    ::close(fd_);  // releases the flock
  }

 private:
  int fd_;
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
  int64_t now_ms() override { return monotonic_ms(); }
};

class PosixEnv final : public Env {
 public:
  std::unique_ptr<BlockDevice> open_block(const std::string& path, bool writable) override {
    Fd fd(::open(path.c_str(), (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC));
    if (fd.get() < 0) throw_errno(path, errno);
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) throw_errno(path + ": stat", errno);
    uint64_t size = static_cast<uint64_t>(st.st_size);
    if (S_ISBLK(st.st_mode) && ::ioctl(fd.get(), BLKGETSIZE64, &size) != 0)
      throw_errno(path + ": BLKGETSIZE64", errno);
    return std::make_unique<PosixBlockDevice>(path, fd.release(), size, S_ISBLK(st.st_mode));
  }

  std::optional<std::string> read_file(const std::string& path) override {
    Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.get() < 0) {
      if (errno == ENOENT) return std::nullopt;
      throw_errno(path, errno);
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) == 0 && S_ISDIR(st.st_mode))
      throw Error(Code::kInvalidArgument, path + ": is a directory");
    std::string out;
    char buf[65536];
    for (;;) {
      ssize_t n = ::read(fd.get(), buf, sizeof(buf));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) throw_errno(path + ": read", errno);
      if (n == 0) break;
      out.append(buf, static_cast<size_t>(n));
    }
    return out;
  }

  void write_file_atomic(const std::string& path, std::string_view data, unsigned mode) override {
    const std::string tmp = path + ".tmp";
    {
      Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode));
      if (fd.get() < 0) throw_errno(tmp, errno);
      ::fchmod(fd.get(), mode);
      try {
        write_all(fd.get(), data, tmp);
        if (::fsync(fd.get()) != 0) throw_errno(tmp + ": fsync", errno);
      } catch (...) {
        ::unlink(tmp.c_str());
        throw;
      }
    }
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
      int e = errno;
      ::unlink(tmp.c_str());
      throw_errno("rename " + tmp + " to " + path, e);
    }
    Fd dir(::open(dirname_of(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (dir.get() >= 0) ::fsync(dir.get());
  }

  bool create_file_exclusive(const std::string& path, std::string_view data,
                             unsigned mode) override {
    Fd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode));
    if (fd.get() < 0) {
      if (errno == EEXIST) return false;
      throw_errno(path, errno);
    }
    write_all(fd.get(), data, path);
    if (::fsync(fd.get()) != 0) throw_errno(path + ": fsync", errno);
    return true;
  }

  bool exists(const std::string& path) override {
    struct stat st {};
    return ::lstat(path.c_str(), &st) == 0;
  }

  void make_dirs(const std::string& path, unsigned mode) override {
    if (path.empty()) return;
    std::string cur;
    size_t pos = 0;
    while (pos != std::string::npos) {
      pos = path.find('/', pos + 1);
      cur = path.substr(0, pos);
      if (cur.empty()) continue;
      if (::mkdir(cur.c_str(), mode) != 0 && errno != EEXIST) throw_errno("mkdir " + cur, errno);
    }
  }

  void remove(const std::string& path) override {
    if (::unlink(path.c_str()) == 0 || errno == ENOENT) return;
    if (errno == EISDIR || errno == EPERM) {
      if (::rmdir(path.c_str()) == 0 || errno == ENOENT) return;
    }
    throw_errno("remove " + path, errno);
  }

  std::vector<std::string> list_dir(const std::string& path) override {
    std::vector<std::string> out;
    DIR* d = ::opendir(path.c_str());
    if (!d) return out;
    while (dirent* e = ::readdir(d)) {
      std::string name = e->d_name;
      if (name != "." && name != "..") out.push_back(name);
    }
    ::closedir(d);
    return out;
  }

  std::optional<std::string> read_file_beneath(const std::string& root,
                                               const std::string& rel) override {
    split_relative(root, rel);
    Fd dir(::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (dir.get() < 0) throw_errno(root, errno);
    Fd fd(open_beneath(dir.get(), rel, O_RDONLY | O_NOCTTY | O_NONBLOCK, 0));
    if (fd.get() < 0) {
      if (errno == ENOENT) return std::nullopt;
      throw_beneath(root, rel, errno);
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) throw_errno(rel, errno);
    if (S_ISDIR(st.st_mode)) throw_beneath(root, rel, EISDIR);
    if (!S_ISREG(st.st_mode)) throw Error(Code::kInvalidArgument, rel + ": not a regular file");
    std::string out;
    char buf[65536];
    for (;;) {
      ssize_t n = ::read(fd.get(), buf, sizeof(buf));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) throw_errno(rel + ": read", errno);
      if (n == 0) break;
      out.append(buf, static_cast<size_t>(n));
    }
    return out;
  }

  void write_file_beneath(const std::string& root, const std::string& rel, std::string_view data,
                          unsigned mode) override {
    const std::vector<std::string> parts = split_relative(root, rel);
    Fd dir(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (dir.get() < 0) throw_errno(root, errno);
    // Walk (and create) the parents one component at a time, each opened beneath the last.
    std::string walked;
    for (size_t i = 0; i + 1 < parts.size(); ++i) {
      walked += (walked.empty() ? "" : "/") + parts[i];
      if (::mkdirat(dir.get(), parts[i].c_str(), 0755) != 0 && errno != EEXIST)
        throw_beneath(root, walked, errno);
      Fd next(open_beneath(dir.get(), parts[i], O_RDONLY | O_DIRECTORY, 0));
      if (next.get() < 0) throw_beneath(root, walked, errno);
      dir = std::move(next);
    }
    const std::string& name = parts.back();
    struct stat st {};
    if (::fstatat(dir.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode))
      throw_beneath(root, rel, EISDIR);
    // A symlink that leads out of the volume is refused, as reading through it is (renaming over
    // it would not write outside, but a caller meant its target).
    if (S_ISLNK(st.st_mode)) {
      Fd target(open_beneath(dir.get(), name, O_PATH, 0));
      if (target.get() < 0 && (errno == EXDEV || errno == ELOOP)) throw_beneath(root, rel, errno);
    }
    const std::string tmp = "." + name + ".cryptnode-tmp";
    Fd fd(::openat(dir.get(), tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
                   mode));
    if (fd.get() < 0) throw_beneath(root, rel, errno);
    try {
      write_all(fd.get(), data, rel);
      if (::fsync(fd.get()) != 0) throw_errno(rel + ": fsync", errno);
      if (::renameat(dir.get(), tmp.c_str(), dir.get(), name.c_str()) != 0)
        throw_beneath(root, rel, errno);
    } catch (...) {
      ::unlinkat(dir.get(), tmp.c_str(), 0);
      throw;
    }
    ::fsync(dir.get());
  }

  std::unique_ptr<FileLock> lock_file(const std::string& path, const std::string& owner) override {
    Fd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
    if (fd.get() < 0) throw_errno(path, errno);
    if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
      const int err = errno;
      if (err != EWOULDBLOCK) throw_errno(path + ": flock", err);
      char buf[64] = {};
      ssize_t n = ::pread(fd.get(), buf, sizeof(buf) - 1, 0);
      std::string held = n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
      while (!held.empty() && (held.back() == '\n' || held.back() == ' ')) held.pop_back();
      throw Error(Code::kLocked, held);
    }
    if (::ftruncate(fd.get(), 0) == 0) (void)::pwrite(fd.get(), owner.data(), owner.size(), 0);
    return std::make_unique<PosixFileLock>(fd.release());
  }

  ProcessResult run(const std::vector<std::string>& argv, const ProcessOptions& o) override {
    int out[2], in[2];
    if (::pipe2(out, O_CLOEXEC) != 0) throw_errno("pipe", errno);
    Fd out_r(out[0]), out_w(out[1]);
    if (::pipe2(in, O_CLOEXEC) != 0) throw_errno("pipe", errno);
    Fd in_r(in[0]), in_w(in[1]);
    pid_t pid = spawn_child(argv, o.env, in_r.get(), out_w.get());
    ::close(in_r.release());
    ::close(out_w.release());
    // Feed stdin in full before reading: inputs are small (a passphrase, a JSON token), far below
    // the pipe buffer, so this cannot deadlock against a child that writes first.
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    try {
      write_all(in_w.get(), o.stdin_data, argv[0] + ": stdin");
    } catch (...) {
      // The child closed stdin early; its exit code says why.
    }
    timespec zero{0, 0};
    sigtimedwait(&block, nullptr, &zero);  // drop a pending SIGPIPE of ours
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    ::close(in_w.release());
    ProcessResult r;
    char buf[4096];
    for (;;) {
      ssize_t n = ::read(out_r.get(), buf, sizeof(buf));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      r.output.append(buf, static_cast<size_t>(n));
      if (r.output.size() > 8192) r.output.erase(0, r.output.size() - 4096);
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (r.output.size() > 4096) r.output.erase(0, r.output.size() - 4096);
    return r;
  }

  std::unique_ptr<Daemon> spawn(const std::vector<std::string>& argv,
                                const ProcessOptions& o) override {
    Fd in(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    Fd out(o.output_file.empty()
               ? ::open("/dev/null", O_WRONLY | O_CLOEXEC)
               : ::open(o.output_file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
    if (in.get() < 0 || out.get() < 0)
      throw_errno(o.output_file.empty() ? "/dev/null" : o.output_file, errno);
    return std::make_unique<PosixDaemon>(spawn_child(argv, o.env, in.get(), out.get()));
  }

  std::string process_cmdline(int pid) override {
    if (pid <= 0) return "";
    auto text = read_file("/proc/" + std::to_string(pid) + "/cmdline");
    if (!text) return "";
    std::string s = *text;
    while (!s.empty() && s.back() == '\0') s.pop_back();
    for (char& c : s)
      if (c == '\0') c = ' ';
    return s;
  }

  void kill_process(int pid, int signal) override {
    if (pid > 0) ::kill(pid, signal);
  }

  void mount(const std::string& source, const std::string& target, const std::string& fstype,
             unsigned long flags, const std::string& data) override {
    if (::mount(source.c_str(), target.c_str(), fstype.c_str(), flags,
                data.empty() ? nullptr : data.c_str()) != 0)
      throw_errno("mount " + source + " on " + target, errno);
  }

  void unmount(const std::string& target, bool lazy) override {
    if (::umount2(target.c_str(), lazy ? MNT_DETACH : 0) == 0) return;
    if (errno == EINVAL || errno == ENOENT) return;  // not a mount point
    throw_errno("umount " + target, errno);
  }

  std::vector<MountEntry> mounts() override {
    std::vector<MountEntry> out;
    auto text = read_file("/proc/self/mountinfo");
    if (!text) return out;
    size_t pos = 0;
    while (pos < text->size()) {
      size_t eol = text->find('\n', pos);
      if (eol == std::string::npos) eol = text->size();
      std::string line = text->substr(pos, eol - pos);
      pos = eol + 1;
      // id parent maj:min root target options [optional...] - fstype source superopts
      std::vector<std::string> f;
      size_t p = 0;
      while (p < line.size()) {
        size_t sp = line.find(' ', p);
        if (sp == std::string::npos) sp = line.size();
        f.push_back(line.substr(p, sp - p));
        p = sp + 1;
      }
      size_t dash = 0;
      for (size_t i = 6; i < f.size(); ++i)
        if (f[i] == "-") {
          dash = i;
          break;
        }
      if (f.size() < 5 || dash == 0 || dash + 2 >= f.size()) continue;
      out.push_back({unescape_octal(f[dash + 2]), unescape_octal(f[4]), f[dash + 1], f[2]});
    }
    return out;
  }

  std::unique_ptr<LoopDevice> attach_loop(const std::string& file, uint32_t block_size,
                                          bool read_only, bool direct_io) override {
    Fd ctl(::open("/dev/loop-control", O_RDWR | O_CLOEXEC));
    if (ctl.get() < 0) throw_errno("/dev/loop-control", errno);
    Fd backing(::open(file.c_str(), (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC));
    if (backing.get() < 0) throw_errno(file, errno);
    int last = 0;
    for (int attempt = 0; attempt < 50; ++attempt) {
      int n = ::ioctl(ctl.get(), LOOP_CTL_GET_FREE);
      if (n < 0) {
        last = errno;
        break;
      }
      std::string path = "/dev/loop" + std::to_string(n);
      Fd fd(::open(path.c_str(), (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC));
      if (fd.get() < 0) {
        last = errno;
        continue;
      }
      loop_config cfg{};
      cfg.fd = static_cast<uint32_t>(backing.get());
      cfg.block_size = block_size;
      // Direct I/O asked for here, not by LOOP_SET_DIRECT_IO once bound: switching a bound device
      // freezes its queue and fsyncs the backing file (10-40 ms under load, at every open).
      cfg.info.lo_flags =
          (read_only ? LO_FLAGS_READ_ONLY : 0) | (direct_io ? LO_FLAGS_DIRECT_IO : 0);
      int rc = ::ioctl(fd.get(), LOOP_CONFIGURE, &cfg);
      if (rc != 0 && errno == EINVAL && direct_io) {  // a kernel that refuses the flag outright
        cfg.info.lo_flags &= ~LO_FLAGS_DIRECT_IO;
        rc = ::ioctl(fd.get(), LOOP_CONFIGURE, &cfg);
      }
      if (rc == 0) {
        drop_partitions(path);  // an earlier user's, left on the device (see drop_partitions)
        return std::make_unique<PosixLoopDevice>(path, n, fd.release());
      }
      last = errno;  // EBUSY: raced with another process; take the next free one
    }
    throw_errno("cannot attach a loop device to " + file, last ? last : EBUSY);
  }

  std::vector<std::string> loops_backed_under(const std::string& dir) override {
    std::vector<std::string> out;
    for (const auto& name : list_dir("/sys/block")) {
      if (name.rfind("loop", 0) != 0) continue;
      // Another process may detach it between the listing and the read: the attribute then
      // reads ENODEV (or is gone). Either way it is not a loop device under `dir`.
      std::optional<std::string> backing;
      try {
        backing = read_file("/sys/block/" + name + "/loop/backing_file");
      } catch (const Error&) {
        continue;
      }
      if (!backing) continue;
      // sysfs ends the path with one newline; the path itself may hold more (a node directory
      // named with a newline): only the last one is dropped.
      std::string b = *backing;
      if (!b.empty() && b.back() == '\n') b.pop_back();
      if (b.rfind(dir, 0) == 0) out.push_back("/dev/" + name);
    }
    return out;
  }

  void detach_loop(const std::string& loop_path) override {
    drop_partitions(loop_path);  // LOOP_CLR_FD would leave them to the device's next user
    Fd fd(::open(loop_path.c_str(), O_RDWR | O_CLOEXEC));
    if (fd.get() >= 0) ::ioctl(fd.get(), LOOP_CLR_FD, 0);
  }

  void add_partition(const std::string& disk, int index, uint64_t offset,
                     uint64_t length) override {
    blkpg_partition part{};
    part.start = static_cast<long long>(offset);
    part.length = static_cast<long long>(length);
    part.pno = index;
    blkpg_ioctl_arg arg{};
    arg.op = BLKPG_ADD_PARTITION;
    arg.datalen = sizeof(part);
    arg.data = &part;
    const std::string sys =
        "/sys/class/block/" + disk.substr(disk.rfind('/') + 1) + "p" + std::to_string(index);
    for (int attempt = 0;; ++attempt) {
      Fd fd(::open(disk.c_str(), O_RDWR | O_CLOEXEC));
      if (fd.get() < 0) throw_errno(disk, errno);
      if (::ioctl(fd.get(), BLKPG, &arg) == 0) break;
      if (errno != EBUSY || attempt == 3)
        throw_errno(disk + ": BLKPG add partition " + std::to_string(index), errno);
      // EBUSY: the kernel already has a partition with this number. Keep it only when it is
      // exactly this one; otherwise it is stale (a delete that lost a race): replace it.
      auto start = read_file(sys + "/start"), size = read_file(sys + "/size");
      if (start && size && std::stoull(*start) * 512 == offset &&
          std::stoull(*size) * 512 == length)
        break;
      if (start) {
        delete_partition(disk, index);
        continue;
      }
      // No partition with this number: EBUSY means a stale partition of another number (left by
      // an earlier user of this loop device) overlaps the new one. Delete the overlapping ones.
      const std::string base = disk.substr(disk.rfind('/') + 1);
      for (const auto& name : list_dir("/sys/class/block/" + base)) {
        if (name.rfind(base + "p", 0) != 0) continue;
        const std::string dir = "/sys/class/block/" + base + "/" + name;
        auto s0 = read_file(dir + "/start"), n0 = read_file(dir + "/size");
        auto pn = read_file(dir + "/partition");
        if (!s0 || !n0 || !pn) continue;
        const uint64_t b = std::stoull(*s0) * 512, e = b + std::stoull(*n0) * 512;
        if (b < offset + length && offset < e) delete_partition(disk, std::stoi(*pn));
      }
    }
    // devtmpfs creates /dev/loopNpM, but a node left by an earlier user of this loop device (made
    // by mknod, which devtmpfs never removes) may carry another partition's numbers: partition
    // minors are allocated dynamically. Make sure the node is this partition's.
    const std::string node = disk + "p" + std::to_string(index);
    const std::string base = node.substr(node.rfind('/') + 1);
    for (int i = 0; i < 200; ++i) {
      auto devno = read_file("/sys/class/block/" + base + "/dev");
      unsigned maj = 0, min = 0;
      if (devno && std::sscanf(devno->c_str(), "%u:%u", &maj, &min) == 2) {
        struct stat st {};
        if (::stat(node.c_str(), &st) == 0 && S_ISBLK(st.st_mode) &&
            st.st_rdev == makedev(maj, min))
          return;
        ::unlink(node.c_str());
        if (::mknod(node.c_str(), S_IFBLK | 0600, makedev(maj, min)) == 0 || errno == EEXIST)
          continue;  // check again (devtmpfs may have raced us)
        throw_errno("mknod " + node, errno);
      }
      sleep_ms(5);
    }
    throw Error(Code::kIO, node + ": the kernel did not create the partition");
  }

  void delete_partition(const std::string& disk, int index) override { blkpg_delete(disk, index); }

  Clock& clock() override { return clock_; }
  Clock& real_clock() override { return clock_; }
  void sleep_for_ms(int64_t ms) override { sleep_ms(ms); }
  RandomSource& random() override { return random_; }

 private:
  PosixRandom random_;
  MonotonicClock clock_;
};

}  // namespace

void Env::fault_point(std::string_view name) {
  if (!is_fault_point(name))
    throw Error(Code::kInternal, "unregistered fault point \"" + std::string(name) + "\"");
  on_fault_point(name);
}

Env& Env::posix() {
  static PosixEnv env;
  return env;
}

}  // namespace cryptnode
