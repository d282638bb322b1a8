// The block.Disk resource (Talos' DisksController, internal/app/machined/pkg/controllers/block/
// disks.go) of each simulated disk: the `disk` variable a diskSelector's CEL expression sees.
// docs/talos/volume-lifecycle.md#disk-selection lists the attributes and where they come from.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "cryptnode/engine/cel.h"

namespace cryptnode::sim {

// Disk `index` (0: the system disk) of `size` bytes, as a QEMU virtio-scsi hard disk ("scsi-hd")
// looks to Talos: /dev/sda, /dev/sdb, ...; model "QEMU HARDDISK", transport "virtio".
cel::DiskFacts simulated_disk_facts(size_t index, uint64_t size);

// go-humanize Bytes (SI units), Talos' DiskSpec.PrettySize: "1.1 GB", "537 MB", "9 B".
std::string pretty_size(uint64_t size);

}  // namespace cryptnode::sim
