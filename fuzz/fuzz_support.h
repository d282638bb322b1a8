// Shared pieces of the fuzz targets: an in-memory BlockDevice, the input as text, and a property
// check that turns a broken invariant into a crash libFuzzer records.
//
// Contract every target checks: a parser given hostile bytes either returns or throws
// cryptnode::Error. Any other exception (nlohmann::json, std::out_of_range, yaml-cpp) escapes the
// callers, which catch Error only, and ends the process: libFuzzer reports it as a crash
// ("deadly signal" after std::terminate).
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "cryptnode/engine/env.h"
#include "cryptnode/engine/error.h"

namespace cryptnode::fuzz {

inline std::string_view text(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// A broken property (a round trip that does not hold): print what and abort.
inline void expect(bool ok, const char* what) {
  if (ok) return;
  std::fprintf(stderr, "fuzz property violated: %s\n", what);
  std::abort();
}

// A partition in memory. Reads and writes outside it fail as a short read of a real device does.
class MemoryDevice final : public BlockDevice {
 public:
  explicit MemoryDevice(std::string bytes, std::string path = "mem:fuzz")
      : bytes_(std::move(bytes)), path_(std::move(path)) {}
  const std::string& path() const override { return path_; }
  uint64_t size() const override { return bytes_.size(); }
  void read_at(uint64_t offset, void* buf, size_t len) override {
    check(offset, len);
    std::memcpy(buf, bytes_.data() + offset, len);
  }
  void write_at(uint64_t offset, const void* buf, size_t len) override {
    check(offset, len);
    std::memcpy(bytes_.data() + offset, buf, len);
  }
  void sync() override {}
  std::string& bytes() { return bytes_; }

 private:
  void check(uint64_t offset, size_t len) const {
    if (offset > bytes_.size() || len > bytes_.size() - offset)
      throw Error(Code::kIO, path_ + ": read beyond the end of the device");
  }
  std::string bytes_;
  std::string path_;
};

}  // namespace cryptnode::fuzz
