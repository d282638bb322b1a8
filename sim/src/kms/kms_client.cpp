#include <grpcpp/grpcpp.h>

#include <chrono>

#include "cryptnode/engine/error.h"
#include "cryptnode/sim/kms.h"
#include "kms.grpc.pb.h"

namespace cryptnode::sim {
namespace {

constexpr auto kCallTimeout = std::chrono::seconds(10);  // Talos: 10 s per Seal/Unseal

class GrpcKmsTransport final : public keys::KmsTransport {
 public:
  Secret seal(const std::string& endpoint, const std::string& uuid, const Secret& data) override {
    return call(endpoint, uuid, data, true);
  }
  Secret unseal(const std::string& endpoint, const std::string& uuid,
                const Secret& sealed) override {
    return call(endpoint, uuid, sealed, false);
  }

 private:
  static std::string target(const std::string& endpoint) {
    // Talos: no scheme => grpc://; grpc => plaintext; any other scheme => TLS.
    if (endpoint.rfind("unix:", 0) == 0) return endpoint;
    const auto pos = endpoint.find("://");
    if (pos == std::string::npos) return endpoint;
    if (endpoint.substr(0, pos) != "grpc")
      throw Error(Code::kUnsupported, "KMS endpoint " + endpoint +
                                          ": TLS endpoints are not supported by this build "
                                          "(use grpc://)");
    return endpoint.substr(pos + 3);
  }

  Secret call(const std::string& endpoint, const std::string& uuid, const Secret& data, bool seal) {
    auto channel = grpc::CreateChannel(target(endpoint), grpc::InsecureChannelCredentials());
    auto stub = sidero::kms::KMSService::NewStub(channel);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + kCallTimeout);
    sidero::kms::Request req;
    req.set_node_uuid(uuid);
    req.set_data(std::string(data.view()));
    sidero::kms::Response resp;
    grpc::Status s = seal ? stub->Seal(&ctx, req, &resp) : stub->Unseal(&ctx, req, &resp);
    wipe(req.mutable_data()->data(), req.data().size());
    if (!s.ok()) {
      Code code = s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED ? Code::kTimeout
                                                                        : Code::kUnavailable;
      throw Error(code, "rpc error: code = " + status_name(s.error_code()) +
                            " desc = " + s.error_message());
    }
    Secret out(resp.data());
    wipe(resp.mutable_data()->data(), resp.data().size());
    return out;
  }

  static std::string status_name(grpc::StatusCode c) {
    switch (c) {
      case grpc::StatusCode::UNAVAILABLE:
        return "Unavailable";
      case grpc::StatusCode::DEADLINE_EXCEEDED:
        return "DeadlineExceeded";
      case grpc::StatusCode::INVALID_ARGUMENT:
        return "InvalidArgument";
      default:
        return "Code(" + std::to_string(static_cast<int>(c)) + ")";
    }
  }
};

}  // namespace

std::shared_ptr<keys::KmsTransport> make_grpc_kms_transport(
    const std::vector<std::string>& trusted_roots_pem) {
  return std::make_shared<GrpcKmsTransport>();
}

}  // namespace cryptnode::sim
