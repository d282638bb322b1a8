// Talos META (go-blockdevice blkid/internal/filesystems/talosmeta; the ADV of Talos'
// internal/pkg/meta/internal/adv/talos): magic 0x5a4b3c2d (big endian) at 0, and one of the two
// 256 KiB copies, at 0 or at 256 KiB, that starts with 0x5a4b3c2d and ends with 0xa5b4c3d2.
#include "prober.h"

namespace cryptnode::blkid::internal {
namespace {

constexpr uint32_t kMagic1 = 0x5a4b3c2d;
constexpr uint32_t kMagic2 = 0xa5b4c3d2;
constexpr uint64_t kLength = 256 * 1024;

class TalosMeta final : public Prober {
 public:
  std::string_view name() const override { return "talosmeta"; }
  std::vector<Magic> magics() const override {
    return {{0, std::string_view("\x5a\x4b\x3c\x2d", 4)}};
  }
  std::optional<Found> probe(Reader& r, const Magic&) const override {
    for (uint64_t offset : {uint64_t{0}, kLength}) {
      auto head = r.read(offset, 4);
      if (!head) return std::nullopt;  // a read error ends the probe in go-blockdevice
      if (be32(*head, 0) != kMagic1) continue;
      auto tail = r.read(offset + kLength - 4, 4);
      if (!tail) return std::nullopt;
      if (be32(*tail, 0) != kMagic2) continue;
      Found f;
      f.probed_size = 2 * kLength;
      return f;
    }
    return std::nullopt;
  }
};

}  // namespace

std::unique_ptr<Prober> make_talosmeta() {
  return std::make_unique<TalosMeta>();
}

}  // namespace cryptnode::blkid::internal
