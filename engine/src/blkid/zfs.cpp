// ZFS member (go-blockdevice blkid/internal/filesystems/zfs, after libblkid's zfs.c): no magic
// (tried on every device of at least 64 MiB); at least 4 uberblocks (magic 0x00bab10c, little
// endian, or go-blockdevice's "swapped" 0x0cb1ba00) among the 128 1 KiB slots from 128 KiB into
// the four 256 KiB vdev labels (two at the start, two at the 256 KiB-aligned end). The label is
// the guid_sum of the last slot examined, as 16 hex digits.
#include <cstdio>

#include "prober.h"

namespace cryptnode::blkid::internal {
namespace {

constexpr uint64_t kUberblockCount = 128;
constexpr uint64_t kUberblockSize = 1024;
constexpr uint64_t kLabelUberblock = 128 * 1024;
constexpr uint64_t kVdevLabelSize = 256 * 1024;
constexpr int kMinUberblocks = 4;
constexpr uint64_t kMinSize = 64ull * 1024 * 1024;
constexpr uint64_t kMagic = 0x00bab10c;
constexpr uint64_t kMagicSwap = 0x0cb1ba00;

class Zfs final : public Prober {
 public:
  std::string_view name() const override { return "zfs"; }
  std::vector<Magic> magics() const override { return {Magic{}}; }
  std::optional<Found> probe(Reader& r, const Magic&) const override {
    const uint64_t size = r.size();
    if (size < kMinSize) return std::nullopt;
    const uint64_t last = size % kVdevLabelSize;
    int found = 0;
    uint64_t guid_sum = 0;
    for (uint64_t label : {uint64_t{0}, kVdevLabelSize, size - 2 * kVdevLabelSize - last,
                           size - kVdevLabelSize - last}) {
      auto buf = r.read(label, kVdevLabelSize);
      if (!buf) return std::nullopt;
      for (uint64_t i = 0; i < kUberblockCount; ++i) {
        const size_t at = kLabelUberblock + i * kUberblockSize;
        const uint64_t magic = le64(*buf, at);
        if (magic == kMagic || magic == kMagicSwap) ++found;
        guid_sum = le64(*buf, at + 24);
      }
      if (found >= kMinUberblocks) break;
    }
    if (found < kMinUberblocks) return std::nullopt;
    char text[17];
    std::snprintf(text, sizeof(text), "%016llx", static_cast<unsigned long long>(guid_sum));
    Found f;
    f.label = text;
    return f;
  }
};

}  // namespace

std::unique_ptr<Prober> make_zfs() {
  return std::make_unique<Zfs>();
}

}  // namespace cryptnode::blkid::internal
