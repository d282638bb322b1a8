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
constexpr Version Beta(int minor, int patch, int beta) {
  return Version{1, minor, patch, beta};
}

const std::vector<RuleRow> kTable = {
    {Rule::kFailedSyncsNonFatal, "failed_syncs_non_fatal",
     "a key that fails to sync is listed in VolumeStatus encryptionFailedSyncs and the volume "
     "still opens (before: the sync error failed the volume)",
     V(9, 0), std::nullopt,
     "internal/pkg/encryption/encryption.go, pkg/machinery/resources/block/volume_status.go",
     "fc3b31575 (fixes #9820, PR #9830)"},
    {Rule::kOpenTriesEveryKeyslot, "open_tries_every_keyslot",
     "opening tries each key in turn and falls back to the next one when cryptsetup rejects a "
     "key (in 1.8.0 luksOpen ran inside tryHandlers)",
     V(8, 0), V(8, 1), "internal/pkg/encryption/encryption.go",
     "lost by 4d279c65f on release-1.8 (v1.8.1: luksOpen moved out of tryHandlers)"},
    {Rule::kOpenTriesEveryKeyslot, "open_tries_every_keyslot",
     "opening tries each key in turn and falls back to the next one when cryptsetup rejects a "
     "key (1.8.1-1.8.4: the first key a handler returns is used, a rejected one fails the open: "
     "\"encryption key rejected\")",
     V(9, 0), std::nullopt, "internal/pkg/encryption/encryption.go",
     "fc3b31575 (PR #9830 \"when opening, correctly try all key slots\"; talos#8100, fixed in "
     "1.9.0)"},
    {Rule::kOpenHandlesOpenVolume, "open_handles_open_volume",
     "an encrypted volume that is already open (a failed sync left it mapped) is not opened "
     "again, only its keys are synced (before: luksOpen of the open mapping, \"mapped device is "
     "still in use\", at every retry)",
     V(8, 1), std::nullopt, "internal/pkg/encryption/encryption.go (IsOpen)",
     "4d279c65f on release-1.8, 0a2b4556c on main (fixes talos#9415, PR #9442)"},
    {Rule::kMetaStateEncryptionModernJson, "meta_state_encryption_modern_json",
     "META 0x09 is read as block.EncryptionSpec JSON (before: as the legacy "
     "v1alpha1.EncryptionConfig JSON only, which also reads the newer shape, minus lockToState, "
     "TPM options and allowDiscards)",
     Beta(11, 0, 1), std::nullopt,
     "internal/app/machined/pkg/controllers/block/volume_config.go (manageStateNoConfig)",
     "7eec61993 on release-1.11 (\"unify disk encryption configuration\")"},
    {Rule::kMetaLegacyJsonFallback, "meta_legacy_json_fallback",
     "a META 0x09 value that does not unmarshal as block.EncryptionSpec is read as the legacy "
     "v1alpha1 JSON (v1.11.0-beta.1 failed instead: \"error creating state volume "
     "configuration: error unmarshalling state encryption meta key:  does not belong to "
     "EncryptionProviderType values\" for a legacy config without a provider)",
     Beta(11, 0, 2), std::nullopt, "internal/app/machined/pkg/controllers/block/encryption_meta.go",
     "85589662a on release-1.11, ada51ff69 on main (fixes talos#11502, PR #11515)"},
    {Rule::kCloseByMapperName, "close_by_mapper_name",
     "teardown closes an encrypted volume by its mapper name (Status.MountLocation was "
     "/dev/mapper/<name>)",
     V(8, 0), V(9, 0), "internal/app/machined/pkg/controllers/block/internal/volumes/close.go",
     "lost by cc768037f (v1.9.0: MountLocation resolved to /dev/dm-N)"},
    {Rule::kCloseByMapperName, "close_by_mapper_name",
     "teardown closes an encrypted volume by its mapper name (1.9.0-1.10.3 closed "
     "filepath.Base(MountLocation) = dm-N: \"not active\", ignored, the mapping stayed open)",
     V(10, 4), Beta(11, 0, 0),
     "internal/app/machined/pkg/controllers/block/internal/volumes/close.go",
     "037801f5f on release-1.10 (PR #11181)"},
    {Rule::kCloseByMapperName, "close_by_mapper_name",
     "teardown closes an encrypted volume by its mapper name (1.9.0-1.10.3 closed "
     "filepath.Base(MountLocation) = dm-N: \"not active\", ignored, the mapping stayed open)",
     Beta(11, 0, 0), std::nullopt,
     "internal/app/machined/pkg/controllers/block/internal/volumes/close.go",
     "260d1bc9a on main (v1.11.0-alpha.2, PR #11181)"},
    {Rule::kResetNotReadyVolume, "reset_not_ready_volume",
     "reset --system-labels-to-wipe wipes a volume that is located but not ready (before: "
     "\"failed to reset: volume %q is not ready\", so a volume stuck after switching it to "
     "encrypted could not be reset)",
     V(9, 6), V(10, 0), "internal/app/machined/internal/server/v1alpha1/v1alpha1_server.go",
     "b9dd6d8d3 on release-1.9 (fixes talos#10653, PR #10810)"},
    {Rule::kResetNotReadyVolume, "reset_not_ready_volume",
     "reset --system-labels-to-wipe wipes a volume that is located but not ready (before: "
     "\"failed to reset: volume %q is not ready\", so a volume stuck after switching it to "
     "encrypted could not be reset)",
     V(10, 0), std::nullopt, "internal/app/machined/internal/server/v1alpha1/v1alpha1_server.go",
     "9ea205bc9 on release-1.10, d60626f01 on main (fixes talos#10653, PR #10810)"},
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
    {Rule::kUserVolumeType, "user_volume_type",
     "UserVolumeConfig has volumeType: partition, directory (a directory under /var/mnt) or disk "
     "(a whole disk) (before: volumeType is an unknown key, every user volume a partition)",
     V(12, 0), std::nullopt,
     "pkg/machinery/config/types/block/user_volume_config.go, internal/app/machined/pkg/"
     "controllers/block/internal/volumes/volumeconfig/user_volumes.go",
     "f3df0f80b (directory), 308c6bc41 (disk)"},
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
     "each key handler gets 20 s (keyHandlerTimeout; before: 10 s) and the PCR 11 lock removes "
     "its finalizer detached from that deadline (before: a TPM answering after 10 s failed the "
     "key: \"failed to unlock PCR 11: remove finalizer rate limited: context deadline "
     "exceeded\")",
     V(12, 7), std::nullopt, "internal/pkg/encryption/encryption.go",
     "e16007b44 (fixes #13056, PR #13059)"},
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
