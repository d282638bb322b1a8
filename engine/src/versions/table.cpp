// The one table of version-dependent Talos behaviour (engine/include/cryptnode/engine/versions.h).
// Boundaries: the fixing commit on each release branch and the first tag containing it
// (`git tag --contains <commit>` in siderolabs/talos).
#include <string>

#include "cryptnode/engine/versions.h"

namespace cryptnode::versions {
namespace {

constexpr Version V(int minor, int patch) {
  return Version{1, minor, patch};
}

const std::vector<RuleRow> kTable = {
    {Rule::kFailedSyncsNonFatal, "failed_syncs_non_fatal",
     "a key that fails to sync is listed in VolumeStatus encryptionFailedSyncs and the volume "
     "still opens (before: the sync error failed the volume)",
     V(9, 0), std::nullopt,
     "internal/pkg/encryption/encryption.go, pkg/machinery/resources/block/volume_status.go",
     "fc3b31575 (fixes #9820, PR #9830)"},
    {Rule::kMetaStateEncryptionModernJson, "meta_state_encryption_modern_json",
     "META 0x09 holds block.EncryptionSpec JSON and is read with a fallback to the legacy "
     "v1alpha1.EncryptionConfig JSON (before: legacy JSON only; the fallback-less reader that "
     "failed \"error unmarshalling state encryption meta key: ...\" on an old tag lived only in "
     "v1.11.0-beta.1)",
     V(11, 0), std::nullopt, "internal/app/machined/pkg/controllers/block/encryption_meta.go",
     "85589662a on release-1.11, ada51ff69 on main (fixes #11502, PR #11515)"},
    {Rule::kMapperNameVolumeID, "mapper_name_volume_id",
     "the encrypted volume is mapped as /dev/mapper/luks2-<volume id> (before: "
     "<partition>-encrypted)",
     V(12, 0), std::nullopt,
     "internal/app/machined/pkg/controllers/block/internal/volumes/encrypt.go, close.go",
     "79cb871d0"},
    {Rule::kResetDropsPartition, "reset_drops_partition",
     "reset with --system-labels-to-wipe also deletes the volume's GPT entry", V(12, 0),
     std::nullopt, "internal/pkg/partition/wipe.go", "399240be3"},
    {Rule::kYamlV4Decoder, "yaml_v4_decoder",
     "machine configs are decoded with go.yaml.in/yaml/v4 (before: a fork of gopkg.in/yaml.v3)",
     V(12, 0), std::nullopt, "pkg/machinery/config/configloader/internal/decoder/decoder.go",
     "92eeaa482"},
    {Rule::kLuks2HeaderValidation, "luks2_header_validation",
     "the LUKS2 header is validated for tampering before the volume is opened (go-blockdevice "
     "v2.0.28 encryption/luks/header.go)",
     V(12, 7), std::nullopt, "go.mod (github.com/siderolabs/go-blockdevice/v2)",
     "0654a7f7e on release-1.12, a4b0cbc49 on release-1.13 (go-blockdevice PR #149)"},
    {Rule::kLuks2HeaderRejectsArgon2i, "luks2_header_rejects_argon2i",
     "header validation rejects keyslots whose KDF is argon2i (cryptsetup < 2.4 default, Talos "
     "< 1.3 volumes): the volume does not open",
     V(12, 7), V(12, 9), "go.mod (github.com/siderolabs/go-blockdevice/v2 v2.0.28)",
     "relaxed by cd429e9e4 (go-blockdevice#156, PR #157; talos PR #13548)"},
    {Rule::kLuks2HeaderRejectsArgon2i, "luks2_header_rejects_argon2i",
     "header validation rejects keyslots whose KDF is argon2i (cryptsetup < 2.4 default, Talos "
     "< 1.3 volumes): the volume does not open",
     V(13, 0), V(13, 5), "go.mod (github.com/siderolabs/go-blockdevice/v2 v2.0.28)",
     "relaxed by 765f0a1dc (go-blockdevice#156)"},
    {Rule::kKeyHandlerTimeout20s, "key_handler_timeout_20s",
     "each key handler gets 20 s (keyHandlerTimeout; before: 10 s)", V(12, 7), std::nullopt,
     "internal/pkg/encryption/encryption.go", "e16007b44 (fixes #13056, PR #13059)"},
    {Rule::kStartTheWorldWaitsForVolumeConfigs, "stw_waits_for_volume_configs",
     "PCR extension (start the world) waits until every disk VolumeConfig has a VolumeStatus",
     V(12, 11), V(13, 0), "internal/app/machined/pkg/controllers/hardware/pcr_status.go",
     "1c6d69c01 on release-1.12 (fixes #13827, PR #13833)"},
    {Rule::kStartTheWorldWaitsForVolumeConfigs, "stw_waits_for_volume_configs",
     "PCR extension (start the world) waits until every disk VolumeConfig has a VolumeStatus",
     V(13, 8), std::nullopt, "internal/app/machined/pkg/controllers/hardware/pcr_status.go",
     "fc757545c on release-1.13, 076c38136 on main (fixes #13827)"},
    {Rule::kMaintenanceApplyByMachined, "maintenance_apply_by_machined",
     "maintenance-mode apply-config is served by machined's API: every mode is accepted "
     "(reboot runs as no-reboot) and a parse error is returned as is (before: "
     "internal/app/maintenance/server.go accepted only try, reboot and auto - others "
     "\"apply configuration --mode='no-reboot' is not supported in maintenance mode\" - and "
     "wrapped parse errors \"failed to parse config: ...\")",
     V(13, 0), std::nullopt, "internal/app/machined/internal/server/v1alpha1/v1alpha1_server.go",
     "b7d70cf62"},
    {Rule::kVolumeConfigSevenNames, "volume_config_seven_names",
     "VolumeConfig accepts STATE, EPHEMERAL, IMAGECACHE, ETCD, CRI, KUBELET and LOG (before: "
     "only [\"STATE\" \"EPHEMERAL\" \"IMAGECACHE\"] volumes are supported)",
     V(14, 0), std::nullopt, "pkg/machinery/config/types/block/volume_config.go", "241bd0ff1"},
    {Rule::kEncryptionAllowDiscards, "encryption_allow_discards",
     "encryption.allowDiscards and META 0x09 EncryptionAllowDiscards exist (before: "
     "allowDiscards is an unknown key)",
     V(14, 0), std::nullopt,
     "pkg/machinery/config/types/block/encryption.go, pkg/machinery/resources/block/"
     "volume_status.go",
     "b687a47ab"},
    {Rule::kResetResidesOnVolumeCheck, "reset_resides_on_volume_check",
     "reset refuses to wipe a volume another one resides on (\"failed to reset: volume %q "
     "resides on volume %q, ...\")",
     V(14, 0), std::nullopt, "internal/app/machined/internal/server/v1alpha1/v1alpha1_server.go",
     "b644d1640"},
    {Rule::kApplyModeRebootRemoved, "apply_mode_reboot_removed",
     "apply-config --mode=reboot is Unimplemented (\"the REBOOT mode is not supported, please use "
     "AUTO or NO_REBOOT modes instead\"); in maintenance mode it runs as no-reboot",
     V(14, 0), std::nullopt, "internal/app/machined/internal/server/v1alpha1/v1alpha1_server.go",
     "995bc30d5"},
    {Rule::kApplyModeAutoIsNoReboot, "apply_mode_auto_is_no_reboot",
     "apply-config --mode=auto always applies without a reboot (before: reboot when the change "
     "cannot be applied immediately)",
     V(14, 0), std::nullopt, "internal/app/machined/internal/server/v1alpha1/v1alpha1_server.go",
     "995bc30d5"},
};

std::string json_string(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out += c;
    }
  }
  return out + "\"";
}

}  // namespace

const std::vector<RuleRow>& table() {
  return kTable;
}

bool applies(Rule rule, const Version& v) {
  for (const RuleRow& r : kTable)
    if (r.rule == rule && v >= r.since && (!r.until || v < *r.until)) return true;
  return false;
}

std::string_view rule_id(Rule rule) {
  for (const RuleRow& r : kTable)
    if (r.rule == rule) return r.id;
  return "";
}

std::optional<Rule> rule_from_id(std::string_view id) {
  for (const RuleRow& r : kTable)
    if (r.id == id) return r.rule;
  return std::nullopt;
}

std::string table_text() {
  std::string out;
  for (const RuleRow& r : kTable) {
    out += std::string(r.id) + "  since " + r.since.str() + "  until " +
           (r.until ? r.until->str() : std::string("-")) + "  " + std::string(r.source);
    if (!r.fix.empty()) out += "  (" + std::string(r.fix) + ")";
    out += "\n";
  }
  return out;
}

std::string table_json() {
  std::string out = "[";
  for (size_t i = 0; i < kTable.size(); ++i) {
    const RuleRow& r = kTable[i];
    out += std::string(i ? ",\n " : "\n ") + "{\"rule\": " + json_string(r.id) +
           ", \"description\": " + json_string(r.description) +
           ", \"since\": " + json_string(r.since.str()) +
           ", \"until\": " + (r.until ? json_string(r.until->str()) : std::string("null")) +
           ", \"source\": " + json_string(r.source) + ", \"fix\": " + json_string(r.fix) + "}";
  }
  return out + "\n]\n";
}

}  // namespace cryptnode::versions
