// Ceph BlueStore (go-blockdevice blkid/internal/filesystems/bluestore): "bluestore block device"
// at 0 is enough.
#include "prober.h"

namespace cryptnode::blkid::internal {
namespace {

class Bluestore final : public Prober {
 public:
  std::string_view name() const override { return "bluestore"; }
  std::vector<Magic> magics() const override { return {{0, "bluestore block device"}}; }
  std::optional<Found> probe(Reader&, const Magic&) const override { return Found{}; }
};

}  // namespace

std::unique_ptr<Prober> make_bluestore() {
  return std::make_unique<Bluestore>();
}

}  // namespace cryptnode::blkid::internal
