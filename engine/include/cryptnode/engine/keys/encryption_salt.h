// The lockToSTATE salt: 32 random bytes generated once and stored in STATE as
// encryption-salt.yaml (docs/talos/keys.md#locktostate-salt, docs/disk-layout.md#state-contents).
#pragma once

#include <string>
#include <string_view>

#include "cryptnode/engine/env.h"
#include "cryptnode/engine/secret.h"

namespace cryptnode::keys {

constexpr size_t kDiskEncryptionSaltSize = 32;  // constants.DiskEncryptionSaltSize
constexpr const char* kEncryptionSaltFilename = "encryption-salt.yaml";

Secret generate_salt(RandomSource& random);
// `diskSalt:` then one line `    - <0..255>` per byte (yaml.v3's encoding of a []byte). The
// returned text holds the salt: wipe it after writing.
Secret marshal_salt_yaml(const Secret& salt);
// Throws Error(kCorrupt) naming what is wrong; an all-zero salt gives Talos' text
// `value of "encryption-salt.yaml" is still zero after unmarshaling`.
Secret parse_salt_yaml(std::string_view text);
// hex(HMAC-SHA256(key=salt, "encryption salt checksum")): what Talos logs instead of the salt.
std::string salt_checksum(const Secret& salt);

}  // namespace cryptnode::keys
