// go-blockdevice's chain.Default() (blkid/internal/chain/chain.go): the probers in the order they
// are tried. A device carrying two signatures is named by the one that comes first here.
#include "prober.h"

namespace cryptnode::blkid::internal {

const std::vector<std::unique_ptr<Prober>>& default_chain() {
  static const std::vector<std::unique_ptr<Prober>> chain = [] {
    std::vector<std::unique_ptr<Prober>> c;
    c.push_back(make_xfs());
    c.push_back(make_ext4());
    c.push_back(make_ext3());
    c.push_back(make_ext2());
    c.push_back(make_btrfs());
    c.push_back(make_vfat());
    c.push_back(make_iso9660());
    c.push_back(make_squashfs());
    c.push_back(make_talosmeta());
    c.push_back(make_gpt());
    c.push_back(make_bluestore());
    c.push_back(make_luks());
    c.push_back(make_swap());
    c.push_back(make_lvm2());
    c.push_back(make_zfs());
    return c;
  }();
  return chain;
}

}  // namespace cryptnode::blkid::internal
