// Talos version profiles: which Talos release a node reproduces, and ONE table of every
// behaviour of disk encryption that changed between releases (often inside a patch release).
// Code asks `applies(Rule, version)`; it never compares version numbers itself.
//
// Every boundary was read from Talos' history (the fixing commit and the first tag that contains
// it, per release branch); rows name the Talos source path and the commit/PR.
#pragma once

#include <compare>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cryptnode::versions {

// A Talos release: major.minor.patch, or one of the few pre-releases the bug catalogue needs
// (pre_releases()). Only tagged versions exist (see known_versions()).
struct Version {
  int major = 1;
  int minor = 12;
  int patch = 11;
  // v<major.minor.patch>-beta.N; nullopt for the release itself, which comes after its betas.
  std::optional<int> beta;

  constexpr Version() = default;
  constexpr Version(int major_, int minor_, int patch_, std::optional<int> beta_ = std::nullopt)
      : major(major_), minor(minor_), patch(patch_), beta(beta_) {}

  bool operator==(const Version&) const = default;
  std::strong_ordering operator<=>(const Version& o) const;
  std::string str() const;  // "1.12.11", "1.11.0-beta.1"

  // Parses "1.12.7", "v1.12.7", a bare minor "1.12" (the newest tagged patch of that minor) or a
  // known pre-release "1.11.0-beta.1". A version Talos never tagged throws
  // Error(kInvalidArgument) naming it and the accepted range.
  static Version parse(std::string_view text);
};

// The default profile: the newest 1.12 patch (release-1.12 head, v1.12.11).
Version default_version();
// Every release parse() accepts, oldest first (pre-releases are not listed here).
const std::vector<Version>& known_versions();
// The pre-releases parse() accepts, oldest first: v1.11.0-beta.0 .. v1.11.0-beta.2, where
// talos#11502 lived (beta.1) and was fixed (beta.2).
const std::vector<Version>& pre_releases();

enum class Rule {
  kMetaStateEncryptionModernJson,  // META 0x09 read as block.EncryptionSpec JSON
  kMetaLegacyJsonFallback,         // ... falling back to the legacy v1alpha1 JSON (talos#11502)
  kFailedSyncsNonFatal,            // a failed key sync is reported, the volume still opens
  kOpenTriesEveryKeyslot,          // a rejected key falls back to the next key (talos#8100)
  kOpenHandlesOpenVolume,          // an already-open volume is only re-synced (talos#9415)
  kCloseByMapperName,              // teardown closes the mapping by its name (talos#11725)
  kResetNotReadyVolume,            // reset wipes a located volume that is not ready (talos#10653)
  kMapperNameVolumeID,             // /dev/mapper/luks2-<volume id> (before: <partition>-encrypted)
  kResetDropsPartition,            // reset --system-labels-to-wipe also deletes the GPT entry
  kYamlV4Decoder,                  // go.yaml.in/yaml/v4 decodes configs (before: yaml.v3 fork)
  kUserVolumeType,                 // UserVolumeConfig volumeType (directory, disk)
  kLuks2HeaderValidation,          // LUKS2 header validated for tampering before open
  kLuks2HeaderRejectsArgon2i,      // ... and keyslots with KDF argon2i are rejected
  kKeyHandlerTimeout20s,           // per-key handler timeout 20 s (before: 10 s)
  kStartTheWorldWaitsForVolumeConfigs,  // PCR extension waits for every disk VolumeConfig
  kMaintenanceApplyByMachined,          // maintenance apply-config served by machined
  kVolumeConfigSevenNames,              // VolumeConfig ETCD, CRI, KUBELET, LOG allowed
  kEncryptionAllowDiscards,             // encryption.allowDiscards + META EncryptionAllowDiscards
  kResetResidesOnVolumeCheck,           // reset refuses wiping a volume another resides on
  kApplyModeRebootRemoved,              // apply-config --mode=reboot: Unimplemented
  kApplyModeAutoIsNoReboot,             // apply-config --mode=auto always means no-reboot
};

// One row of the table. A rule whose boundary differs per release branch has one row per range.
struct RuleRow {
  Rule rule;
  std::string_view id;  // stable name: "luks2_header_rejects_argon2i"
  std::string_view description;
  Version since;                 // first release with the behaviour
  std::optional<Version> until;  // first release without it again (exclusive); nullopt: none
  std::string_view source;       // Talos source path (release branch)
  std::string_view fix;          // fixing commit / PR / issue, where known
};

// The table, ordered by rule then `since`.
const std::vector<RuleRow>& table();

// True when `v` shows the behaviour of `rule` (any row of that rule contains v).
bool applies(Rule rule, const Version& v);

std::string_view rule_id(Rule rule);
// Looks a rule up by its id; nullopt when unknown.
std::optional<Rule> rule_from_id(std::string_view id);

// `cryptnode versions`: one line per row (rule, since, until, source, fix); `-o json`: an array
// of objects {rule, description, since, until (null for none), source, fix}.
std::string table_text();
std::string table_json();

}  // namespace cryptnode::versions
