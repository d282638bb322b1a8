// LVM2 physical volume (go-blockdevice blkid/internal/filesystems/lvm2): "LVM2 001" at 0x18 or
// 0x218, then a label header "LABELONE" ... "LVM2 001" in sector 0 or 1. The PV UUID (32
// characters, not a UUID) becomes the label, dashed 6-4-4-4-4-4-6.
#include "prober.h"

namespace cryptnode::blkid::internal {
namespace {

constexpr size_t kHeaderSize = 64;

class Lvm2 final : public Prober {
 public:
  std::string_view name() const override { return "lvm2-pv"; }
  std::vector<Magic> magics() const override { return {{0x018, "LVM2 001"}, {0x218, "LVM2 001"}}; }
  std::optional<Found> probe(Reader& r, const Magic&) const override {
    std::optional<std::string> hdr;
    for (uint64_t offset : {0, 512}) {
      hdr = r.read(offset, kHeaderSize);
      if (!hdr) return std::nullopt;
      if (hdr->substr(0, 8) == "LABELONE" && hdr->substr(24, 8) == "LVM2 001") break;
      hdr.reset();
    }
    if (!hdr) return std::nullopt;
    const std::string id = hdr->substr(32, 32);
    Found f;
    f.label = id.substr(0, 6) + "-" + id.substr(6, 4) + "-" + id.substr(10, 4) + "-" +
              id.substr(14, 4) + "-" + id.substr(18, 4) + "-" + id.substr(22, 4) + "-" +
              id.substr(26);
    return f;
  }
};

}  // namespace

std::unique_ptr<Prober> make_lvm2() {
  return std::make_unique<Lvm2>();
}

}  // namespace cryptnode::blkid::internal
