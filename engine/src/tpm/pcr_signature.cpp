// The signature JSON of a UKI (internal/pkg/secureboot/tpm2/signature.go) and its signing side
// (internal/pkg/measure/internal/pcr/sign.go, bank_data.go).
#include "cryptnode/engine/tpm/pcr_signature.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <algorithm>
#include <memory>
#include <nlohmann/json.hpp>

#include "cryptnode/engine/error.h"
#include "cryptnode/engine/keys/kms_handler.h"

namespace cryptnode::tpm {

namespace {

using json = nlohmann::json;

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

std::string json_type(const json& j) {
  if (j.is_string()) return "string";
  if (j.is_number()) return "number";
  if (j.is_boolean()) return "bool";
  if (j.is_array()) return "array";
  return "object";
}

[[noreturn]] void type_error(const json& j, const std::string& field, const std::string& type) {
  throw Error(Code::kInvalidArgument, "failed to unmarshal pcr signature: json: cannot unmarshal " +
                                          json_type(j) + " into Go struct field " + field +
                                          " of type " + type);
}

// encoding/json into BankData: keys matched case-insensitively, unknown ones ignored, null leaves
// the zero value.
PcrBankData parse_bank(const json& j) {
  PcrBankData b;
  if (j.is_null()) return b;
  if (!j.is_object()) type_error(j, "PCRData.sha256", "tpm2.BankData");
  for (const auto& [k, v] : j.items()) {
    const std::string key = lower(k);
    if (v.is_null()) continue;
    if (key == "pcrs") {
      if (!v.is_array()) type_error(v, "BankData.pcrs", "[]int");
      for (const auto& p : v) {
        if (!p.is_number_integer()) type_error(p, "BankData.pcrs", "int");
        b.pcrs.push_back(p.get<int>());
      }
    } else if (key == "pkfp" || key == "pol" || key == "sig") {
      if (!v.is_string()) type_error(v, "BankData." + key, "string");
      (key == "pkfp" ? b.pkfp : key == "pol" ? b.pol : b.sig) = v.get<std::string>();
    }
  }
  return b;
}

std::string go_string(const std::string& s) {
  return json(s).dump();
}

std::string bank_json(const PcrBankData& b) {
  std::string s = "{\"pcrs\":";
  if (b.pcrs.empty()) {
    s += "null";  // a nil []int
  } else {
    s += "[";
    for (size_t i = 0; i < b.pcrs.size(); ++i) s += (i ? "," : "") + std::to_string(b.pcrs[i]);
    s += "]";
  }
  s += ",\"pkfp\":" + go_string(b.pkfp) + ",\"pol\":" + go_string(b.pol) +
       ",\"sig\":" + go_string(b.sig) + "}";
  return s;
}

const EVP_MD* bank_md(uint16_t bank) {
  switch (bank) {
    case kAlgSHA256:
      return EVP_sha256();
    case kAlgSHA384:
      return EVP_sha384();
    case kAlgSHA512:
      return EVP_sha512();
  }
  throw Error(Code::kInvalidArgument, "unsupported PCR bank algorithm " + std::to_string(bank));
}

std::unique_ptr<EVP_PKEY, PkeyFree> read_private_key(const std::string& pem) {
  std::unique_ptr<BIO, BioFree> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  std::unique_ptr<EVP_PKEY, PkeyFree> key(
      PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!key || EVP_PKEY_get_base_id(key.get()) != EVP_PKEY_RSA)
    throw Error(Code::kInvalidArgument, "invalid PCR signing private key (RSA PEM expected)");
  return key;
}

std::string bio_string(BIO* b) {
  char* p = nullptr;
  long n = BIO_get_mem_data(b, &p);
  return std::string(p, static_cast<size_t>(n));
}

}  // namespace

PcrSignature PcrSignature::parse(const std::string& text) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    throw Error(Code::kInvalidArgument,
                std::string("failed to unmarshal pcr signature: ") + "invalid JSON: " + e.what());
  }
  PcrSignature out;
  if (j.is_null()) return out;
  if (!j.is_object()) type_error(j, "", "tpm2.PCRData");
  for (const auto& [k, v] : j.items()) {
    const std::string key = lower(k);
    std::vector<PcrBankData>* bank = key == "sha1"     ? &out.sha1
                                     : key == "sha256" ? &out.sha256
                                     : key == "sha384" ? &out.sha384
                                     : key == "sha512" ? &out.sha512
                                                       : nullptr;
    if (!bank || v.is_null()) continue;
    if (!v.is_array()) type_error(v, "PCRData." + key, "[]tpm2.BankData");
    bank->clear();
    for (const auto& e : v) bank->push_back(parse_bank(e));
  }
  return out;
}

std::string PcrSignature::to_json() const {
  std::string s = "{";
  bool first = true;
  auto add = [&](const char* name, const std::vector<PcrBankData>& banks) {
    if (banks.empty()) return;  // omitempty
    s += (first ? "\"" : ",\"") + std::string(name) + "\":[";
    first = false;
    for (size_t i = 0; i < banks.size(); ++i) s += (i ? "," : "") + bank_json(banks[i]);
    s += "]";
  };
  add("sha1", sha1);
  add("sha256", sha256);
  add("sha384", sha384);
  add("sha512", sha512);
  return s + "}";
}

std::string sign_policy(const Digest& policy, uint16_t bank, const std::string& private_key_pem) {
  auto key = read_private_key(private_key_pem);
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  EVP_PKEY_CTX* pctx = nullptr;
  size_t len = 0;
  if (EVP_DigestSignInit(ctx.get(), &pctx, bank_md(bank), nullptr, key.get()) != 1 ||
      EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &len, policy.data(), policy.size()) != 1)
    throw Error(Code::kInternal, "signing failed");
  Bytes sig(len);
  if (EVP_DigestSign(ctx.get(), sig.data(), &len, policy.data(), policy.size()) != 1)
    throw Error(Code::kInternal, "signing failed");
  return keys::base64_encode(sig.data(), len);
}

PcrBankData bank_data(const Bytes& pcr_value, uint16_t bank, const std::string& private_key_pem) {
  const RsaPublicKey pub = parse_pcr_signing_pub_key(public_key_pem(private_key_pem));
  const Digest pol = calculate_policy(pcr_value, {kUKIPCR}, bank);
  const Digest fp = rsa_pub_key_fingerprint(pub);
  return {{kUKIPCR}, to_hex(fp), to_hex(pol), sign_policy(pol, bank, private_key_pem)};
}

std::string public_key_pem(const std::string& private_key_pem) {
  auto key = read_private_key(private_key_pem);
  std::unique_ptr<BIO, BioFree> out(BIO_new(BIO_s_mem()));
  if (PEM_write_bio_PUBKEY(out.get(), key.get()) != 1)
    throw Error(Code::kInternal, "cannot write the public key");
  return bio_string(out.get());
}

std::string generate_rsa_private_key(int bits) {
  std::unique_ptr<EVP_PKEY, PkeyFree> key(EVP_RSA_gen(static_cast<unsigned>(bits)));
  if (!key) throw Error(Code::kInternal, "RSA key generation failed");
  std::unique_ptr<BIO, BioFree> out(BIO_new(BIO_s_mem()));
  if (PEM_write_bio_PrivateKey(out.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1)
    throw Error(Code::kInternal, "cannot write the private key");
  return bio_string(out.get());
}

}  // namespace cryptnode::tpm
