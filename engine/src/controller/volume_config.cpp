// Builds the VolumeConfig resources (volume::VolumeSpec) of a node from its machine config, the
// way Talos' VolumeConfigController does (docs/disk-layout.md), and STATE's early form from META.
#include "cryptnode/engine/controller/volume_config.h"

#include <algorithm>
#include <string>

namespace cryptnode::controller {
namespace {

constexpr uint64_t kMiB = 1024 * 1024;

// Talos' sizes, and the compact layout's smaller EPHEMERAL minimum for small test disks
// (decision: STATE keeps Talos' 100 MiB in both layouts).
uint64_t ephemeral_min(const std::string& layout) {
  return layout == "talos" ? 2048 * kMiB : 64 * kMiB;
}

}  // namespace

volume::VolumeSpec state_volume_config_from_meta(
    const std::optional<config::EncryptionSpec>& meta) {
  volume::VolumeSpec s;
  s.id = s.label = "STATE";
  s.locate_requires_content = true;  // `volume.partition_label == 'STATE' && volume.name != ''`
  s.fs_type = "xfs";
  s.fs_label = "STATE";
  if (meta && meta->enabled()) s.encryption = meta;
  return s;
}

std::map<std::string, volume::VolumeSpec> volume_configs(const config::MachineConfig& cfg,
                                                         const std::string& layout) {
  std::map<std::string, volume::VolumeSpec> out;

  volume::VolumeSpec state;
  state.id = state.label = "STATE";
  state.provision = true;
  state.wave = -1;
  state.disk_selector = "system_disk";
  state.min_size = state.max_size = 100 * kMiB;
  state.fs_type = "xfs";
  state.fs_label = "STATE";
  state.encryption = cfg.encryption_for("STATE");
  out["STATE"] = state;

  volume::VolumeSpec eph;
  eph.id = eph.label = "EPHEMERAL";
  eph.provision = true;
  eph.wave = -1;
  eph.disk_selector = "system_disk";
  eph.min_size = ephemeral_min(layout);
  eph.grow = true;
  eph.fs_type = "xfs";
  eph.fs_label = "EPHEMERAL";
  if (const config::Document* d = cfg.find(config::DocumentKind::kVolumeConfig, "EPHEMERAL")) {
    const auto& p = d->provisioning;
    if (p.disk_selector_match) eph.disk_selector = *p.disk_selector_match;
    if (p.min_size) eph.min_size = *p.min_size;
    if (p.max_size) eph.max_size = *p.max_size;
    if (p.max_size_percent) eph.max_size_percent = *p.max_size_percent;
    if (p.grow) eph.grow = *p.grow;
  }
  eph.encryption = cfg.encryption_for("EPHEMERAL");
  out["EPHEMERAL"] = eph;

  for (const config::Document& d : cfg.documents()) {
    if (d.kind != config::DocumentKind::kUserVolumeConfig &&
        d.kind != config::DocumentKind::kRawVolumeConfig)
      continue;
    if (d.kind == config::DocumentKind::kUserVolumeConfig && !d.volume_type.empty() &&
        d.volume_type != "partition")
      continue;  // disk and directory user volumes are not simulated (decision)
    volume::VolumeSpec u;
    u.id = u.label = d.volume_id();
    u.provision = true;
    u.wave = 0;
    const auto& p = d.provisioning;
    u.disk_selector = p.disk_selector_match.value_or("");
    u.min_size = p.min_size.value_or(100 * kMiB);
    u.max_size = p.max_size.value_or(0);
    u.max_size_percent = p.max_size_percent.value_or(0);
    u.grow = p.grow.value_or(false);
    if (d.kind == config::DocumentKind::kUserVolumeConfig) {
      u.fs_type =
          d.filesystem_type.empty() || d.filesystem_type == "none" ? "xfs" : d.filesystem_type;
    }
    u.encryption = cfg.encryption_for(u.id);
    out[u.id] = u;
  }
  return out;
}

std::vector<std::string> processing_order(const std::map<std::string, volume::VolumeSpec>& specs) {
  std::vector<std::string> ids;
  for (const auto& [id, spec] : specs) ids.push_back(id);
  // Talos sorts VolumeConfigs by provisioning wave (volumes.CompareVolumeConfigs), stable on the
  // resource order (by id); STATE precedes EPHEMERAL on the system disk.
  auto rank = [&](const std::string& id) {
    if (id == "STATE") return 0;
    if (id == "EPHEMERAL") return 1;
    return 2;
  };
  std::stable_sort(ids.begin(), ids.end(), [&](const std::string& a, const std::string& b) {
    const int wa = specs.at(a).wave, wb = specs.at(b).wave;
    if (wa != wb) return wa < wb;
    if (rank(a) != rank(b)) return rank(a) < rank(b);
    return a < b;
  });
  return ids;
}

}  // namespace cryptnode::controller
