// What a block device holds, as Talos asks go-blockdevice's blkid (siderolabs/go-blockdevice v2,
// blkid/; Talos release-1.12 pins v2.0.30). Talos' volume manager acts on the name alone
// (internal/app/machined/pkg/controllers/block/internal/volumes/encrypt.go, format.go): "" is
// formatted, "luks" is opened, anything else recognised is a mismatch and is never formatted over.
//
// The probers and their order are go-blockdevice's chain (blkid/internal/chain/chain.go): xfs,
// ext4, ext3, ext2, btrfs, vfat, iso9660, squashfs, talosmeta, gpt, bluestore, luks, swap,
// lvm2-pv, zfs. The first prober whose magic matches and whose checks pass names the device; a
// GPT's partitions are probed in turn (NestedProbeResult). docs/talos/volume-lifecycle.md lists
// every signature with its offsets.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "cryptnode/engine/env.h"

namespace cryptnode::blkid {

// go-blockdevice's blkid.MinProbeSize: a smaller range is an error, not "nothing found".
inline constexpr uint64_t kMinProbeSize = 16384;

// One probed filesystem, volume manager or partition table (blkid.ProbeResult). Everything but
// the name is what go-blockdevice extracts for it (unset/0 where it extracts nothing).
struct ProbeResult {
  std::string name;                  // "" when nothing was recognised
  std::optional<std::string> uuid;   // lower-case 8-4-4-4-12 (Go's uuid.UUID.String())
  std::optional<std::string> label;  // lvm2-pv and zfs put their IDs here, as go-blockdevice does
  uint32_t block_size = 0;
  uint32_t filesystem_block_size = 0;
  uint64_t probed_size = 0;
};

// A partition of a probed partition table and what it holds (blkid.NestedProbeResult).
struct NestedProbeResult {
  uint32_t partition_index = 0;  // 1-based, counting the GPT entries skipped before it
  std::string partition_uuid;
  std::string partition_type;
  std::string partition_label;
  uint64_t partition_offset = 0;  // bytes, relative to the table that lists it
  uint64_t partition_size = 0;
  ProbeResult probed;
  std::vector<NestedProbeResult> parts;
};

struct Info {
  uint64_t size = 0;
  ProbeResult probed;
  std::vector<NestedProbeResult> parts;  // a partition table's partitions
};

// go-blockdevice reads a block device's logical sector size and optimal I/O size (BLKSSZGET,
// BLKIOOPT; 512 for a regular file). The simulation's loop devices use 512-byte sectors.
struct ProbeOptions {
  uint32_t sector_size = 512;
  uint32_t io_size = 512;
};

// blkid.Probe. Throws Error(kIO, "failed to probe: error probing: probing range is too small: len
// N < min probe size 16384") for a device under kMinProbeSize, with "error probing nested: " once
// per level for a partition that small, and kIO when the first bytes cannot be read. A prober
// that cannot read what it needs (a truncated device) is skipped, as go-blockdevice skips it.
Info probe_info(BlockDevice& dev, const ProbeOptions& options);

// The name Talos' volume manager acts on: "" (nothing, LUKS1 included), "luks", "xfs", "ext4", ...
std::string probe(BlockDevice& dev);

}  // namespace cryptnode::blkid
