// Test support (header-only): scratch image files, loop devices over them, and the cryptsetup CLI
// as an independent reader. Everything is released in destructors, also when a test fails.
#pragma once

#include <fcntl.h>
#include <linux/loop.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <filesystem>
#include <system_error>
#include <vector>

namespace cryptnode::testing {

// A sparse file of `size` bytes in a fresh temporary directory.
class ScratchFile {
 public:
  explicit ScratchFile(uint64_t size) {
    char tmpl[] = "/tmp/cryptnode-test-XXXXXX";
    if (!mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
    dir_ = tmpl;
    path_ = dir_ + "/disk.img";
    int fd = ::open(path_.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);
    if (fd < 0 || ::ftruncate(fd, static_cast<off_t>(size)) != 0)
      throw std::runtime_error("cannot create " + path_);
    ::close(fd);
  }
  // The whole directory: tests put runtime directories (run/, FUSE mount points) beside the
  // image, and a bare rmdir left one /tmp/cryptnode-test-* behind per such test.
  ~ScratchFile() {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  const std::string& path() const { return path_; }
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_, path_;
};

// A loop device over a file (LOOP_CONFIGURE), detached in the destructor.
class ScratchLoop {
 public:
  explicit ScratchLoop(const std::string& file, uint32_t block_size = 512) {
    int ctl = ::open("/dev/loop-control", O_RDWR | O_CLOEXEC);
    if (ctl < 0) throw std::runtime_error("no /dev/loop-control");
    int backing = ::open(file.c_str(), O_RDWR | O_CLOEXEC);
    for (int attempt = 0; attempt < 20 && fd_ < 0; ++attempt) {
      int n = ::ioctl(ctl, LOOP_CTL_GET_FREE);
      if (n < 0) break;
      path_ = "/dev/loop" + std::to_string(n);
      int fd = ::open(path_.c_str(), O_RDWR | O_CLOEXEC);
      if (fd < 0) continue;
      loop_config cfg{};
      cfg.fd = static_cast<uint32_t>(backing);
      cfg.block_size = block_size;
      if (::ioctl(fd, LOOP_CONFIGURE, &cfg) == 0) {
        fd_ = fd;
      } else {
        ::close(fd);  // raced with another process: take the next free one
      }
    }
    ::close(backing);
    ::close(ctl);
    if (fd_ < 0) throw std::runtime_error("cannot attach a loop device to " + file);
  }
  ~ScratchLoop() {
    if (fd_ >= 0) {
      ::ioctl(fd_, LOOP_CLR_FD, 0);
      ::close(fd_);
    }
  }
  ScratchLoop(const ScratchLoop&) = delete;
  ScratchLoop& operator=(const ScratchLoop&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  int fd_ = -1;
};

struct CommandResult {
  int status = -1;
  std::string output;
};

// Runs argv with `input` on stdin (for --key-file -), capturing stdout+stderr. No shell.
inline CommandResult run(const std::vector<std::string>& argv, const std::string& input = "") {
  int in[2], out[2];
  if (::pipe(in) != 0 || ::pipe(out) != 0) throw std::runtime_error("pipe");
  pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(in[0], 0);
    ::dup2(out[1], 1);
    ::dup2(out[1], 2);
    ::close(in[1]);
    ::close(out[0]);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    _exit(127);
  }
  ::close(in[0]);
  ::close(out[1]);
  if (!input.empty()) (void)!::write(in[1], input.data(), input.size());
  ::close(in[1]);
  CommandResult r;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(out[0], buf, sizeof(buf))) > 0) r.output.append(buf, static_cast<size_t>(n));
  ::close(out[0]);
  int st = 0;
  ::waitpid(pid, &st, 0);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

// `cryptsetup open --test-passphrase --key-slot N --key-file -`: does the CLI accept it?
inline bool cli_opens(const std::string& dev, int slot, const std::string& passphrase) {
  return run({"cryptsetup", "open", "--test-passphrase", "--key-slot", std::to_string(slot),
              "--key-file", "-", dev},
             passphrase)
             .status == 0;
}

}  // namespace cryptnode::testing
