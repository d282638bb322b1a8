// Test support (header-only): damage on-disk bytes the way an outside writer would.
#pragma once

#include <cstdint>
#include <fstream>
#include <string>

namespace cryptnode::testing {

// XORs the byte at `offset` of `path` with 0x5a (through the file, not the page cache of a loop
// device over it).
inline void flip_byte(const std::string& path, uint64_t offset) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(static_cast<std::streamoff>(offset));
  char c = 0;
  f.read(&c, 1);
  c = static_cast<char>(c ^ 0x5a);
  f.seekp(static_cast<std::streamoff>(offset));
  f.write(&c, 1);
}

}  // namespace cryptnode::testing
