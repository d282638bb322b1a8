// Key handlers (docs/talos/keys.md): each configured key turns into a LUKS2 passphrase, and
// possibly a token stored in the LUKS2 header in the keyslot's token id (token id == keyslot).
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "cryptnode/engine/config.h"
#include "cryptnode/engine/secret.h"

namespace cryptnode::keys {

struct NewKey {
  Secret passphrase;
  std::optional<std::string> token_json;  // Talos token JSON to store in the slot's token id
};

class KeyHandler {
 public:
  virtual ~KeyHandler() = default;

  virtual int slot() const = 0;
  virtual config::KeyType type() const = 0;
  // The Go type name Talos prints in failed-sync texts (%T): "*keys.StaticKeyHandler",
  // "*keys.NodeIDKeyHandler", "*keys.KMSKeyHandler", "*keys.TPMKeyHandler",
  // "*keys.SaltedHandler".
  virtual std::string go_type() const = 0;
  virtual bool locked_to_state() const { return false; }

  // Enrolment: a fresh passphrase (and token). Throws Error on failure.
  virtual NewKey new_key() = 0;
  // Unlock: the passphrase for this slot, from the slot's token if the kind needs one (nullopt:
  // no token in that id). TPM/KMS with a missing or foreign token throw Error(kTokenInvalid,
  // "invalid token").
  virtual Secret get_key(const std::optional<std::string>& token_json) = 0;
};

using UUIDGetter = std::function<std::string()>;  // SMBIOS UUID, or META 0x0f override
using SaltGetter = std::function<Secret()>;       // throws "encryption salt not available"

std::unique_ptr<KeyHandler> make_static_handler(int slot, Secret passphrase);
std::unique_ptr<KeyHandler> make_node_id_handler(int slot, UUIDGetter uuid, std::string volume_id);
// lockToSTATE: wraps `inner`, passphrase = inner ‖ salt (raw concatenation, no hash).
std::unique_ptr<KeyHandler> make_salted_handler(std::unique_ptr<KeyHandler> inner, SaltGetter salt);

// nodeID derivation: uuid + volume_id, after Talos' checks ("machine UUID is not populated ",
// "machine UUID %s entropy check failed").
Secret node_id_passphrase(std::string_view uuid, std::string_view volume_id);
// Throws Error(kFailedPrecondition, "machine UUID <uuid> entropy check failed") when any
// character occurs more than len/2 times.
void check_uuid_entropy(std::string_view uuid);

}  // namespace cryptnode::keys
