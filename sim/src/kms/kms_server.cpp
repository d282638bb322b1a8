#include <grpcpp/grpcpp.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <atomic>
#include <ctime>
#include <mutex>

#include "cryptnode/engine/error.h"
#include "cryptnode/sim/kms.h"
#include "kms.grpc.pb.h"
#include "tls_certs.h"

namespace cryptnode::sim {
namespace {

using grpc::ServerContext;
using grpc::Status;
using grpc::StatusCode;
using sidero::kms::Request;
using sidero::kms::Response;

constexpr size_t kKeySize = 32, kNonce = 12, kTag = 16;

class Service final : public sidero::kms::KMSService::Service {
 public:
  Service() {
    RAND_bytes(master_, sizeof(master_));
    RAND_bytes(other_, sizeof(other_));
  }

  Status Seal(ServerContext*, const Request* req, Response* resp) override {
    if (Status s = fault_status(); !s.ok()) return s;
    ++calls_;
    if (req->data().size() != kKeySize)
      return Status(StatusCode::INVALID_ARGUMENT, "incorrect data length");
    unsigned char key[32];
    node_key(req->node_uuid(), key);
    std::string out(kNonce + kKeySize + kTag, '\0');
    auto* o = reinterpret_cast<unsigned char*>(out.data());
    RAND_bytes(o, kNonce);
    int len = 0;
    EVP_CIPHER_CTX* c = EVP_CIPHER_CTX_new();
    EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), nullptr, key, o);
    EVP_EncryptUpdate(c, o + kNonce, &len,
                      reinterpret_cast<const unsigned char*>(req->data().data()),
                      static_cast<int>(kKeySize));
    EVP_EncryptFinal_ex(c, o + kNonce + len, &len);
    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, kTag, o + kNonce + kKeySize);
    EVP_CIPHER_CTX_free(c);
    OPENSSL_cleanse(key, sizeof(key));
    resp->set_data(out);
    return Status::OK;
  }

  Status Unseal(ServerContext*, const Request* req, Response* resp) override {
    if (Status s = fault_status(); !s.ok()) return s;
    ++calls_;
    if (req->data().size() != kNonce + kKeySize + kTag)
      return Status(StatusCode::INVALID_ARGUMENT, "incorrect data length");
    unsigned char key[32], plain[kKeySize];
    node_key(req->node_uuid(), key);
    const auto* in = reinterpret_cast<const unsigned char*>(req->data().data());
    int len = 0;
    EVP_CIPHER_CTX* c = EVP_CIPHER_CTX_new();
    EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), nullptr, key, in);
    EVP_DecryptUpdate(c, plain, &len, in + kNonce, static_cast<int>(kKeySize));
    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, kTag,
                        const_cast<unsigned char*>(in + kNonce + kKeySize));
    bool ok = EVP_DecryptFinal_ex(c, plain + len, &len) == 1;
    EVP_CIPHER_CTX_free(c);
    OPENSSL_cleanse(key, sizeof(key));
    // The reference server answers 32 random bytes when GCM fails (no error): Talos then gets
    // "encryption key rejected" from cryptsetup.
    if (!ok || fault() == "garbage") RAND_bytes(plain, sizeof(plain));
    resp->set_data(std::string(reinterpret_cast<char*>(plain), sizeof(plain)));
    OPENSSL_cleanse(plain, sizeof(plain));
    return Status::OK;
  }

  void set_fault(const std::string& f) {
    std::lock_guard<std::mutex> l(mu_);
    fault_ = f;
  }
  std::string fault() {
    std::lock_guard<std::mutex> l(mu_);
    return fault_;
  }
  int calls() const { return calls_; }

 private:
  Status fault_status() {
    const std::string f = fault();
    if (f == "down") return Status(StatusCode::UNAVAILABLE, "connection refused");
    if (f == "slow") return Status(StatusCode::DEADLINE_EXCEEDED, "context deadline exceeded");
    return Status::OK;
  }
  // A key per node: HMAC-SHA256(master, node UUID), so another node cannot unseal.
  void node_key(const std::string& uuid, unsigned char out[32]) {
    unsigned int n = 32;
    const unsigned char* master = fault() == "other-key" ? other_ : master_;
    HMAC(EVP_sha256(), master, 32, reinterpret_cast<const unsigned char*>(uuid.data()), uuid.size(),
         out, &n);
  }

  unsigned char master_[32], other_[32];
  std::mutex mu_;
  std::string fault_;
  std::atomic<int> calls_{0};
};

// The listening credentials: plaintext, or TLS with a certificate generated for this server.
std::shared_ptr<grpc::ServerCredentials> credentials(const KmsTls& tls, std::string& ca_pem) {
  if (!tls.enabled) return grpc::InsecureServerCredentials();
  kms_tls::ServerTls m = kms_tls::make_server_tls(tls.cert, std::time(nullptr));
  ca_pem = m.ca_pem;
  grpc::SslServerCredentialsOptions o;
  grpc::SslServerCredentialsOptions::PemKeyCertPair pair;
  pair.private_key.assign(m.key_pem.view());
  pair.cert_chain = m.cert_pem;
  o.pem_key_cert_pairs.push_back(pair);
  wipe(pair.private_key.data(), pair.private_key.size());
  auto creds = grpc::SslServerCredentials(o);
  wipe(o.pem_key_cert_pairs[0].private_key.data(), o.pem_key_cert_pairs[0].private_key.size());
  return creds;
}

class GrpcKmsServer final : public KmsServer {
 public:
  GrpcKmsServer(const std::string& listen, const KmsTls& tls) {
    const bool unix_socket = listen.rfind("unix:", 0) == 0;
    if (!tls.enabled && tls.cert != "valid")
      throw Error(Code::kInvalidArgument,
                  "KMS certificate \"" + tls.cert + "\" needs TLS (a plaintext server has none)");
    if (tls.enabled && unix_socket)
      throw Error(Code::kInvalidArgument, "KMS over TLS listens on TCP only (" + listen +
                                              "): a Talos endpoint cannot name a unix socket");
    grpc::ServerBuilder b;
    int port = 0;
    // gRPC would silently share a busy port (SO_REUSEPORT): refuse that.
    b.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
    b.AddListeningPort(listen, credentials(tls, ca_pem_), &port);
    b.RegisterService(&service_);
    server_ = b.BuildAndStart();
    if (!server_ || (!unix_socket && port == 0))
      throw Error(Code::kUnavailable, "cannot listen on " + listen + " for the KMS server");
    endpoint_ = unix_socket ? listen
                            : std::string(tls.enabled ? "https://" : "grpc://") +
                                  listen.substr(0, listen.rfind(':')) + ":" + std::to_string(port);
  }
  ~GrpcKmsServer() override { stop(); }
  std::string endpoint() const override { return endpoint_; }
  std::string ca_pem() const override { return ca_pem_; }
  void set_fault(const std::string& f) override {
    if (!f.empty() && f != "down" && f != "slow" && f != "garbage" && f != "other-key")
      throw Error(Code::kInvalidArgument,
                  "KMS fault \"" + f + "\" is not one of down, slow, garbage, other-key");
    service_.set_fault(f);
  }
  int calls() const override { return service_.calls(); }
  void stop() override {
    if (server_) {
      server_->Shutdown();
      server_->Wait();
      server_.reset();
    }
  }

 private:
  Service service_;
  std::unique_ptr<grpc::Server> server_;
  std::string endpoint_, ca_pem_;
};

}  // namespace

std::unique_ptr<KmsServer> KmsServer::start(const std::string& listen, const KmsTls& tls) {
  return std::make_unique<GrpcKmsServer>(listen, tls);
}

}  // namespace cryptnode::sim
