// VolumeStatus (Talos' block.VolumeStatus resource,
// docs/talos/encryption-handler.md#what-the-volume-status-records and
// docs/talos/volume-lifecycle.md): what a volume's lifecycle reached and, for encrypted volumes,
// how it was unlocked.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cryptnode::volume {

// Talos' block.VolumePhase values, in Talos' names.
enum class Phase {
  kWaiting,
  kMissing,
  kLocated,
  kProvisioned,
  kPrepared,
  kReady,
  kFailed,
  kClosed
};

std::string_view phase_name(Phase p);  // "waiting", "missing", ..., "closed"

struct VolumeStatus {
  std::string id;  // "STATE", "EPHEMERAL", "u-data", ...
  Phase phase = Phase::kWaiting;
  std::optional<Phase> pre_fail_phase;  // set while phase == kFailed
  std::string error_message;            // Talos' text of the last error ("" when none)
  bool retryable = false;               // the last error is retried on the 30 s ticker
  std::string type = "partition";       // block.VolumeType: partition, disk, directory

  std::string location;  // the partition ("/dev/loop3p5")
  std::string
      mount_location;  // the block device the filesystem is on (mapper stand-in or location)
  std::string parent_location;  // the disk
  int partition_index = 0;      // 1-based GPT index, 0 when not a partition
  uint64_t size = 0;
  std::string filesystem;   // "xfs", "" ...
  std::string mount_point;  // where the simulator mounted it ("" when not mounted)

  // Encryption (empty/unset when the volume is not encrypted).
  std::string encryption_provider;  // "luks2" or ""
  std::optional<int> encryption_slot;
  std::vector<std::string> encryption_failed_syncs;
  bool encryption_locked_to_state = false;
  std::vector<std::string> configured_encryption_keys;  // sorted unique: static|nodeID|kms|tpm
  // tpmEncryptionOptions of the slot that opened the volume, when it is a TPM key (configured
  // values, not the token's).
  std::optional<std::vector<int>> tpm_pcrs;  // nullopt: not a TPM slot
  bool tpm_pcrs_nil = false;                 // Go nil (options: {}) rather than []
  std::optional<std::vector<int>> tpm_pub_key_pcrs;
};

}  // namespace cryptnode::volume
