// The per-volume lifecycle of Talos' VolumeManagerController (docs/talos/volume-lifecycle.md):
//   waiting|missing -> located -> provisioned -> (HandleEncryption) -> prepared -> (Format) ->
//   ready
// plus failed (with preFailPhase, retried) and closed. The engine owns the decisions (what is
// "empty", which mismatch is an error, Talos' texts); every device effect goes through VolumeHost
// (implemented by sim/) and the encryption step through VolumeEncryption.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "cryptnode/engine/config.h"
#include "cryptnode/engine/volume_status.h"

namespace cryptnode::volume {

// internal/pkg/partition/constants.go: LinuxFilesystemData, LinkSwap (sic).
inline constexpr const char* kLinuxFilesystemData = "0FC63DAF-8483-4772-8E79-3D69D8477DE4";
inline constexpr const char* kLinkSwap = "0657FD6D-A4AB-43C4-84E5-0933C84B4F4F";

// Talos' block.VolumeConfig resource for one volume, as built from the machine config (or from
// META for STATE before the machine config is known).
struct VolumeSpec {
  std::string id;     // "STATE", "EPHEMERAL", "u-data", ...
  std::string label;  // GPT partition label to locate (== id for partition volumes)

  // Talos' block.VolumeType: "partition"; "disk" (a whole disk, located by the disk selector,
  // no partition table) or "directory" (a directory under /var/mnt on EPHEMERAL: always ready,
  // nothing located, provisioned or encrypted of its own) — UserVolumeConfig volumeType, 1.12+.
  std::string type = "partition";
  // PartitionSpec.TypeUUID of a partition it provisions (internal/pkg/partition/constants.go).
  std::string partition_type = kLinuxFilesystemData;
  // Locator.Match: a VolumeLocator CEL expression over every discovered volume (disks and
  // partitions) instead of the partition label ("" : located by label).
  std::string volume_locator;

  // Locator: STATE without machine config only matches a partition that carries something
  // (`volume.name != ''`); empty STATE is then "missing".
  bool locate_requires_content = false;

  // Provisioning (absent => the volume is only located, never created).
  bool provision = false;
  int wave = 0;               // -1 system disk, 0 user volumes (processing order)
  std::string disk_selector;  // CEL text as configured; "system_disk" for system volumes
  uint64_t min_size = 0;
  uint64_t max_size = 0;  // 0: no maximum
  int max_size_percent = 0;
  bool grow = false;

  std::string fs_type;   // "xfs" | "ext4" | "" (raw volume: no filesystem)
  std::string fs_label;  // "STATE", "EPHEMERAL"; user volumes have none

  std::optional<config::EncryptionSpec> encryption;  // nullopt: unencrypted
};

struct Located {
  std::string location;         // partition device
  std::string parent_location;  // disk device
  int partition_index = 0;
  uint64_t size = 0;
};

// Device effects of the lifecycle; sim/ implements them on loop devices.
class VolumeHost {
 public:
  virtual ~VolumeHost() = default;
  virtual std::optional<Located> locate(const VolumeSpec& spec) = 0;
  // Creates the partition on a disk matching the selector; nullopt when no disk has room/matches.
  virtual std::optional<Located> provision(const VolumeSpec& spec) = 0;
  // Talos' blkid semantics: "" (nothing recognised, LUKS1 included), "luks", "xfs", ...
  virtual std::string probe(const std::string& device) = 0;
  virtual void make_filesystem(const std::string& device, const VolumeSpec& spec) = 0;
};

// The encryption step of one volume (HandleEncryption): format-and-encrypt or open + syncKeys, then
// activation. Fills the encryption fields of the status and returns the mapped device.
class VolumeEncryption {
 public:
  virtual ~VolumeEncryption() = default;
  virtual std::string format_and_open(const VolumeSpec& spec, const Located& where,
                                      VolumeStatus& status) = 0;
  virtual std::string open(const VolumeSpec& spec, const Located& where, VolumeStatus& status) = 0;
  virtual void close(const VolumeSpec& spec, VolumeStatus& status) = 0;
};

// One controller pass over one volume: advances it as far as it can go and records a failure
// the way Talos does (phase failed, preFailPhase, error text, retryable). A volume already ready
// is left alone (config changes act only at the next boot).
void reconcile(const VolumeSpec& spec, VolumeStatus& status, VolumeHost& host,
               VolumeEncryption& encryption);

// Closing (teardown): closes the encryption mapping; phase closed.
void close(const VolumeSpec& spec, VolumeStatus& status, VolumeEncryption& encryption);

}  // namespace cryptnode::volume
