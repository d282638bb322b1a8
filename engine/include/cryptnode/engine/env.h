// Env: the only way the engine and the simulated node reach the operating system (LevelDB's Env
// pattern). Block devices, files, processes and daemons, mounts, loop devices and BLKPG, time,
// sleep, randomness and fault points all go through it, so tests swap it (or wrap it with
// EnvWrapper and override one method) to run without root, to inject failures, and to run on a
// virtual clock. Env::posix() is the real one; nothing takes it as a default argument: every
// component receives the Env it must use.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cryptnode {

// A readable/writable byte range: a partition, a disk image, a file standing in for a device.
class BlockDevice {
 public:
  virtual ~BlockDevice() = default;
  virtual const std::string& path() const = 0;
  virtual uint64_t size() const = 0;
  // Read/write exactly `len` bytes or throw Error(kIO, "<path>: ...").
  virtual void read_at(uint64_t offset, void* buf, size_t len) = 0;
  virtual void write_at(uint64_t offset, const void* buf, size_t len) = 0;
  virtual void sync() = 0;
  // BLKDISCARD on a block device; a no-op for regular files and where discard is unsupported.
  virtual void discard(uint64_t offset, uint64_t len) {}
};

class RandomSource {
 public:
  virtual ~RandomSource() = default;
  virtual void fill(uint8_t* out, size_t len) = 0;  // cryptographically secure in posix()
};

class Clock {
 public:
  virtual ~Clock() = default;
  virtual int64_t now_ms() = 0;  // monotonic milliseconds
};

// A loop device attached to a backing file (LOOP_CONFIGURE). Destroying it detaches it.
class LoopDevice {
 public:
  virtual ~LoopDevice() = default;
  virtual const std::string& path() const = 0;  // "/dev/loopN"
  virtual int number() const = 0;
  // LOOP_CLR_FD, then waits until the kernel has released it. Idempotent.
  virtual void detach() = 0;
};

struct ProcessOptions {
  // Bytes fed to the child's stdin (then closed). The one safe way to hand a child a secret:
  // command lines are visible to every process on the host, so argv never carries one.
  std::string stdin_data;
  std::vector<std::string> env;  // extra "KEY=VALUE" entries on top of the parent's environment
  // Daemons only: stdout and stderr are appended to this file ("" => /dev/null).
  std::string output_file;
};

struct ProcessResult {
  int exit_code = 0;   // 128 + signal when killed by a signal
  std::string output;  // stdout + stderr, the last 4 KiB
};

// A long-running child (swtpm, virtiofsd, ...). Destroying the handle terminates it.
class Daemon {
 public:
  virtual ~Daemon() = default;
  virtual int pid() const = 0;
  virtual bool alive() = 0;  // false once it exited (it is reaped then)
  // SIGTERM, wait up to grace_ms, then SIGKILL; always reaps. Idempotent.
  virtual void terminate(int grace_ms) = 0;
  virtual void kill() = 0;  // SIGKILL now and reap (a power cut)
};

// An exclusive advisory lock on a file, held until destroyed.
class FileLock {
 public:
  virtual ~FileLock() = default;
};

struct MountEntry {
  std::string source;  // octal escapes of /proc/self/mountinfo (\040 for a space) decoded
  std::string target;
  std::string fstype;
  std::string devno;  // "major:minor" of the mounted filesystem
};

// Every named point where the engine or the node can be interrupted (Env::fault_point). The
// registry is closed: calling fault_point with a name that is not listed is a bug (kInternal), so
// a test that arms a point always arms one the code really reaches.
struct FaultPointInfo {
  std::string_view name;
  std::string_view description;
};
const std::vector<FaultPointInfo>& fault_points();
bool is_fault_point(std::string_view name);

class Env {
 public:
  virtual ~Env() = default;

  // --- block devices --------------------------------------------------------------------------
  virtual std::unique_ptr<BlockDevice> open_block(const std::string& path, bool writable) = 0;

  // --- files ----------------------------------------------------------------------------------
  virtual std::optional<std::string> read_file(const std::string& path) = 0;  // nullopt: absent
  // Writes `<path>.tmp` (mode), fsyncs it, renames it over `path` and fsyncs the directory: a
  // reader sees the old file or the new one, never a part.
  virtual void write_file_atomic(const std::string& path, std::string_view data, unsigned mode) = 0;
  // O_CREAT|O_EXCL: returns false (and writes nothing) when the file already exists.
  virtual bool create_file_exclusive(const std::string& path, std::string_view data,
                                     unsigned mode) = 0;
  virtual bool exists(const std::string& path) = 0;
  virtual void make_dirs(const std::string& path, unsigned mode) = 0;
  virtual void remove(const std::string& path) = 0;  // a file or an empty directory; absent is ok
  virtual std::vector<std::string> list_dir(const std::string& path) = 0;  // names; absent: {}
  // Files inside a mounted volume, whose content is untrusted (an image from elsewhere, a guest
  // wrote it): `rel` is resolved beneath `root` only (openat2 RESOLVE_BENEATH |
  // RESOLVE_NO_MAGICLINKS), so neither `..` nor a symlink can lead outside; such a path is
  // Error(kInvalidArgument, "<rel>: resolves outside <root>"). A directory is
  // Error(kInvalidArgument, "<rel>: is a directory"). The write is atomic (temporary file beside
  // it, fsync, rename) and creates missing parent directories; a failed write leaves the old file
  // or none.
  virtual std::optional<std::string> read_file_beneath(const std::string& root,
                                                       const std::string& rel) = 0;
  virtual void write_file_beneath(const std::string& root, const std::string& rel,
                                  std::string_view data, unsigned mode) = 0;
  // flock(LOCK_EX|LOCK_NB) on `path` (created 0600), which then holds `owner`. When another
  // process holds it: Error(kLocked, <what that owner wrote>).
  virtual std::unique_ptr<FileLock> lock_file(const std::string& path,
                                              const std::string& owner) = 0;

  // --- processes ------------------------------------------------------------------------------
  // Runs argv[0] (searched in PATH) and waits. Throws Error(kIO) when it cannot start.
  virtual ProcessResult run(const std::vector<std::string>& argv,
                            const ProcessOptions& options) = 0;
  virtual std::unique_ptr<Daemon> spawn(const std::vector<std::string>& argv,
                                        const ProcessOptions& options) = 0;
  // The command line of a running process (NUL-separated arguments joined by ' '); "" when there
  // is no such process. Used to recognise what a crashed owner left running.
  virtual std::string process_cmdline(int pid) = 0;
  virtual void kill_process(int pid, int signal) = 0;

  // --- mounts ---------------------------------------------------------------------------------
  virtual void mount(const std::string& source, const std::string& target,
                     const std::string& fstype, unsigned long flags, const std::string& data) = 0;
  // Unmounts `target`; lazy = MNT_DETACH. Not mounted is not an error.
  virtual void unmount(const std::string& target, bool lazy) = 0;
  virtual std::vector<MountEntry> mounts() = 0;

  // --- loop devices and partitions ------------------------------------------------------------
  // Attaches `file` (retrying when another process grabs the same free device); block_size is
  // the logical block size (`losetup -b`). direct_io asks LOOP_CONFIGURE itself for direct I/O
  // (`losetup --direct-io`): a kernel that cannot use it on this file leaves the device buffered.
  virtual std::unique_ptr<LoopDevice> attach_loop(const std::string& file, uint32_t block_size,
                                                  bool read_only, bool direct_io) = 0;
  // Every attached loop device whose backing file lies under `dir` ("/dev/loopN").
  virtual std::vector<std::string> loops_backed_under(const std::string& dir) = 0;
  virtual void detach_loop(const std::string& loop_path) = 0;  // errors ignored (recovery)
  // ioctl(BLKPG): the kernel here does not scan GPT, so partitions are added by hand; the device
  // node /dev/loopNpM is created when devtmpfs does not.
  virtual void add_partition(const std::string& disk, int index, uint64_t offset,
                             uint64_t length) = 0;
  virtual void delete_partition(const std::string& disk, int index) = 0;

  // --- time, randomness -----------------------------------------------------------------------
  // The node's clock. In the simulation it is virtual: it moves only when the node advances it,
  // which is how the 30 s retry ticker and the try-mode rollback run in no real time.
  virtual Clock& clock() = 0;
  // Real monotonic time, for reports and benchmarks only (how long a step took); never for
  // Talos' timers.
  virtual Clock& real_clock() = 0;
  virtual void sleep_for_ms(int64_t ms) = 0;  // real sleep (polling the kernel)
  virtual RandomSource& random() = 0;

  // --- faults ---------------------------------------------------------------------------------
  // Called by the engine and the node at each registered point. Checks the name against the
  // registry, then calls on_fault_point: the posix Env does nothing there, a test or the node's
  // crash_at may throw to simulate a failure or a power cut at exactly that step.
  void fault_point(std::string_view name);

  static Env& posix();

 protected:
  virtual void on_fault_point(std::string_view name) {}
};

// Forwards every call to another Env; subclasses override what they change (a virtual clock,
// a failing mount, a crash at a fault point).
class EnvWrapper : public Env {
 public:
  explicit EnvWrapper(Env& target) : target_(target) {}
  Env& target() const { return target_; }

  std::unique_ptr<BlockDevice> open_block(const std::string& path, bool writable) override {
    return target_.open_block(path, writable);
  }
  std::optional<std::string> read_file(const std::string& path) override {
    return target_.read_file(path);
  }
  void write_file_atomic(const std::string& path, std::string_view data, unsigned mode) override {
    target_.write_file_atomic(path, data, mode);
  }
  bool create_file_exclusive(const std::string& path, std::string_view data,
                             unsigned mode) override {
    return target_.create_file_exclusive(path, data, mode);
  }
  bool exists(const std::string& path) override { return target_.exists(path); }
  void make_dirs(const std::string& path, unsigned mode) override { target_.make_dirs(path, mode); }
  void remove(const std::string& path) override { target_.remove(path); }
  std::vector<std::string> list_dir(const std::string& path) override {
    return target_.list_dir(path);
  }
  ProcessResult run(const std::vector<std::string>& argv, const ProcessOptions& o) override {
    return target_.run(argv, o);
  }
  std::unique_ptr<Daemon> spawn(const std::vector<std::string>& argv,
                                const ProcessOptions& o) override {
    return target_.spawn(argv, o);
  }
  std::unique_ptr<FileLock> lock_file(const std::string& path, const std::string& owner) override {
    return target_.lock_file(path, owner);
  }
  std::optional<std::string> read_file_beneath(const std::string& root,
                                               const std::string& rel) override {
    return target_.read_file_beneath(root, rel);
  }
  void write_file_beneath(const std::string& root, const std::string& rel, std::string_view data,
                          unsigned mode) override {
    target_.write_file_beneath(root, rel, data, mode);
  }
  std::string process_cmdline(int pid) override { return target_.process_cmdline(pid); }
  void kill_process(int pid, int signal) override { target_.kill_process(pid, signal); }
  void mount(const std::string& source, const std::string& target, const std::string& fstype,
             unsigned long flags, const std::string& data) override {
    target_.mount(source, target, fstype, flags, data);
  }
  void unmount(const std::string& target, bool lazy) override { target_.unmount(target, lazy); }
  std::vector<MountEntry> mounts() override { return target_.mounts(); }
  std::unique_ptr<LoopDevice> attach_loop(const std::string& file, uint32_t block_size,
                                          bool read_only, bool direct_io) override {
    return target_.attach_loop(file, block_size, read_only, direct_io);
  }
  std::vector<std::string> loops_backed_under(const std::string& dir) override {
    return target_.loops_backed_under(dir);
  }
  void detach_loop(const std::string& loop_path) override { target_.detach_loop(loop_path); }
  void add_partition(const std::string& disk, int index, uint64_t offset,
                     uint64_t length) override {
    target_.add_partition(disk, index, offset, length);
  }
  void delete_partition(const std::string& disk, int index) override {
    target_.delete_partition(disk, index);
  }
  Clock& clock() override { return target_.clock(); }
  Clock& real_clock() override { return target_.real_clock(); }
  void sleep_for_ms(int64_t ms) override { target_.sleep_for_ms(ms); }
  RandomSource& random() override { return target_.random(); }

 protected:
  void on_fault_point(std::string_view name) override { target_.fault_point(name); }

 private:
  Env& target_;
};

// A clock that moves only when told to: the simulated node's time.
class VirtualClock final : public Clock {
 public:
  int64_t now_ms() override { return now_; }
  void advance_ms(int64_t ms) { now_ += ms; }
  void set_ms(int64_t ms) { now_ = ms; }

 private:
  int64_t now_ = 0;
};

}  // namespace cryptnode
