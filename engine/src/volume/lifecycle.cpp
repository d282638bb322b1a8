// Talos' volume manager pass (docs/talos/volume-lifecycle.md#deciding-what-a-volume-holds,
// docs/talos/volume-lifecycle.md#mismatches): locate, provision, encryption, format.
#include <string>

#include "cryptnode/engine/error.h"
#include "cryptnode/engine/volume.h"

namespace cryptnode::volume {
namespace {

void fail(VolumeStatus& status, Phase at, const std::string& message, bool retryable) {
  status.pre_fail_phase = at;
  status.phase = Phase::kFailed;
  status.error_message = message;
  status.retryable = retryable;
}

void locate_step(const VolumeSpec& spec, VolumeStatus& status, VolumeHost& host) {
  std::optional<Located> where = host.locate(spec);
  if (where && spec.locate_requires_content && host.probe(where->location).empty()) {
    where.reset();  // STATE without config: an empty partition does not count
  }
  if (!where && spec.provision) where = host.provision(spec);
  if (!where) {
    status.phase = spec.provision ? Phase::kWaiting : Phase::kMissing;
    return;
  }
  status.location = where->location;
  status.parent_location = where->parent_location;
  status.partition_index = where->partition_index;
  status.size = where->size;
  status.phase = Phase::kProvisioned;
}

// HandleEncryption: probe the partition; "" formats, "luks" opens, anything else is a mismatch.
void encryption_step(const VolumeSpec& spec, VolumeStatus& status, VolumeHost& host,
                     VolumeEncryption& encryption) {
  Located where{status.location, status.parent_location, status.partition_index, status.size};
  if (!spec.encryption) {
    status.mount_location = status.location;
    status.phase = Phase::kPrepared;
    return;
  }
  const std::string kind = host.probe(status.location);
  if (kind.empty()) {
    status.mount_location = encryption.format_and_open(spec, where, status);
  } else if (kind == "luks") {
    status.mount_location = encryption.open(spec, where, status);
  } else {
    throw Error(Code::kFailedPrecondition, "block dev type mismatch: " + kind + " != luks");
  }
  status.phase = Phase::kPrepared;
}

// Format: probe the (mapped) device; "" => mkfs, same type => keep, other => mismatch.
void format_step(const VolumeSpec& spec, VolumeStatus& status, VolumeHost& host) {
  if (spec.fs_type.empty()) {  // raw volume
    status.phase = Phase::kReady;
    return;
  }
  const std::string kind = host.probe(status.mount_location);
  if (kind.empty() || kind == "swap") {  // format.go: a swap signature is always reformatted
    host.make_filesystem(status.mount_location, spec);
  } else if (kind == "luks" && !spec.encryption && spec.id == "STATE" &&
             spec.locate_requires_content) {
    // STATE before the machine config is known, with no STATE encryption in META (omni#988).
    status.phase = Phase::kProvisioned;
    throw Error(Code::kFailedPrecondition,
                "volume is encrypted, but no encryption config provided");
  } else if (kind != spec.fs_type) {
    throw Error(Code::kFailedPrecondition,
                "filesystem type mismatch: " + kind + " != " + spec.fs_type);
  }
  status.filesystem = spec.fs_type;
  status.phase = Phase::kReady;
}

}  // namespace

void reconcile(const VolumeSpec& spec, VolumeStatus& status, VolumeHost& host,
               VolumeEncryption& encryption) {
  status.id = spec.id;
  if (status.phase == Phase::kReady || status.phase == Phase::kClosed) return;
  if (status.phase == Phase::kFailed) {
    status.phase = status.pre_fail_phase.value_or(Phase::kWaiting);
    status.pre_fail_phase.reset();
  }
  status.error_message.clear();
  status.retryable = false;

  Phase at = status.phase;
  try {
    if (at == Phase::kWaiting || at == Phase::kMissing || at == Phase::kLocated) {
      locate_step(spec, status, host);
      at = status.phase;
      if (at != Phase::kProvisioned) return;
    }
    if (at == Phase::kProvisioned) {
      encryption_step(spec, status, host, encryption);
      at = status.phase;
    }
    if (at == Phase::kPrepared) format_step(spec, status, host);
  } catch (const Error& e) {
    // Errors of the encryption step keep Talos' retryable tag; mismatches are final.
    fail(status, status.phase == Phase::kFailed ? at : status.phase, e.what(), e.retryable());
  }
}

void close(const VolumeSpec& spec, VolumeStatus& status, VolumeEncryption& encryption) {
  if (spec.encryption && !status.mount_location.empty() &&
      status.mount_location != status.location) {
    encryption.close(spec, status);
  }
  status.mount_location.clear();
  status.mount_point.clear();
  status.phase = Phase::kClosed;
}

}  // namespace cryptnode::volume
