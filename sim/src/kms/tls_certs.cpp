#include "tls_certs.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>

#include "cryptnode/engine/error.h"

namespace cryptnode::sim::kms_tls {
namespace {

constexpr long kHour = 3600, kDay = 24 * kHour;

template <typename T, void (*F)(T*)>
struct Deleter {
  void operator()(T* p) const { F(p); }
};
using KeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using CertPtr = std::unique_ptr<X509, Deleter<X509, X509_free>>;
using BioPtr = std::unique_ptr<BIO, Deleter<BIO, BIO_free_all>>;

[[noreturn]] void fail(const std::string& what) {
  throw Error(Code::kInternal, "KMS TLS: " + what + " failed");
}

KeyPtr new_key() {
  KeyPtr k(EVP_EC_gen("P-256"));
  if (!k) fail("generating an EC P-256 key");
  return k;
}

void add_ext(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  if (!ext || !X509_add_ext(cert, ext, -1)) fail(std::string("adding ") + OBJ_nid2sn(nid));
  X509_EXTENSION_free(ext);
}

struct Spec {
  std::string cn;
  std::time_t not_before, not_after;
  bool ca = false;
  std::string san;  // subjectAltName value, "" for none
};

// A certificate for `key`, signed by `issuer_key` (issuer == nullptr: self-signed).
CertPtr make_cert(const Spec& s, EVP_PKEY* key, X509* issuer, EVP_PKEY* issuer_key) {
  CertPtr c(X509_new());
  if (!c) fail("X509_new");
  X509_set_version(c.get(), X509_VERSION_3);
  unsigned char serial[16];
  RAND_bytes(serial, sizeof(serial));
  serial[0] &= 0x7f;  // positive
  BIGNUM* bn = BN_bin2bn(serial, sizeof(serial), nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(c.get()));
  BN_free(bn);
  X509_NAME* name = X509_get_subject_name(c.get());
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("cryptnode"), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(s.cn.c_str()), -1, -1, 0);
  X509_set_issuer_name(c.get(), issuer ? X509_get_subject_name(issuer) : name);
  ASN1_TIME_set(X509_getm_notBefore(c.get()), s.not_before);
  ASN1_TIME_set(X509_getm_notAfter(c.get()), s.not_after);
  X509_set_pubkey(c.get(), key);
  X509* signer = issuer ? issuer : c.get();
  if (s.ca) {
    add_ext(c.get(), signer, NID_basic_constraints, "critical,CA:TRUE");
    add_ext(c.get(), signer, NID_key_usage, "critical,digitalSignature,keyCertSign,cRLSign");
  } else {
    add_ext(c.get(), signer, NID_basic_constraints, "critical,CA:FALSE");
    add_ext(c.get(), signer, NID_key_usage, "critical,digitalSignature");
  }
  if (!s.san.empty()) {
    add_ext(c.get(), signer, NID_ext_key_usage, "serverAuth");
    add_ext(c.get(), signer, NID_subject_alt_name, s.san.c_str());
  }
  add_ext(c.get(), signer, NID_subject_key_identifier, "hash");
  if (issuer) add_ext(c.get(), signer, NID_authority_key_identifier, "keyid:always");
  if (!X509_sign(c.get(), issuer_key, EVP_sha256())) fail("signing a certificate");
  return c;
}

std::string cert_pem(X509* c) {
  BioPtr b(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(b.get(), c);
  char* data = nullptr;
  long n = BIO_get_mem_data(b.get(), &data);
  return std::string(data, static_cast<size_t>(n));
}

Secret key_pem(EVP_PKEY* k) {
  BioPtr b(BIO_new(BIO_s_secmem()));
  if (!b) b.reset(BIO_new(BIO_s_mem()));
  if (!PEM_write_bio_PrivateKey(b.get(), k, nullptr, nullptr, 0, nullptr, nullptr))
    fail("writing the server key");
  char* data = nullptr;
  long n = BIO_get_mem_data(b.get(), &data);
  Secret out(reinterpret_cast<const uint8_t*>(data), static_cast<size_t>(n));
  OPENSSL_cleanse(data, static_cast<size_t>(n));
  return out;
}

}  // namespace

ServerTls make_server_tls(const std::string& variant, std::time_t now) {
  if (variant != "valid" && variant != "expired" && variant != "wrong-name" &&
      variant != "self-signed")
    throw Error(Code::kInvalidArgument, "KMS certificate \"" + variant +
                                            "\" is not one of valid, expired, wrong-name, "
                                            "self-signed");
  const std::string local = "DNS:localhost,IP:127.0.0.1,IP:::1";
  KeyPtr key = new_key();
  ServerTls out;
  if (variant == "self-signed") {
    // As `openssl req -x509 -addext subjectAltName=...` makes it: its own CA.
    Spec s{"localhost", now - kHour, now + 365 * kDay, true, local};
    CertPtr c = make_cert(s, key.get(), nullptr, key.get());
    out.cert_pem = out.ca_pem = cert_pem(c.get());
  } else {
    KeyPtr ca_key = new_key();
    CertPtr ca = make_cert({"cryptnode KMS CA", now - kHour, now + 365 * kDay, true, ""},
                           ca_key.get(), nullptr, ca_key.get());
    Spec s{"localhost", now - kHour, now + 365 * kDay, false, local};
    if (variant == "expired") {
      s.not_before = now - 2 * kDay;
      s.not_after = now - kDay;
    } else if (variant == "wrong-name") {
      s.cn = kWrongDnsName;
      s.san = std::string("DNS:") + kWrongDnsName + ",IP:" + kWrongIp;
    }
    CertPtr c = make_cert(s, key.get(), ca.get(), ca_key.get());
    out.ca_pem = cert_pem(ca.get());
    out.cert_pem = cert_pem(c.get());
  }
  out.key_pem = key_pem(key.get());
  return out;
}

}  // namespace cryptnode::sim::kms_tls
