// The KMS world of the simulator: a real gRPC sidero.kms.KMSService server (behaving like
// siderolabs/kms-client's reference server, TALOS-SPEC.md §3.2, without its 1 s sleep) with fault
// injection, and the gRPC client transport the node's kms keys use.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "cryptnode/engine/keys/kms_handler.h"

namespace cryptnode::sim {

class KmsServer {
 public:
  // Listens on `listen` ("127.0.0.1:0" picks a free port; "unix:/path" a socket), plaintext.
  static std::unique_ptr<KmsServer> start(const std::string& listen = "127.0.0.1:0");
  virtual ~KmsServer() = default;
  virtual std::string endpoint() const = 0;  // "grpc://127.0.0.1:PORT"
  // "down" (UNAVAILABLE), "slow" (DEADLINE_EXCEEDED, as Talos' 10 s timeout would end it, without
  // sleeping), "garbage" (Unseal answers 32 random bytes), "other-key" (another master key), or
  // "" for none. Throws Error(kInvalidArgument) for anything else.
  virtual void set_fault(const std::string& fault) = 0;
  virtual int calls() const = 0;  // Seal + Unseal calls served
  virtual void stop() = 0;
};

// grpc:// (or no scheme) endpoints over plaintext; other schemes mean TLS, which this build's
// transport refuses with a clear error (decision: TLS KMS is the next step).
// `trusted_roots_pem`: extra CA certificates (the machine config's TrustedRootsConfig) trusted on
// top of the node's OS bundle for https:// endpoints.
std::shared_ptr<keys::KmsTransport> make_grpc_kms_transport(
    const std::vector<std::string>& trusted_roots_pem = {});

}  // namespace cryptnode::sim
