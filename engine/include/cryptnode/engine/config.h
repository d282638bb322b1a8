// Machine configuration documents: a multi-document YAML holding VolumeConfig, UserVolumeConfig,
// RawVolumeConfig, SwapVolumeConfig, ExistingVolumeConfig, ... and the legacy v1alpha1 document
// with machine.systemDiskEncryption. Decoding follows Talos' configloader
// (pkg/machinery/config/configloader/internal/decoder/decoder.go: go-yaml Node.Decode, then
// siderolabs/gen xyaml.CheckUnknownKeys) and validation the documents' Validate() and
// container.Validate (pkg/machinery/config/types/block/*.go, pkg/machinery/config/container/),
// with their exact texts, for the Talos version given (versions.h). The rest of a v1alpha1
// document (machine.network, cluster, ...) is kept opaque.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cryptnode/engine/secret.h"
#include "cryptnode/engine/versions.h"

namespace cryptnode::config {

// Talos' block.EncryptionKeyType, in its numeric order.
enum class KeyType { kStatic = 0, kNodeID = 1, kKMS = 2, kTPM = 3 };
std::string_view key_type_name(KeyType t);  // "static" | "nodeID" | "kms" | "tpm"

struct KeyStatic {
  Secret passphrase;  // YAML `passphrase`; may be empty (Talos does not validate it)
};

struct KeyKMS {
  std::string endpoint;  // YAML `endpoint`
};

struct KeyTPM {
  // YAML `options`: absent => nullopt. `options: {}` => present with pcrs == nullopt.
  struct Options {
    std::optional<std::vector<int>> pcrs;
  };
  std::optional<Options> options;
  std::optional<bool> check_secureboot_status_on_enroll;

  // Talos' (*EncryptionKeyTPM).PCRs quirk: no `options` => [7]; `options: {}` => [] (nil);
  // `options: {pcrs: [..]}` => those.
  std::vector<int> pcrs() const;
  // True when pcrs() is Go nil rather than an empty list (options present, pcrs absent).
  bool pcrs_nil() const;
  std::vector<int> pub_key_pcrs() const { return {11}; }
};

struct EncryptionKey {
  int slot = 0;            // YAML default 0; clamped to int's range (see slot_value)
  int64_t slot_value = 0;  // the slot as Talos decodes it (Go int): no range check in Talos
  std::optional<KeyStatic> static_key;
  bool node_id = false;  // `nodeID: {}`
  std::optional<KeyKMS> kms;
  std::optional<KeyTPM> tpm;
  std::optional<bool> lock_to_state;  // YAML `lockToState` (`lockToSTATE` is an unknown key)
  int line = 0;                       // 1-based line of the key in the YAML text

  // The effective kind with Talos' conversion precedence static > nodeID > kms > tpm;
  // nullopt when no kind is set.
  std::optional<KeyType> type() const;
  bool locked_to_state() const { return lock_to_state.value_or(false); }
  // The slot Talos sees: slot_value when decoded out of int's range, else slot (so code that
  // builds keys by hand and sets only `slot` keeps working).
  int64_t talos_slot() const {
    return (slot_value < INT32_MIN || slot_value > INT32_MAX) ? slot_value : slot;
  }
};

struct EncryptionSpec {
  // VolumeConfig & co: "none" (also when absent) or "luks2" (block.EncryptionProviderType, matched
  // case-insensitively; anything else is a decode error). v1alpha1: the string as written.
  std::string provider;
  std::vector<EncryptionKey> keys;
  std::string cipher;                     // "" => aes-xts-plain64
  uint64_t key_size = 0;                  // bits; 0 => provider default
  uint64_t block_size = 0;                // => sector size; 0 => default
  std::vector<std::string> perf_options;  // YAML `options`
  std::optional<bool> allow_discards;     // 1.14+ only (versions::Rule::kEncryptionAllowDiscards)
  bool legacy = false;                    // came from v1alpha1 machine.systemDiskEncryption
  int line = 0;

  // Talos' EncryptionSpec.IsZero(): provider none and no keys (cipher, keySize, ... do not
  // count): Talos skips validation and treats the volume as unencrypted.
  bool is_zero() const;
  // True when the volume is encrypted: provider luks2 (legacy: empty provider also means luks2).
  bool enabled() const;
  std::string effective_cipher() const;  // "" => "aes-xts-plain64"
  // Talos' EncryptionSpec.Validate(): every error, in key order, exact texts.
  std::vector<std::string> validate() const;
};

struct Provisioning {
  bool present = false;                            // Talos' !ProvisioningSpec.IsZero()
  std::optional<std::string> disk_selector_match;  // CEL text, kept verbatim ("" => absent)
  std::optional<uint64_t> min_size;
  std::optional<uint64_t> max_size;
  std::optional<int> max_size_percent;  // "50%"
  std::optional<bool> grow;
};

enum class DocumentKind {
  kV1Alpha1,
  kVolumeConfig,
  kUserVolumeConfig,
  kRawVolumeConfig,
  kSwapVolumeConfig,
  kExistingVolumeConfig,
  kExternalVolumeConfig,
  kOther,  // a known Talos kind cryptnode does not model (kept, not validated)
};

struct Document {
  DocumentKind kind = DocumentKind::kOther;
  std::string api_version;  // "v1alpha1"
  std::string kind_name;    // as written: "VolumeConfig", ...
  std::string name;         // `name` (empty for v1alpha1)
  int line = 0;             // line of the document start

  std::optional<EncryptionSpec> encryption;  // VolumeConfig / User / Raw / Swap
  Provisioning provisioning;
  std::string volume_type;  // UserVolumeConfig `volumeType` (lower case): "" (partition) | disk |
                            // directory | partition | tmpfs | symlink | overlay (the last three
                            // decode but fail validation)
  std::string filesystem_type;  // UserVolumeConfig `filesystem.type`
  std::string certificates;     // TrustedRootsConfig `certificates` (PEM) (lower case; "" => none)
  std::optional<bool> project_quota_support;   // UserVolumeConfig `filesystem.projectQuotaSupport`
  std::optional<std::string> volume_selector;  // ExistingVolumeConfig discovery.volumeSelector
  std::optional<bool> mount_read_only;         // ExistingVolumeConfig mount.readOnly

  // v1alpha1 only: machine.systemDiskEncryption.{state,ephemeral}
  std::optional<EncryptionSpec> legacy_state;
  std::optional<EncryptionSpec> legacy_ephemeral;

  // The volume ID this document configures: "STATE", "u-<name>", "r-<name>", "s-<name>"; empty
  // for documents that configure no volume.
  std::string volume_id() const;
  // "VolumeConfig \"STATE\"", "v1alpha1", ...: how errors name this document.
  std::string display_name() const;
};

class MachineConfig {
 public:
  // Decodes a multi-document YAML as the given Talos version's configloader does. Throws
  // Error(kConfigParse, <Talos' text>): "decode error: yaml: ...", "error decoding document
  // v1alpha1/VolumeConfig/NAME (line N): ...", "duplicate document ...", "conflicting documents:
  // ...". Unknown-keys texts never echo a static passphrase: its value prints as "<redacted>".
  static MachineConfig parse(std::string_view yaml, const versions::Version& version);
  static MachineConfig parse(std::string_view yaml) {
    return parse(yaml, versions::default_version());
  }

  const versions::Version& version() const { return version_; }

  const std::vector<Document>& documents() const { return documents_; }
  const std::string& text() const { return text_; }

  const Document* find(DocumentKind kind, std::string_view name = {}) const;
  const Document* v1alpha1() const { return find(DocumentKind::kV1Alpha1); }

  // container.Validate(): one entry per failing document, "<Kind>/<name>: <errors joined by
  // \n>" (v1alpha1: "v1alpha1.Config: <multierror>"), then the cross-document conflicts; exact
  // texts, Talos' order. format_multierror() prints them as Talos does.
  std::vector<std::string> validate() const;

  // The effective encryption of a volume ID: VolumeConfig/User/Raw/Swap document, else for
  // STATE/EPHEMERAL the legacy v1alpha1 section; nullopt when unencrypted (is_zero / provider
  // none).
  std::optional<EncryptionSpec> encryption_for(std::string_view volume_id) const;

  // PEM certificates of the TrustedRootsConfig documents (Talos' `certificates`), in document
  // order: CAs the machine trusts on top of its OS bundle once this config is active.
  std::vector<std::string> trusted_roots() const;

  // Volume IDs of the user/raw/swap volumes this config declares, in document order.
  std::vector<std::string> user_volume_ids() const;

 private:
  std::vector<Document> documents_;
  std::string text_;
  versions::Version version_;
};

// Shorthands for Python/CLI: parse + validate, returning Talos' error strings (parse errors
// included as a single string).
std::vector<std::string> validate_text(std::string_view yaml);
std::vector<std::string> validate_text(std::string_view yaml, const versions::Version& version);

// `cryptnode config validate`: Talos' errors plus cryptnode's own warnings and hints - configs
// Talos accepts that lose data or fail later on a real node (slot -1, slots >= 32, empty
// passphrase), and spelling hints for keys Talos rejects (lockToSTATE). Warnings and hints are
// never part of Talos' error texts.
struct Report {
  std::vector<std::string> errors;    // as validate_text()
  std::vector<std::string> warnings;  // lint(): Talos accepts the config
  std::vector<std::string> hints;     // help for an error Talos prints (the documented spelling)
};
Report check(std::string_view yaml, const versions::Version& version);
// Warnings for a decoded config (empty when nothing is suspicious).
std::vector<std::string> lint(const MachineConfig& config);

// talosctl patch machineconfig (strategic merge, engine/src/config/patch.cpp): `patch`'s documents
// merged into `base`'s by (apiVersion, kind, name) — maps key by key, lists concatenated, scalars
// replaced, `$patch: delete` deleting a document or a map — new documents appended. Returns the
// merged multi-document YAML. Error(kConfigParse) names which input is not YAML.
std::string strategic_merge(std::string_view base, std::string_view patch);

// talosctl gen config, reduced to what a simulated node reads: a minimal v1alpha1 document
// ("worker" or "controlplane"), to which VolumeConfig and other documents are appended.
std::string gen_config(std::string_view machine_type = "worker");

// Talos' container validation text (hashicorp/go-multierror): "1 error occurred:\n\t* ...\n\n";
// "" for no errors.
std::string format_multierror(const std::vector<std::string>& errors);

}  // namespace cryptnode::config
