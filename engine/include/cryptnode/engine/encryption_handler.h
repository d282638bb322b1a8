// Talos' encryption handler (internal/pkg/encryption; docs/talos/encryption-handler.md): one key
// handler per configured key, sorted by slot; FormatAndEncrypt for an empty volume; Open
// (configured keys only, lowest slot first, each only against its own slot) followed by syncKeys,
// whose failures are a non-fatal list with Talos' texts.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cryptnode/engine/config.h"
#include "cryptnode/engine/env.h"
#include "cryptnode/engine/keys/key_handler.h"
#include "cryptnode/engine/luks2.h"
#include "cryptnode/engine/versions.h"

namespace cryptnode::encryption {

// How handlers are built for the kinds that need the world (KMS, TPM): injected, so the engine
// stays free of transports. A missing factory makes that key fail at use with a clear error.
struct KeySources {
  keys::UUIDGetter uuid;
  keys::SaltGetter salt;
  std::function<std::unique_ptr<keys::KeyHandler>(const config::EncryptionKey&)> kms;
  std::function<std::unique_ptr<keys::KeyHandler>(const config::EncryptionKey&)> tpm;
};

// What Talos records in VolumeStatus after a successful open
// (docs/talos/encryption-handler.md#what-the-volume-status-records).
struct OpenResult {
  int slot = 0;                       // encryptionSlot: the slot that opened the volume
  Secret passphrase;                  // that slot's passphrase (for activation; never logged)
  bool locked_to_state = false;       // encryptionLockedToState of that slot
  std::optional<config::KeyTPM> tpm;  // configured TPM options of that slot, if a TPM key
  std::vector<std::string> configured_keys;  // sorted unique type names
  std::vector<std::string> failed_syncs;     // encryptionFailedSyncs
};

class Handler {
 public:
  // NewHandler. Throws Error(kInvalidArgument) with Talos' texts for a bad cipher or perf option
  // (the caller prefixes "failed to create encryption handler: "). `version`: the Talos release
  // whose behaviour to reproduce (header validation, fatal syncs before 1.9).
  Handler(const config::EncryptionSpec& spec, std::string volume_id, KeySources sources,
          luks2::Pbkdf pbkdf, Env& env, versions::Version version = versions::default_version());
  ~Handler();

  // Formats an empty device: the lowest-slot key that can produce a key formats it, every other
  // key is added; any add failure aborts and leaves the slots already written. (The caller,
  // HandleEncryption, prefixes "error formatting and encrypting volume: " and tags it Retryable.)
  void format_and_encrypt(const std::string& device);
  // Open + syncKeys. Throws "no handlers available to get encryption keys from: <multierror>"
  // when no configured key opens it, "no encryption keys found" without keys (the caller
  // prefixes "error opening encrypted volume: " and tags it Retryable).
  //
  // `activate`, when given, is Talos' luksOpen: called with the slot and passphrase that opened
  // the header, after that key was tested and before syncKeys runs (encryption.go Open), so a sync
  // that removes the opening keyslot (a `slot: -1` key) leaves the volume mapped, as on Talos.
  // Its errors propagate unchanged; no sync runs after one.
  using Activate = std::function<void(int slot, const Secret& passphrase)>;
  OpenResult open(const std::string& device, const Activate& activate = {});

  const std::vector<std::unique_ptr<keys::KeyHandler>>& handlers() const { return handlers_; }

 private:
  std::vector<std::string> sync_keys(luks2::Device& dev, const keys::KeyHandler& used,
                                     const Secret& used_key);
  void add_key(luks2::Device& dev, keys::KeyHandler& h, const Secret& authorising);
  void update_key(luks2::Device& dev, keys::KeyHandler& h, const Secret& used_key);
  std::optional<std::string> read_token(luks2::Device& dev, int slot);

  config::EncryptionSpec spec_;
  std::string volume_id_;
  luks2::Pbkdf pbkdf_;
  Env& env_;
  versions::Version version_;
  std::vector<std::unique_ptr<keys::KeyHandler>> handlers_;
};

// Talos' token types (internal/pkg/encryption/keys/token.go).
constexpr const char* kTokenTypeKMS = "sideroKMS";
constexpr const char* kTokenTypeTPM = "talos-tpm2";

}  // namespace cryptnode::encryption
