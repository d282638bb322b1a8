// Go's encoding/base64 (StdEncoding) and encoding/hex decoders with their error texts, for the
// token and signature JSON fields Talos decodes with them.
#pragma once

#include <string>

#include "cryptnode/engine/secret.h"
#include "cryptnode/engine/tpm/tpm.h"

namespace cryptnode::tpm::detail {

// base64.StdEncoding.DecodeString: Error(kCorrupt, "illegal base64 data at input byte N").
// '\r' and '\n' are skipped, padding is required.
Bytes go_base64_decode(const std::string& text);
// hex.DecodeString: Error(kCorrupt, "encoding/hex: invalid byte: U+0067 'g'") or
// "encoding/hex: odd length hex string".
Bytes go_hex_decode(const std::string& text);

}  // namespace cryptnode::tpm::detail
