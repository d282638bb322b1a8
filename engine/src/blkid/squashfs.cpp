// SquashFS (go-blockdevice blkid/internal/filesystems/squashfs): "sqsh" or "hsqs" at 0 and a major
// version of at least 4 (little endian at 28).
#include "prober.h"

namespace cryptnode::blkid::internal {
namespace {

constexpr size_t kSuperBlockSize = 96;

class Squashfs final : public Prober {
 public:
  std::string_view name() const override { return "squashfs"; }
  std::vector<Magic> magics() const override { return {{0, "sqsh"}, {0, "hsqs"}}; }
  std::optional<Found> probe(Reader& r, const Magic&) const override {
    auto sb = r.read(0, kSuperBlockSize);
    if (!sb || le16(*sb, 28) < 4) return std::nullopt;
    Found f;
    f.block_size = f.filesystem_block_size = le32(*sb, 12);
    f.probed_size = le64(*sb, 40);
    return f;
  }
};

}  // namespace

std::unique_ptr<Prober> make_squashfs() {
  return std::make_unique<Squashfs>();
}

}  // namespace cryptnode::blkid::internal
