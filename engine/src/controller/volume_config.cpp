// Builds the VolumeConfig resources (volume::VolumeSpec) of a node from its machine config, the
// way Talos' VolumeConfigController does (docs/disk-layout.md), and STATE's early form from META.
#include "cryptnode/engine/controller/volume_config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <limits>
#include <string>

namespace cryptnode::controller {
namespace {

constexpr uint64_t kMiB = 1024 * 1024;

// Talos' sizes, and the compact layout's smaller EPHEMERAL minimum for small test disks
// (decision: STATE keeps Talos' 100 MiB in both layouts).
uint64_t ephemeral_min(const std::string& layout) {
  return layout == "talos" ? 2048 * kMiB : 64 * kMiB;
}

// machine.features.imageCache.localEnabled of the v1alpha1 document (ImageCacheConfigController
// creates the IMAGECACHE VolumeConfig only then).
bool image_cache_enabled(const config::MachineConfig& cfg) {
  try {
    for (const YAML::Node& d : YAML::LoadAll(cfg.text())) {
      if (!d.IsMap() || d["kind"] || !d["version"]) continue;
      const YAML::Node f = d["machine"]["features"]["imageCache"]["localEnabled"];
      return f && f.IsScalar() && f.as<bool>(false);
    }
  } catch (const YAML::Exception&) {
  }
  return false;
}

// IMAGECACHE (internal/app/machined/pkg/controllers/cri/image_cache_config.go
// createVolumeConfigDisk): located by partition label; provisioned only when a VolumeConfig
// IMAGECACHE document exists: system disk wave, `system_disk` unless the document selects
// another disk, 500 MiB to 1 GiB, no grow, ext4, and the document's encryption (Talos applies it:
// an encrypted IMAGECACHE is supported).
// IMAGECACHE-ISO (createVolumeConfigISO, same controller): while the image cache is enabled, a
// disk-type volume located by `volume.name in ["iso9660", "vfat"] &&
// volume.label.startsWith("TALOS_")` (the boot ISO's cache), never provisioned, formatted or
// encrypted; missing when no such volume exists. Talos mounts it read-only at
// /system/imagecache/iso; the simulated node does not mount it (decision).
std::optional<volume::VolumeSpec> image_cache_iso_volume_config(const config::MachineConfig& cfg) {
  if (!image_cache_enabled(cfg)) return std::nullopt;
  volume::VolumeSpec c;
  c.id = "IMAGECACHE-ISO";
  c.type = "disk";
  c.volume_locator =
      "volume.name in [\"iso9660\", \"vfat\"] && volume.label.startsWith(\"TALOS_\")";
  return c;
}

std::optional<volume::VolumeSpec> image_cache_volume_config(const config::MachineConfig& cfg) {
  if (!image_cache_enabled(cfg)) return std::nullopt;
  volume::VolumeSpec c;
  c.id = c.label = "IMAGECACHE";
  c.fs_type = "ext4";
  const config::Document* d = cfg.find(config::DocumentKind::kVolumeConfig, "IMAGECACHE");
  if (!d) return c;  // located only: missing when absent
  const auto& p = d->provisioning;
  c.provision = true;
  c.wave = -1;
  c.disk_selector = p.disk_selector_match.value_or("system_disk");
  c.min_size = p.min_size.value_or(500 * kMiB);
  c.max_size = p.max_size.value_or(1024 * kMiB);
  c.max_size_percent = p.max_size_percent.value_or(0);
  c.grow = p.grow.value_or(false);
  c.encryption = cfg.encryption_for("IMAGECACHE");
  return c;
}

// A user, raw or swap volume (volumeconfig/user_volumes.go): partition "<prefix><name>", the
// user-volume wave, at least MinUserVolumeSize (100 MiB) unless set. Filesystem: xfs unless set
// for a user volume, none for a raw one, swap for a swap one (SwapVolumeTransformer: mkswap, a
// partition of type LinkSwap; the node does not swapon it).
// UserVolumeTransformer's other types (1.12+): `directory`, a directory /var/mnt/<name> on
// EPHEMERAL (no provisioning, no encryption: validation refuses both); `disk`, the whole disk
// the diskSelector matches (located by it, no partition, no size), with its filesystem and
// encryption.
volume::VolumeSpec user_volume_config(const config::MachineConfig& cfg, const config::Document& d) {
  volume::VolumeSpec u;
  u.id = u.label = d.volume_id();
  if (d.kind == config::DocumentKind::kUserVolumeConfig && d.volume_type == "directory") {
    u.type = "directory";
    return u;
  }
  u.provision = true;
  u.wave = 0;
  const auto& p = d.provisioning;
  u.disk_selector = p.disk_selector_match.value_or("");
  u.min_size = p.min_size.value_or(100 * kMiB);
  u.max_size = p.max_size.value_or(0);
  u.max_size_percent = p.max_size_percent.value_or(0);
  u.grow = p.grow.value_or(false);
  if (d.kind == config::DocumentKind::kUserVolumeConfig)
    u.fs_type =
        d.filesystem_type.empty() || d.filesystem_type == "none" ? "xfs" : d.filesystem_type;
  if (d.kind == config::DocumentKind::kSwapVolumeConfig) {
    u.fs_type = "swap";
    u.partition_type = volume::kLinkSwap;
  }
  if (d.kind == config::DocumentKind::kUserVolumeConfig && d.volume_type == "disk") {
    u.type = "disk";
    u.min_size = u.max_size = 0;
    u.max_size_percent = 0;
    u.grow = false;
  }
  u.encryption = cfg.encryption_for(u.id);
  return u;
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

  if (auto c = image_cache_volume_config(cfg)) out["IMAGECACHE"] = *c;
  if (auto c = image_cache_iso_volume_config(cfg)) out["IMAGECACHE-ISO"] = *c;

  for (const config::Document& d : cfg.documents()) {
    if (d.kind != config::DocumentKind::kUserVolumeConfig &&
        d.kind != config::DocumentKind::kRawVolumeConfig &&
        d.kind != config::DocumentKind::kSwapVolumeConfig)
      continue;
    out[d.volume_id()] = user_volume_config(cfg, d);
  }
  return out;
}

std::vector<std::string> processing_order(const std::map<std::string, volume::VolumeSpec>& specs) {
  std::vector<std::string> ids;
  for (const auto& [id, spec] : specs) ids.push_back(id);
  // volumes.CompareVolumeConfigs (internal/app/machined/pkg/controllers/block/internal/volumes/
  // volumes.go), stable on the resource order (by ID): volumes without provisioning first, then
  // by wave, partitions that do not grow before those that do, then the smaller maximum size
  // first (none: the largest). STATE (100 MiB) thus precedes IMAGECACHE and EPHEMERAL (grows).
  auto max_size = [](const volume::VolumeSpec& v) {
    return v.max_size ? v.max_size : std::numeric_limits<uint64_t>::max();
  };
  std::stable_sort(ids.begin(), ids.end(), [&](const std::string& a, const std::string& b) {
    const volume::VolumeSpec &va = specs.at(a), &vb = specs.at(b);
    if (va.provision != vb.provision) return !va.provision;
    if (va.wave != vb.wave) return va.wave < vb.wave;
    if (va.grow != vb.grow) return !va.grow;
    return max_size(va) < max_size(vb);
  });
  return ids;
}

}  // namespace cryptnode::controller
