// Simulated disks as Talos' DisksController would describe them (block.Disk): values taken from
// go-blockdevice's GetProperties on a QEMU q35 guest with a virtio-scsi controller at PCI slot 5
// and one scsi-hd per disk (block/device_linux.go: transport "virtio" for proc_name virtio_scsi;
// model, wwid and the symlinks as udev names such disks). Serials follow QEMU's default form.
#include "disk_facts.h"

#include <cmath>
#include <cstdio>

namespace cryptnode::sim {

std::string pretty_size(uint64_t size) {
  // dustin/go-humanize humanateBytes(s, 1000, ["B", "kB", "MB", ...]).
  static const char* kSizes[] = {"B", "kB", "MB", "GB", "TB", "PB", "EB"};
  if (size < 10) return std::to_string(size) + " B";
  const double s = static_cast<double>(size);
  const int e = static_cast<int>(std::floor(std::log(s) / std::log(1000.0)));
  const double val = std::floor(s / std::pow(1000.0, e) * 10 + 0.5) / 10;
  char buf[32];
  std::snprintf(buf, sizeof(buf), val < 10 ? "%.1f %s" : "%.0f %s", val, kSizes[e]);
  return buf;
}

cel::DiskFacts simulated_disk_facts(size_t index, uint64_t size) {
  const std::string n = std::to_string(index);
  const std::string serial = "QM0000" + std::to_string(index + 1);
  cel::DiskFacts d;
  d.size = size;
  d.pretty_size = pretty_size(size);
  d.io_size = 512;
  d.sector_size = 512;
  d.readonly = false;
  d.cdrom = false;
  d.rotational = true;  // QEMU's scsi-hd reports rotation unless rotation_rate=1
  d.model = "QEMU HARDDISK";
  d.serial = serial;
  d.modalias = "scsi:t-0x00";
  d.wwid = "t10.QEMU    QEMU HARDDISK   " + serial;
  d.bus_path = "/pci0000:00/0000:00:05.0/virtio2/host0/target0:0:" + n + "/0:0:" + n + ":0";
  d.sub_system = "/sys/class/block";
  d.transport = "virtio";
  d.dev_path = std::string("/dev/sd") + static_cast<char>('a' + index % 26);
  d.symlinks = {"/dev/disk/by-diskseq/" + std::to_string(index + 1),
                "/dev/disk/by-id/scsi-0QEMU_QEMU_HARDDISK_" + serial,
                "/dev/disk/by-path/pci-0000:00:05.0-scsi-0:0:" + n + ":0"};
  return d;
}

}  // namespace cryptnode::sim
