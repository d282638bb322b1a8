// META tag 0x09: the STATE encryption config as Talos writes it (json.Marshal of the Go struct:
// Go field names, no tags, static passphrases in clear; `null` when STATE is unencrypted) and reads
// it (modern shape, falling back to the legacy v1alpha1 shape: bug #11502).
// docs/talos/volume-lifecycle.md#state-and-meta.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "cryptnode/engine/config.h"

namespace cryptnode::meta {

// Byte-exact with Go's encoding/json (field order, no spaces, Go's string escaping). A spec with
// `legacy` set is written in the legacy v1alpha1 shape. nullopt => "null".
std::string marshal_state_encryption(const std::optional<config::EncryptionSpec>& spec);
// nullopt for "null" or an unencrypted config. Throws Error(kCorrupt) when neither shape parses.
std::optional<config::EncryptionSpec> unmarshal_state_encryption(std::string_view json);

// Go's encoding/json string encoding (HTML-safe: <, >, & as \u003c \u003e \u0026; U+2028/2029
// escaped; invalid UTF-8 as \ufffd).
std::string go_json_string(std::string_view s);

}  // namespace cryptnode::meta
