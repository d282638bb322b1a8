// The narrow interface between Talos' controllers (engine/) and the machine they run on (sim/, or
// a fake in tests): disks and partitions, the activation backend, mounts, wipes and the key
// services. Files inside mounted volumes and META go through Env.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "cryptnode/engine/activation/backend.h"
#include "cryptnode/engine/error.h"
#include "cryptnode/engine/keys/kms_handler.h"
#include "cryptnode/engine/tpm/tpm_handler.h"
#include "cryptnode/engine/volume.h"

namespace cryptnode::controller {

class MachineHost : public volume::VolumeHost {
 public:
  ~MachineHost() override = default;

  // The META partition of the system disk (label META, exactly 1 MiB); "" when absent.
  virtual std::string meta_device() = 0;
  // label -> device of every disk ("system", "disk1", ...) and partition, while powered on.
  virtual std::map<std::string, std::string> partitions() = 0;

  virtual activation::ActivationBackend& activation() = 0;
  // Mounts the volume's mount_location; returns the mount point.
  virtual std::string mount(const volume::VolumeStatus& status) = 0;
  virtual void unmount(const std::string& volume_id) = 0;
  // Talos' reset of one volume: signature ranges + fast wipe, then (`drop_partition`, 1.12+:
  // versions::Rule::kResetDropsPartition) its GPT entry is deleted.
  virtual void wipe_partition(const volume::VolumeStatus& status, bool drop_partition) = 0;
  // Talos' reset without system labels: the whole system disk wiped by signatures (GPT, META and
  // every volume gone). Decision: the simulated installer lays Talos' layout (EFI, empty META)
  // down again at the next power-on, as a reinstall would.
  virtual void wipe_system_disk() = 0;

  // The KMS client transport (gRPC in the simulation); nullptr when the machine has none.
  // `trusted_roots_pem`: CA certificates the machine config adds (TrustedRootsConfig documents)
  // on top of the OS bundle; empty before a config is active — which is why a KMS whose CA lives
  // only in STATE cannot unlock STATE (talos#10542).
  virtual std::shared_ptr<keys::KmsTransport> kms(
      const std::vector<std::string>& trusted_roots_pem) = 0;

  // Talos extends PCR 11 with its boot phases ("enter-machined", "start-the-world"); a machine
  // without a TPM ignores it.
  virtual void extend_pcr_phase(std::string_view phase) {}

  // What the `tpm` key handler needs from this machine (its TPM, EFI variables, the booted UKI's
  // /.extra files), with the controller's PCR 11 lock (`pcr11_lock`, hardware.LockPCRStatus)
  // built in. A machine without a TPM returns a context whose connect throws Talos' text for a
  // missing /dev/tpm0 (the default here).
  virtual tpm::TpmContext tpm_context(
      std::function<void(const std::function<void()>&)> pcr11_lock) {
    tpm::TpmContext c;
    c.connect = []() -> std::unique_ptr<tpm::Tpm> {
      throw Error(Code::kUnavailable, tpm::kNoTPMDeviceText);
    };
    c.with_pcr11_lock = std::move(pcr11_lock);
    c.secure_boot = [] { return false; };
    c.setup_mode = [] { return false; };
    c.uki_files = [] { return tpm::UkiExtraFiles{}; };
    return c;
  }
};

}  // namespace cryptnode::controller
