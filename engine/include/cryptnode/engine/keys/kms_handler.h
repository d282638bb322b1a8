// kms key (docs/talos/kms.md#client-behaviour): 32 random bytes, sealed by the KMS for the node's
// UUID; the sealed blob goes into a `sideroKMS` token, the LUKS2 passphrase is base64(the 32
// bytes). The transport (gRPC in the simulator) is injected.
#pragma once

#include <memory>
#include <string>

#include "cryptnode/engine/env.h"
#include "cryptnode/engine/keys/key_handler.h"

namespace cryptnode::keys {

class KmsTransport {
 public:
  virtual ~KmsTransport() = default;
  // Throw Error (kUnavailable, kTimeout, ...) with the transport's message.
  virtual Secret seal(const std::string& endpoint, const std::string& node_uuid,
                      const Secret& data) = 0;
  virtual Secret unseal(const std::string& endpoint, const std::string& node_uuid,
                        const Secret& sealed) = 0;
};

std::unique_ptr<KeyHandler> make_kms_handler(int slot, std::string endpoint, UUIDGetter uuid,
                                             std::shared_ptr<KmsTransport> transport,
                                             RandomSource& random);

std::string base64_encode(const uint8_t* data, size_t len);
// Throws Error(kCorrupt) for invalid base64.
Secret base64_decode(const std::string& text);

}  // namespace cryptnode::keys
