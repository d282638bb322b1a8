// go-tpm's PolicyCalculator updates and Talos' PCR-signing key handling
// (internal/pkg/secureboot/tpm2/policy.go, keys.go, pcr.go).
#include "cryptnode/engine/tpm/policy.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <tss2/tss2_mu.h>

#include <algorithm>
#include <cstring>
#include <memory>

#include "cryptnode/engine/error.h"
#include "esys_util.h"

namespace cryptnode::tpm {

namespace {

constexpr uint32_t kCCPolicyPCR = 0x0000017F;
constexpr uint32_t kCCPolicyAuthorize = 0x0000016A;

void put_u32(std::string& s, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) s.push_back(static_cast<char>((v >> shift) & 0xff));
}
void put(std::string& s, const uint8_t* p, size_t n) {
  s.append(reinterpret_cast<const char*>(p), n);
}

// DER of a non-negative INTEGER from big-endian magnitude bytes.
std::string der_len(size_t n) {
  std::string s;
  if (n < 0x80) {
    s.push_back(static_cast<char>(n));
  } else {
    std::string b;
    for (size_t v = n; v; v >>= 8) b.insert(b.begin(), static_cast<char>(v & 0xff));
    s.push_back(static_cast<char>(0x80 | b.size()));
    s += b;
  }
  return s;
}
std::string der_integer(const Bytes& magnitude) {
  std::string v;
  size_t i = 0;
  while (i + 1 < magnitude.size() && magnitude[i] == 0) ++i;
  if (magnitude.empty() || (magnitude[i] & 0x80)) v.push_back('\0');
  v.append(reinterpret_cast<const char*>(magnitude.data() + i), magnitude.size() - i);
  if (v.empty()) v.push_back('\0');
  return "\x02" + der_len(v.size()) + v;
}

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct BnFree {
  void operator()(BIGNUM* b) const { BN_free(b); }
};

}  // namespace

std::array<uint8_t, 3> create_selector(const std::vector<int>& pcrs) {
  std::array<uint8_t, 3> mask{};
  for (int n : pcrs) {
    if (n < 0 || n >= 24)
      throw Error(Code::kInvalidArgument,
                  "PCR index " + std::to_string(n) + " is out of range (exceeds maximum value 23)");
    mask[n >> 3] |= static_cast<uint8_t>(1 << (n & 7));
  }
  return mask;
}

Digest policy_pcr(const Digest& prev, const std::vector<int>& pcrs, const Digest& pcr_digest,
                  uint16_t bank) {
  auto mask = create_selector(pcrs);
  std::string m;
  put(m, prev.data(), prev.size());
  put_u32(m, kCCPolicyPCR);
  put_u32(m, 1);  // TPML_PCR_SELECTION.count
  m.push_back(static_cast<char>(bank >> 8));
  m.push_back(static_cast<char>(bank & 0xff));
  m.push_back(3);  // sizeofSelect
  put(m, mask.data(), mask.size());
  put(m, pcr_digest.data(), pcr_digest.size());
  return sha256(m);
}

Digest policy_authorize(const Digest& prev, const Bytes& key_sign_name, const Bytes& policy_ref) {
  std::string m;
  put(m, prev.data(), prev.size());
  put_u32(m, kCCPolicyAuthorize);
  put(m, key_sign_name.data(), key_sign_name.size());
  Digest first = sha256(m);
  std::string m2;
  put(m2, first.data(), first.size());
  put(m2, policy_ref.data(), policy_ref.size());
  return sha256(m2);
}

Digest calculate_policy(const Bytes& pcr_value, const std::vector<int>& pcrs, uint16_t bank) {
  Digest zero{};
  return policy_pcr(zero, pcrs,
                    sha256({reinterpret_cast<const char*>(pcr_value.data()), pcr_value.size()}),
                    bank);
}

Digest pcr_values_digest(const std::vector<Digest>& values) {
  std::string m;
  for (const Digest& v : values) put(m, v.data(), v.size());
  return sha256(m);
}

RsaPublicKey parse_pcr_signing_pub_key(const std::string& pem) {
  // pem.Decode: the first PEM block, whatever its type; then x509.ParsePKIXPublicKey.
  std::unique_ptr<BIO, BioFree> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  char* name = nullptr;
  char* header = nullptr;
  unsigned char* data = nullptr;
  long len = 0;
  if (!PEM_read_bio(bio.get(), &name, &header, &data, &len))
    throw Error(Code::kInvalidArgument, "failed to decode pcr signing public key");
  OPENSSL_free(name);
  OPENSSL_free(header);
  const unsigned char* p = data;
  std::unique_ptr<EVP_PKEY, PkeyFree> key(d2i_PUBKEY(nullptr, &p, len));
  OPENSSL_free(data);
  if (!key) throw Error(Code::kInvalidArgument, "x509: failed to parse public key");
  if (EVP_PKEY_get_base_id(key.get()) != EVP_PKEY_RSA)
    throw Error(Code::kInvalidArgument, "failed to cast pcr signing public key to rsa");
  BIGNUM* n = nullptr;
  BIGNUM* e = nullptr;
  EVP_PKEY_get_bn_param(key.get(), OSSL_PKEY_PARAM_RSA_N, &n);
  EVP_PKEY_get_bn_param(key.get(), OSSL_PKEY_PARAM_RSA_E, &e);
  std::unique_ptr<BIGNUM, BnFree> nn(n), ee(e);
  if (!n || !e) throw Error(Code::kInvalidArgument, "x509: failed to parse public key");
  RsaPublicKey out;
  out.bits = BN_num_bits(n);
  out.modulus.resize(static_cast<size_t>(BN_num_bytes(n)));
  BN_bn2bin(n, out.modulus.data());
  out.exponent = static_cast<uint32_t>(BN_get_word(e));
  return out;
}

Bytes rsa_pub_key_template(const RsaPublicKey& key) {
  TPMT_PUBLIC t{};
  t.type = TPM2_ALG_RSA;
  t.nameAlg = TPM2_ALG_SHA256;
  t.objectAttributes = TPMA_OBJECT_DECRYPT | TPMA_OBJECT_SIGN_ENCRYPT | TPMA_OBJECT_USERWITHAUTH;
  t.parameters.rsaDetail.symmetric.algorithm = TPM2_ALG_NULL;
  t.parameters.rsaDetail.scheme.scheme = TPM2_ALG_NULL;
  t.parameters.rsaDetail.keyBits = static_cast<TPMI_RSA_KEY_BITS>(key.bits);
  t.parameters.rsaDetail.exponent = key.exponent;
  if (key.modulus.size() > sizeof(t.unique.rsa.buffer))
    throw Error(Code::kInvalidArgument, "pcr signing public key is too large");
  t.unique.rsa.size = static_cast<UINT16>(key.modulus.size());
  std::memcpy(t.unique.rsa.buffer, key.modulus.data(), key.modulus.size());
  uint8_t buf[sizeof(TPMT_PUBLIC)];
  size_t off = 0;
  detail::check(Tss2_MU_TPMT_PUBLIC_Marshal(&t, buf, sizeof(buf), &off),
                "failed to marshal pcr signing public key");
  return Bytes(buf, buf + off);
}

Bytes rsa_pub_key_name(const RsaPublicKey& key) {
  Bytes pub = rsa_pub_key_template(key);
  Digest h = sha256({reinterpret_cast<const char*>(pub.data()), pub.size()});
  Bytes name(2 + h.size());
  name[0] = 0x00;  // TPM_ALG_SHA256
  name[1] = 0x0b;
  std::copy(h.begin(), h.end(), name.begin() + 2);
  return name;
}

Digest rsa_pub_key_fingerprint(const RsaPublicKey& key) {
  Bytes e;
  for (uint32_t v = key.exponent; v; v >>= 8) e.insert(e.begin(), static_cast<uint8_t>(v & 0xff));
  std::string body = der_integer(key.modulus) + der_integer(e);
  return sha256("\x30" + der_len(body.size()) + body);
}

Digest sealing_policy_digest(const RsaPublicKey& key, const std::vector<int>& pcrs,
                             const std::vector<Digest>& values) {
  Digest d = policy_authorize(Digest{}, rsa_pub_key_name(key));
  if (pcrs.empty()) return d;
  return policy_pcr(d, pcrs, pcr_values_digest(values));
}

}  // namespace cryptnode::tpm
