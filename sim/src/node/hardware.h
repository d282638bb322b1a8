// The node's hardware while powered on: what Talos' controllers need (controller::MachineHost)
// plus what the node itself uses (the partition map, an abrupt stop). Destroying it tears
// everything down in order (unmount, close, detach), also after errors.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "cryptnode/engine/controller/machine_host.h"
#include "cryptnode/engine/env.h"
#include "cryptnode/sim/node_settings.h"

namespace cryptnode::sim {

class Hardware : public controller::MachineHost {
 public:
  ~Hardware() override = default;
  // Abrupt stop: drop everything without syncing or unmounting cleanly (a power cut).
  virtual void cut() = 0;
  // TPM2_Clear on the running TPM (a new SRK); nothing on a node without a TPM.
  virtual void clear_tpm() = 0;
};

std::unique_ptr<Hardware> power_on_hardware(const std::string& node_dir,
                                            const NodeSettings& settings, Env& env);
// What a crashed owner of the node directory left behind: mounts and the FUSE mapper under
// <node>/run, loop devices on it and on the disk images. Safe when nothing is left.
void recover_hardware(const std::string& node_dir, Env& env);
// Lays out a fresh system disk image: Talos' GPT with EFI and a zeroed META.
void format_system_disk_image(const std::string& image, const NodeSettings& settings, Env& env);

}  // namespace cryptnode::sim
