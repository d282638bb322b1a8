// The node's KMS client: Talos' KMSKeyHandler transport (internal/pkg/encryption/keys/kms.go,
// release-1.12): a new connection per Seal/Unseal (`getConn`), 10 s per call, plaintext for
// grpc:// endpoints and TLS with the node's root CAs for every other scheme.
#include <grpcpp/grpcpp.h>
#include <grpcpp/security/tls_certificate_verifier.h>
#include <grpcpp/security/tls_credentials_options.h>

#include <chrono>
#include <ctime>
#include <mutex>

#include "cryptnode/engine/error.h"
#include "cryptnode/sim/kms.h"
#include "kms.grpc.pb.h"
#include "tls_verify.h"

namespace cryptnode::sim {
namespace {

constexpr auto kCallTimeout = std::chrono::seconds(10);  // Talos: 10 s per Seal/Unseal

// What the TLS check of one connection found ("" while none failed).
struct HandshakeResult {
  std::mutex mu;
  std::string error;
};

// Go's crypto/tls server check (tls_verify.h) in place of gRPC's own: Talos' client verifies
// against httpdefaults.RootCAs() with the dialled host as ServerName.
class GoTlsVerifier final : public grpc::experimental::ExternalCertificateVerifier {
 public:
  GoTlsVerifier(std::string host, std::vector<std::string> roots,
                std::shared_ptr<HandshakeResult> result)
      : host_(std::move(host)), roots_(std::move(roots)), result_(std::move(result)) {}

  bool Verify(grpc::experimental::TlsCustomVerificationCheckRequest* request,
              std::function<void(grpc::Status)>, grpc::Status* sync_status) override {
    const auto chain = request->peer_cert_full_chain();
    std::string err = kms_tls::verify_server(std::string(chain.data(), chain.size()), host_, roots_,
                                             std::time(nullptr));
    if (err.empty()) {
      *sync_status = grpc::Status::OK;
    } else {
      std::lock_guard<std::mutex> l(result_->mu);
      result_->error = err;
      *sync_status = grpc::Status(grpc::StatusCode::UNAUTHENTICATED, err);
    }
    return true;  // synchronous
  }
  void Cancel(grpc::experimental::TlsCustomVerificationCheckRequest*) override {}

 private:
  std::string host_;
  std::vector<std::string> roots_;
  std::shared_ptr<HandshakeResult> result_;
};

std::string status_name(grpc::StatusCode c) {
  switch (c) {
    case grpc::StatusCode::UNAVAILABLE:
      return "Unavailable";
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return "DeadlineExceeded";
    case grpc::StatusCode::INVALID_ARGUMENT:
      return "InvalidArgument";
    case grpc::StatusCode::UNAUTHENTICATED:
      return "Unauthenticated";
    case grpc::StatusCode::INTERNAL:
      return "Internal";
    default:
      return "Code(" + std::to_string(static_cast<int>(c)) + ")";
  }
}

// gRPC-Go's text for a connection whose TLS handshake failed.
std::string handshake_failed(const std::string& why) {
  return "rpc error: code = Unavailable desc = connection error: desc = " +
         kms_tls::go_quote("transport: authentication handshake failed: " + why);
}

class GrpcKmsTransport final : public keys::KmsTransport {
 public:
  explicit GrpcKmsTransport(std::vector<std::string> roots) : roots_(std::move(roots)) {}

  Secret seal(const std::string& endpoint, const std::string& uuid, const Secret& data) override {
    return call(endpoint, uuid, data, true);
  }
  Secret unseal(const std::string& endpoint, const std::string& uuid,
                const Secret& sealed) override {
    return call(endpoint, uuid, sealed, false);
  }

 private:
  struct Conn {
    std::shared_ptr<grpc::Channel> channel;
    std::shared_ptr<HandshakeResult> handshake;  // TLS only
  };

  // Talos' getConn.
  Conn connect(const std::string& endpoint) {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // a connection per call, as Talos
    if (endpoint.rfind("unix:", 0) == 0)                 // the simulator's own form, plaintext
      return {grpc::CreateCustomChannel(endpoint, grpc::InsecureChannelCredentials(), args), {}};
    KmsEndpoint e;
    try {
      e = parse_kms_endpoint(endpoint);
    } catch (const Error& err) {
      throw Error(Code::kInvalidArgument,
                  "error dialing KMS endpoint " + kms_tls::go_quote(endpoint) + ": " + err.what());
    }
    const std::string target = "dns:///" + e.host;
    if (e.insecure)
      return {grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args), {}};
    auto handshake = std::make_shared<HandshakeResult>();
    grpc::experimental::TlsChannelCredentialsOptions o;
    o.set_verify_server_certs(false);  // GoTlsVerifier does all of it
    o.set_check_call_host(false);
    o.set_certificate_verifier(
        grpc::experimental::ExternalCertificateVerifier::Create<GoTlsVerifier>(
            kms_tls::server_name(e.host), roots_, handshake));
    return {grpc::CreateCustomChannel(target, grpc::experimental::TlsCredentials(o), args),
            handshake};
  }

  Secret call(const std::string& endpoint, const std::string& uuid, const Secret& data, bool seal) {
    Conn conn = connect(endpoint);
    auto stub = sidero::kms::KMSService::NewStub(conn.channel);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + kCallTimeout);
    sidero::kms::Request req;
    req.set_node_uuid(uuid);
    req.set_data(std::string(data.view()));
    sidero::kms::Response resp;
    grpc::Status s = seal ? stub->Seal(&ctx, req, &resp) : stub->Unseal(&ctx, req, &resp);
    wipe(req.mutable_data()->data(), req.data().size());
    if (!s.ok()) throw call_error(s, conn);
    Secret out(resp.data());
    wipe(resp.mutable_data()->data(), resp.data().size());
    return out;
  }

  static Error call_error(const grpc::Status& s, const Conn& conn) {
    const Code code =
        s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED ? Code::kTimeout : Code::kUnavailable;
    if (conn.handshake && s.error_code() == grpc::StatusCode::UNAVAILABLE) {
      std::string verify_error;
      {
        std::lock_guard<std::mutex> l(conn.handshake->mu);
        verify_error = conn.handshake->error;
      }
      if (!verify_error.empty())
        return Error(code, handshake_failed("tls: failed to verify certificate: " + verify_error));
      // A TLS client meeting a plaintext server: Go's crypto/tls reads its first bytes as a record.
      const std::string& m = s.error_message();
      if (m.find("WRONG_VERSION_NUMBER") != std::string::npos ||
          m.find("wrong version number") != std::string::npos ||
          m.find("packet length too long") != std::string::npos)
        return Error(code,
                     handshake_failed("tls: first record does not look like a TLS handshake"));
    }
    return Error(
        code, "rpc error: code = " + status_name(s.error_code()) + " desc = " + s.error_message());
  }

  std::vector<std::string> roots_;
};

}  // namespace

std::shared_ptr<keys::KmsTransport> make_grpc_kms_transport(
    const std::vector<std::string>& config_roots_pem,
    const std::vector<std::string>& os_bundle_pem) {
  // httpdefaults.RootCAs(): the OS bundle, into which Talos writes the TrustedRootsConfig
  // certificates once the machine config is loaded.
  std::vector<std::string> roots = os_bundle_pem;
  roots.insert(roots.end(), config_roots_pem.begin(), config_roots_pem.end());
  return std::make_shared<GrpcKmsTransport>(std::move(roots));
}

}  // namespace cryptnode::sim
