// The KMS world of the simulator: a real gRPC sidero.kms.KMSService server (behaving like
// siderolabs/kms-client's reference server, docs/talos/kms.md, without its 1 s sleep) with fault
// injection, plaintext or TLS, and the gRPC client transport the node's kms keys use (Talos'
// `getConn` in internal/pkg/encryption/keys/kms.go: plaintext for grpc://, TLS otherwise).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "cryptnode/engine/keys/kms_handler.h"

namespace cryptnode::sim {

// The server's transport security.
struct KmsTls {
  bool enabled = false;
  // The certificate the server presents: "valid" (for localhost, 127.0.0.1 and ::1, signed by a
  // CA generated at start), "expired" (signed by that CA, expired yesterday), "wrong-name" (signed
  // by that CA for kms.invalid and 192.0.2.10), "self-signed" (its own issuer, no CA).
  std::string cert = "valid";
};

class KmsServer {
 public:
  // Listens on `listen` ("127.0.0.1:0" picks a free port; "unix:/path" a socket, plaintext only).
  // With TLS, a CA and the server certificate are generated in memory for this server.
  // Throws Error(kInvalidArgument) for an unknown certificate variant or TLS on a unix socket.
  static std::unique_ptr<KmsServer> start(const std::string& listen = "127.0.0.1:0",
                                          const KmsTls& tls = {});
  virtual ~KmsServer() = default;
  // "grpc://127.0.0.1:PORT", or "https://127.0.0.1:PORT" with TLS.
  virtual std::string endpoint() const = 0;
  // The PEM certificate a client must trust: the generated CA (the certificate itself for
  // "self-signed"); "" for a plaintext server.
  virtual std::string ca_pem() const = 0;
  // "down" (UNAVAILABLE), "slow" (DEADLINE_EXCEEDED, as Talos' 10 s timeout would end it, without
  // sleeping), "garbage" (Unseal answers 32 random bytes), "other-key" (another master key), or
  // "" for none. Throws Error(kInvalidArgument) for anything else.
  virtual void set_fault(const std::string& fault) = 0;
  virtual int calls() const = 0;  // Seal + Unseal calls served
  virtual void stop() = 0;
};

// Talos' endpoint.Parse (internal/pkg/endpoint/endpoint.go): no scheme means grpc://; scheme
// grpc is plaintext (insecure), every other scheme (https, even http) TLS; https without a port
// gets :443; the path, query and user info are dropped. `host` is what gRPC dials.
// Throws Error(kInvalidArgument, "parse \"<url>\": <net/url's error>").
struct KmsEndpoint {
  std::string host;
  bool insecure = true;
};
KmsEndpoint parse_kms_endpoint(const std::string& endpoint);

// The node's KMS client transport. Endpoints are parsed as above ("unix:/path" is the simulator's
// own plaintext form); TLS endpoints are verified as Go's crypto/tls does (the dialled host, a
// chain to a trusted root, validity periods; no client certificate) against the node's OS bundle
// (`os_bundle_pem`, the node's trusted_ca_pem setting) plus `config_roots_pem` (the machine
// config's TrustedRootsConfig certificates, empty before a config is active). A failed check is
// the error gRPC-Go reports, e.g. `rpc error: code = Unavailable desc = connection error: desc =
// "transport: authentication handshake failed: tls: failed to verify certificate: x509:
// certificate signed by unknown authority"`; a bad endpoint `error dialing KMS endpoint "<e>":
// parse ...` (Error kInvalidArgument).
std::shared_ptr<keys::KmsTransport> make_grpc_kms_transport(
    const std::vector<std::string>& config_roots_pem = {},
    const std::vector<std::string>& os_bundle_pem = {});

}  // namespace cryptnode::sim
