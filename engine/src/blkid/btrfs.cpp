// btrfs (go-blockdevice blkid/internal/filesystems/btrfs): "_BHRfS_M" at 64 KiB + 64; nothing
// else is checked.
#include "prober.h"

namespace cryptnode::blkid::internal {
namespace {

constexpr uint64_t kSuperBlockOffset = 65536;
constexpr size_t kSuperBlockSize = 555;

class Btrfs final : public Prober {
 public:
  std::string_view name() const override { return "btrfs"; }
  std::vector<Magic> magics() const override { return {{kSuperBlockOffset + 64, "_BHRfS_M"}}; }
  std::optional<Found> probe(Reader& r, const Magic&) const override {
    auto sb = r.read(kSuperBlockOffset, kSuperBlockSize);
    if (!sb) return std::nullopt;
    Found f;
    f.uuid = uuid_string(sb->substr(32, 16));
    f.block_size = le32(*sb, 144);
    f.filesystem_block_size = le32(*sb, 148);
    f.probed_size = le64(*sb, 112);
    f.label = c_label(sb->substr(299, 256));
    return f;
  }
};

}  // namespace

std::unique_ptr<Prober> make_btrfs() {
  return std::make_unique<Btrfs>();
}

}  // namespace cryptnode::blkid::internal
