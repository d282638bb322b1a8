// LUKS (go-blockdevice blkid/internal/filesystems/luks): "LUKS\xba\xbe" at 0 and version 2 (big
// endian at 6). A LUKS1 header is not recognised: Talos sees "" and formats over it.
#include "prober.h"

namespace cryptnode::blkid::internal {
namespace {

constexpr size_t kHeaderSize = 512;  // struct luks2_phdr up to the checksum

class Luks final : public Prober {
 public:
  std::string_view name() const override { return "luks"; }
  std::vector<Magic> magics() const override { return {{0, std::string_view("LUKS\xba\xbe", 6)}}; }
  std::optional<Found> probe(Reader& r, const Magic&) const override {
    auto hdr = r.read(0, kHeaderSize);
    if (!hdr || be16(*hdr, 6) != 2) return std::nullopt;
    Found f;
    f.label = c_label(hdr->substr(24, 48));
    if (auto text = c_label(hdr->substr(168, 40))) f.uuid = parse_uuid(*text);
    return f;
  }
};

}  // namespace

std::unique_ptr<Prober> make_luks() {
  return std::make_unique<Luks>();
}

}  // namespace cryptnode::blkid::internal
