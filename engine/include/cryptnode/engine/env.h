// Every OS effect the engine needs goes through Env (LevelDB's pattern), so sim/ and tests can
// supply their own and inject faults. Env::posix() is the real one.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

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
};

class RandomSource {
 public:
  virtual ~RandomSource() = default;
  virtual void fill(uint8_t* out, size_t len) = 0;  // cryptographically secure in posix()
};

class Clock {
 public:
  virtual ~Clock() = default;
  virtual int64_t now_ms() = 0;  // monotonic milliseconds; the simulator's is virtual
};

class Env {
 public:
  virtual ~Env() = default;

  virtual std::unique_ptr<BlockDevice> open_block(const std::string& path, bool writable) = 0;
  virtual RandomSource& random() = 0;
  virtual Clock& clock() = 0;

  // Named fault points ("luks2.after_format", "meta.during_write", ...). The engine calls this at
  // each point; the posix Env does nothing, a test Env may throw to simulate a crash or a failure.
  virtual void fault_point(std::string_view name) {}

  static Env& posix();
};

}  // namespace cryptnode
