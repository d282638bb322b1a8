// The Talos META partition (docs/disk-layout.md#meta): two copies of the Talos ADV (256 KiB each,
// big-endian tag/size/value records, SHA-256 checksum, magics) at offset 0, and the legacy syslinux
// ADV in the last 1024 bytes, read and written back verbatim.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cryptnode/engine/env.h"

namespace cryptnode::meta {

constexpr size_t kADVLength = 256 * 1024;           // one copy
constexpr size_t kADVDataLength = kADVLength - 40;  // DataLength
constexpr size_t kADVSize = 2 * kADVLength;         // both copies
constexpr size_t kLegacyADVSize = 1024;             // syslinux ADV at the end
constexpr uint64_t kMetaPartitionSize = 1024 * 1024;
constexpr uint32_t kMagic1 = 0x5a4b3c2d;
constexpr uint32_t kMagic2 = 0xa5b4c3d2;

// pkg/machinery/meta/constants.go
constexpr uint8_t kUpgrade = 0x06;
constexpr uint8_t kStagedUpgradeImageRef = 0x07;
constexpr uint8_t kStagedUpgradeInstallOptions = 0x08;
constexpr uint8_t kStateEncryptionConfig = 0x09;
constexpr uint8_t kUUIDOverride = 0x0f;

// The Talos ADV: tag -> value. Records are marshalled in ascending tag order (Talos iterates a Go
// map: random order; readers accept any order).
class ADV {
 public:
  // SetTagBytes: false (nothing changed) when the value would not fit (Talos' size rule).
  bool set(uint8_t tag, std::string value);
  std::optional<std::string> get(uint8_t tag) const;
  bool remove(uint8_t tag);  // false when absent
  const std::map<uint8_t, std::string>& tags() const { return tags_; }

  // One 256 KiB copy. Throws Error(kInvalidArgument, "adv: overflow N bytes").
  std::string marshal() const;
  // Parses one copy. Throws Error(kCorrupt) with Talos' texts: "adv: unexpected magic",
  // "adv: checksum mismatch", "value goes beyond the end of the buffer".
  static ADV unmarshal(std::string_view copy);

 private:
  std::map<uint8_t, std::string> tags_;
};

struct Meta {
  ADV adv;
  std::string legacy;                 // the last 1024 bytes (syslinux ADV), verbatim
  int copy_used = 0;                  // 1 or 2: which copy was read; 0: none was valid
  std::vector<std::string> problems;  // why a copy was rejected ("copy 1: adv: checksum mismatch")

  // Strict read: falls back to copy 2 when copy 1 is damaged; throws Error(kCorrupt, "META: both
  // ADV copies are damaged: copy 1: ...; copy 2: ...") when both are.
  static Meta read(BlockDevice& dev);
  // Talos' Reload: like read(), but when both copies are damaged it returns an empty ADV (with
  // `problems` filled) instead of failing, as Talos ignores that error.
  static Meta load(BlockDevice& dev);
  // Flush: both copies (written one after the other, with the fault point
  // "meta.between_copies" in between), the legacy area, then one sync.
  void write(BlockDevice& dev, Env& env) const;
};

}  // namespace cryptnode::meta
