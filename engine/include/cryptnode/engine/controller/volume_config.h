// Talos' VolumeConfigController: the VolumeConfig resources (volume::VolumeSpec) of a machine
// config, and STATE's early form built from META before the machine config is known
// (internal/app/machined/pkg/controllers/block/volume_config.go and its transformers).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "cryptnode/engine/config.h"
#include "cryptnode/engine/volume.h"

namespace cryptnode::controller {

// STATE, EPHEMERAL and every user/raw volume of `cfg`. layout "talos" uses Talos' real minimum
// sizes, "compact" smaller ones for small test disks.
std::map<std::string, volume::VolumeSpec> volume_configs(const config::MachineConfig& cfg,
                                                         const std::string& layout);

// STATE before the machine config is known: located only when the partition carries something
// (`volume.partition_label == 'STATE' && volume.name != ''`), never provisioned; encrypted when
// META 0x09 says so.
volume::VolumeSpec state_volume_config_from_meta(
    const std::optional<config::EncryptionSpec>& meta_encryption);

// The volume manager's processing order: by provisioning wave (system disk first), then by id;
// STATE before EPHEMERAL.
std::vector<std::string> processing_order(const std::map<std::string, volume::VolumeSpec>& specs);

}  // namespace cryptnode::controller
