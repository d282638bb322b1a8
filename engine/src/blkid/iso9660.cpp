// ISO 9660 (go-blockdevice blkid/internal/filesystems/iso9660): "CD001" at 32769, then up to 16
// volume descriptors from 32 KiB in 2 KiB steps; a primary descriptor is required. The label is
// the Joliet (UTF-16BE) volume ID when there is a supplementary descriptor, else the primary's,
// trailing spaces and NULs trimmed. The size uses the low 16 bits of the space size, as
// go-blockdevice does.
#include "prober.h"

namespace cryptnode::blkid::internal {
namespace {

constexpr uint64_t kSuperblockOffset = 0x8000;
constexpr uint64_t kSectorSize = 2048;
constexpr size_t kDescriptorSize = 882;

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\0')) s.pop_back();
  return s;
}

class Iso9660 final : public Prober {
 public:
  std::string_view name() const override { return "iso9660"; }
  std::vector<Magic> magics() const override { return {{kSuperblockOffset + 1, "CD001"}}; }
  std::optional<Found> probe(Reader& r, const Magic&) const override {
    std::optional<std::string> pvd, joliet;
    for (uint64_t i = 0; i < 16; ++i) {
      auto vd = r.read(kSuperblockOffset + kSectorSize * i, kDescriptorSize);
      if (!vd) break;
      const uint8_t type = static_cast<uint8_t>((*vd)[0]);
      if (type == 0xff) break;
      if (type == 1) pvd = vd;
      if (type == 2) joliet = vd;
      if (pvd && joliet) break;
    }
    if (!pvd) return std::nullopt;
    const uint16_t block = le16(*pvd, 128);
    Found f;
    f.block_size = f.filesystem_block_size = block;
    f.probed_size = uint64_t{le16(*pvd, 80)} * block;
    if (joliet) {
      f.label = trim(utf16_to_utf8(joliet->substr(40, 32), true));
    } else {
      f.label = trim(pvd->substr(40, 32));
    }
    return f;
  }
};

}  // namespace

std::unique_ptr<Prober> make_iso9660() {
  return std::make_unique<Iso9660>();
}

}  // namespace cryptnode::blkid::internal
