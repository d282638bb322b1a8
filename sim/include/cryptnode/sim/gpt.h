// A GPT as go-blockdevice writes it for Talos
// (docs/disk-layout.md#gpt-as-go-blockdevice-writes-it): 128 entries, the first usable LBA aligned
// to 1 MiB and written as such, protective MBR, both headers; partitions allocated in aligned free
// ranges; deleting a partition empties its slot so the others keep their numbers. Decision:
// cryptnode writes the GPT itself rather than with libfdisk, because go-blockdevice's aligned
// first-usable LBA is not what libfdisk writes.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "cryptnode/engine/env.h"

namespace cryptnode::sim {

constexpr const char* kTypeLinuxData = "0FC63DAF-8483-4772-8E79-3D69D8477DE4";
constexpr const char* kTypeEFI = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B";
constexpr const char* kTypeBIOS = "21686148-6449-6E6F-744E-656564454649";
constexpr const char* kTypeSwap = "0657FD6D-A4AB-43C4-84E5-0933C84B4F4F";

struct GptPartition {
  int index = 0;  // 1-based partition number (slot + 1)
  std::string label;
  std::string type_guid;  // upper-case text form
  std::string unique_guid;
  uint64_t first_lba = 0, last_lba = 0;  // inclusive
  uint64_t attributes = 0;
  uint64_t offset() const { return first_lba * 512; }
  uint64_t size() const { return (last_lba - first_lba + 1) * 512; }
};

class Gpt {
 public:
  static constexpr uint64_t kSector = 512;
  static constexpr uint64_t kAlign = 2048;  // sectors: 1 MiB

  static Gpt create(uint64_t disk_size, RandomSource& random);
  // Throws Error(kCorrupt) when the device holds no readable GPT.
  static Gpt read(BlockDevice& dev);
  void write(BlockDevice& dev) const;

  const std::vector<std::optional<GptPartition>>& slots() const { return slots_; }
  std::vector<GptPartition> partitions() const;
  std::optional<GptPartition> find(const std::string& label) const;

  // The largest aligned free range, in bytes.
  uint64_t largest_free() const;
  // Adds a partition of `size` bytes (0: the whole largest free range) in the smallest free range
  // that fits (largest range for size 0). Returns it; throws Error(kFailedPrecondition) when it
  // does not fit.
  GptPartition add(const std::string& label, uint64_t size, const std::string& type_guid,
                   RandomSource& random, uint64_t attributes = 0);
  void remove(int index);

 private:
  struct Range {
    uint64_t first, last;
  };
  std::vector<Range> free_ranges() const;
  uint64_t disk_size_ = 0;
  uint64_t last_lba_ = 0;
  std::array<uint8_t, 16> disk_guid_{};
  std::vector<std::optional<GptPartition>> slots_;  // 128
};

}  // namespace cryptnode::sim
