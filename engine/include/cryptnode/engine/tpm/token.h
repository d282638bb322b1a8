// The `talos-tpm2` LUKS2 token: go-blockdevice's luks.Token[*keys.TPMToken]
// (encryption/luks/token.go) around Talos' TPMToken (internal/pkg/encryption/keys/tpm2.go),
// serialised exactly as Go's encoding/json writes it, which is what `cryptsetup token export`
// shows for a Talos volume:
//
//   {"UserData":{"keyslots":[0],"sealed_blob_private":"<b64>","sealed_blob_public":"<b64>",
//    "pcrs":[7],"pubkey_pcrs":[11],"alg":"sha256","encryption_version":"1",
//    "policy_hash":"<b64>","key_name":"<b64>"},"type":"talos-tpm2","keyslots":[]}
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "cryptnode/engine/tpm/seal.h"

namespace cryptnode::tpm {

inline constexpr const char* kTokenTypeTPM = "talos-tpm2";  // keys/token.go

// TPMToken. Go nil slices are nullopt (pubkey_pcrs is absent from tokens written before 1.12).
struct TpmToken {
  std::vector<int> key_slots;
  Bytes sealed_blob_private;
  Bytes sealed_blob_public;
  std::optional<std::vector<int>> pcrs;          // omitempty
  std::optional<std::vector<int>> pub_key_pcrs;  // `null` when nil
  std::string alg;
  std::string encryption_version;  // omitempty
  Bytes policy_hash;
  Bytes key_name;

  // The token Talos' NewKey builds from a SealedResponse for `slot`.
  static TpmToken from_sealed(int slot, const SealedResponse& r);
  SealedResponse to_sealed() const;

  // The whole LUKS2 token JSON, byte-compatible with Go's json.Marshal.
  std::string to_json() const;
  // Parses a whole token. Strict: the type must be "talos-tpm2", UserData an object whose keys are
  // all known and whose required fields (keyslots, sealed_blob_private, sealed_blob_public, alg,
  // policy_hash, key_name) are present; byte fields must be standard base64. Errors are
  // Error(kCorrupt) naming the field, with Go's texts where Go has one ("illegal base64 data at
  // input byte N", "json: cannot unmarshal string into Go struct field TPMToken.keyslots of type
  // []int"). A token of another type is Error(kTokenInvalid, "invalid token").
  static TpmToken parse(const std::string& json);
};

}  // namespace cryptnode::tpm
