// KMS over TLS as Talos' client sees it: a server with a generated CA, Seal/Unseal over https://
// with the CA in the node's bundle or the config's roots, and gRPC-Go's texts for an unknown CA,
// an expired certificate, a certificate for another name, a plaintext server.
#include <gtest/gtest.h>

#include <ctime>

#include "../src/kms/tls_certs.h"
#include "../src/kms/tls_verify.h"
#include "cryptnode/engine/error.h"
#include "cryptnode/sim/kms.h"

using namespace cryptnode;
using namespace cryptnode::sim;

namespace {

const std::string kUuid = "8f3a5b2e-1c4d-4e6f-9a0b-1c2d3e4f5a6b";
const std::string kHandshake =
    "rpc error: code = Unavailable desc = connection error: desc = \"transport: authentication "
    "handshake failed: tls: failed to verify certificate: ";

std::unique_ptr<KmsServer> tls_server(const std::string& cert = "valid") {
  return KmsServer::start("127.0.0.1:0", KmsTls{true, cert});
}

std::string port_of(const KmsServer& s) {
  const std::string e = s.endpoint();
  return e.substr(e.rfind(':') + 1);
}

// Seal then Unseal 32 bytes; returns "" or the error text.
std::string round_trip(const std::string& endpoint, const std::vector<std::string>& config_roots,
                       const std::vector<std::string>& bundle = {}) {
  auto t = make_grpc_kms_transport(config_roots, bundle);
  const Secret key(std::string(32, 'k'));
  try {
    const Secret sealed = t->seal(endpoint, kUuid, key);
    EXPECT_TRUE(t->unseal(endpoint, kUuid, sealed) == key);
    return "";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Code::kUnavailable) << e.what();
    return e.what();
  }
}

TEST(KmsTls, ServerGeneratesCaAndHttpsEndpoint) {
  auto s = tls_server();
  EXPECT_EQ(s->endpoint().rfind("https://127.0.0.1:", 0), 0u) << s->endpoint();
  EXPECT_EQ(s->ca_pem().rfind("-----BEGIN CERTIFICATE-----", 0), 0u);
  EXPECT_EQ(kms_tls::parse_pem_certificates(s->ca_pem()).size(), 1u);
  auto plain = KmsServer::start();
  EXPECT_EQ(plain->ca_pem(), "");
  EXPECT_EQ(plain->endpoint().rfind("grpc://", 0), 0u);
}

TEST(KmsTls, CaInTheNodeBundleOrTheConfigRoots) {
  auto s = tls_server();
  EXPECT_EQ(round_trip(s->endpoint(), {}, {s->ca_pem()}), "");
  EXPECT_EQ(round_trip(s->endpoint(), {s->ca_pem()}), "");
  EXPECT_EQ(round_trip("https://localhost:" + port_of(*s), {s->ca_pem()}), "");
  // Another CA next to it in the same PEM text (a TrustedRootsConfig holds several).
  auto other = tls_server();
  EXPECT_EQ(round_trip(s->endpoint(), {other->ca_pem() + s->ca_pem()}), "");
  EXPECT_EQ(s->calls(), 8);
}

TEST(KmsTls, HttpSchemeMeansTlsToo) {
  auto s = tls_server();
  EXPECT_EQ(round_trip("http://127.0.0.1:" + port_of(*s), {s->ca_pem()}), "");
  EXPECT_EQ(round_trip("tcp://127.0.0.1:" + port_of(*s) + "/path/dropped", {s->ca_pem()}), "");
}

TEST(KmsTls, NoRootsIsUnknownAuthority) {
  auto s = tls_server();
  EXPECT_EQ(round_trip(s->endpoint(), {}),
            kHandshake + "x509: certificate signed by unknown authority\"");
  EXPECT_EQ(s->calls(), 0);
}

TEST(KmsTls, AnotherCaOfTheSameNameGetsGosHint) {
  auto s = tls_server();
  auto other = tls_server();
  EXPECT_EQ(round_trip(s->endpoint(), {other->ca_pem()}),
            kHandshake +
                "x509: certificate signed by unknown authority (possibly because of \\\"x509: "
                "ECDSA verification failure\\\" while trying to verify candidate authority "
                "certificate \\\"cryptnode KMS CA\\\")\"");
}

TEST(KmsTls, ExpiredCertificate) {
  auto s = tls_server("expired");
  const std::string e = round_trip(s->endpoint(), {s->ca_pem()});
  const std::string want =
      kHandshake + "x509: certificate has expired or is not yet valid: current time ";
  EXPECT_EQ(e.substr(0, want.size()), want) << e;
  EXPECT_NE(e.find(" is after "), std::string::npos) << e;
}

TEST(KmsTls, CertificateForAnotherName) {
  auto s = tls_server("wrong-name");
  EXPECT_EQ(round_trip(s->endpoint(), {s->ca_pem()}),
            kHandshake + "x509: certificate is valid for 192.0.2.10, not 127.0.0.1\"");
  EXPECT_EQ(round_trip("https://localhost:" + port_of(*s), {s->ca_pem()}),
            kHandshake + "x509: certificate is valid for kms.invalid, not localhost\"");
}

TEST(KmsTls, SelfSignedTrustedOrNot) {
  auto s = tls_server("self-signed");
  EXPECT_EQ(round_trip(s->endpoint(), {s->ca_pem()}), "");
  EXPECT_EQ(round_trip(s->endpoint(), {}),
            kHandshake + "x509: certificate signed by unknown authority\"");
  auto valid = tls_server();  // a CA named "cryptnode KMS CA" is no candidate for "localhost"
  EXPECT_EQ(round_trip(s->endpoint(), {valid->ca_pem()}),
            kHandshake + "x509: certificate signed by unknown authority\"");
}

TEST(KmsTls, TlsClientAgainstPlaintextServer) {
  auto s = KmsServer::start();
  const std::string https = "https://127.0.0.1:" + port_of(*s);
  EXPECT_EQ(round_trip(https, {}),
            "rpc error: code = Unavailable desc = connection error: desc = \"transport: "
            "authentication handshake failed: tls: first record does not look like a TLS "
            "handshake\"");
}

TEST(KmsTls, PlaintextClientAgainstTlsServerFails) {
  auto s = tls_server();
  const std::string e = round_trip("grpc://127.0.0.1:" + port_of(*s), {s->ca_pem()});
  EXPECT_EQ(e.rfind("rpc error: code = Unavailable desc = ", 0), 0u) << e;
  EXPECT_EQ(s->calls(), 0);
}

TEST(KmsTls, BadEndpointIsADialError) {
  auto t = make_grpc_kms_transport();
  try {
    t->seal("https://kms:port", kUuid, Secret(std::string(32, 'k')));
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Code::kInvalidArgument);
    EXPECT_EQ(std::string(e.what()),
              "error dialing KMS endpoint \"https://kms:port\": parse \"https://kms:port\": "
              "invalid port \":port\" after host");
  }
}

TEST(KmsTls, ServerOptionsAreChecked) {
  EXPECT_THROW(KmsServer::start("127.0.0.1:0", KmsTls{true, "sometimes"}), Error);
  EXPECT_THROW(KmsServer::start("127.0.0.1:0", KmsTls{false, "expired"}), Error);
  EXPECT_THROW(KmsServer::start("unix:/tmp/cryptnode-kms-tls-test.sock", KmsTls{true, "valid"}),
               Error);
}

// --- Go's x509 checks on their own ------------------------------------------------------------

TEST(KmsTlsVerify, NotYetValidAndHostForms) {
  const std::time_t now = std::time(nullptr);
  const auto m = kms_tls::make_server_tls("valid", now);
  EXPECT_EQ(kms_tls::verify_server(m.cert_pem, "127.0.0.1", {m.ca_pem}, now), "");
  EXPECT_EQ(kms_tls::verify_server(m.cert_pem, "::1", {m.ca_pem}, now), "");
  EXPECT_EQ(kms_tls::verify_server(m.cert_pem, "[::1]", {m.ca_pem}, now), "");
  EXPECT_EQ(kms_tls::verify_server(m.cert_pem, "LOCALHOST", {m.ca_pem}, now), "");
  EXPECT_EQ(kms_tls::verify_server(m.cert_pem, "10.0.0.1", {m.ca_pem}, now),
            "x509: certificate is valid for 127.0.0.1, ::1, not 10.0.0.1");
  const std::time_t early = now - 2 * 3600;
  EXPECT_EQ(kms_tls::verify_server(m.cert_pem, "localhost", {m.ca_pem}, early),
            "x509: certificate has expired or is not yet valid: current time " +
                kms_tls::rfc3339(early) + " is before " + kms_tls::rfc3339(now - 3600));
  // The pinned server certificate itself is a root (opts.Roots.contains(c)).
  EXPECT_EQ(kms_tls::verify_server(m.cert_pem, "localhost", {m.cert_pem}, now), "");
  // Unparsable PEM blocks are skipped, as AppendCertsFromPEM does.
  EXPECT_EQ(kms_tls::verify_server(
                m.cert_pem, "localhost",
                {"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n" + m.ca_pem}, now),
            "");
}

TEST(KmsTlsVerify, HelpersMatchGo) {
  EXPECT_EQ(kms_tls::server_name("127.0.0.1:443"), "127.0.0.1");
  EXPECT_EQ(kms_tls::server_name("[::1]:443"), "::1");
  EXPECT_EQ(kms_tls::server_name("kms"), "kms");
  EXPECT_EQ(kms_tls::go_quote("a \"b\"\n"), "\"a \\\"b\\\"\\n\"");
  EXPECT_EQ(kms_tls::rfc3339(0), "1970-01-01T00:00:00Z");
}

}  // namespace
