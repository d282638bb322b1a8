// Linux swap (go-blockdevice blkid/internal/filesystems/swap): "SWAP-SPACE" or "SWAPSPACE2" at
// the end of the first page for 4, 8, 16, 32 or 64 KiB pages, then the header at 1024: version 1
// and a last page.
#include "prober.h"

namespace cryptnode::blkid::internal {
namespace {

constexpr size_t kHeaderSize = 516;

class Swap final : public Prober {
 public:
  std::string_view name() const override { return "swap"; }
  std::vector<Magic> magics() const override {
    std::vector<Magic> out;
    for (uint64_t page : {0x1000, 0x2000, 0x4000, 0x8000, 0x10000}) {
      out.push_back({page - 10, "SWAP-SPACE"});
      out.push_back({page - 10, "SWAPSPACE2"});
    }
    return out;
  }
  std::optional<Found> probe(Reader& r, const Magic& m) const override {
    auto hdr = r.read(1024, kHeaderSize);
    if (!hdr || le32(*hdr, 0) != 1 || le32(*hdr, 4) == 0) return std::nullopt;
    Found f;
    f.label = c_label(hdr->substr(28, 16));
    f.uuid = uuid_string(hdr->substr(12, 16));
    const uint32_t page = static_cast<uint32_t>(m.block_size());
    f.block_size = f.filesystem_block_size = page;
    f.probed_size = uint64_t{page} * le32(*hdr, 4);
    return f;
  }
};

}  // namespace

std::unique_ptr<Prober> make_swap() {
  return std::make_unique<Swap>();
}

}  // namespace cryptnode::blkid::internal
