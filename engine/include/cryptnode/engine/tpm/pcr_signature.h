// The UKI's signed PCR 11 policy, /.extra/tpm2-pcr-signature.json (systemd-stub's format; Talos'
// PCRData in internal/pkg/secureboot/tpm2/signature.go), and the signing side of it (Talos'
// internal/pkg/measure/internal/pcr/sign.go and bank_data.go), which the simulated release build
// and the tests use.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "cryptnode/engine/tpm/policy.h"

namespace cryptnode::tpm {

// BankData: one signed policy.
struct PcrBankData {
  std::vector<int> pcrs;  // [11]
  std::string pkfp;       // hex SHA256 of the PKCS#1 public key
  std::string pol;        // hex policy digest
  std::string sig;        // base64 RSASSA-PKCS1-v1_5 signature over HASH(pol bytes)
};

// PCRData. Empty banks are omitted when serialised (Go's omitempty).
struct PcrSignature {
  std::vector<PcrBankData> sha1, sha256, sha384, sha512;

  // json.Unmarshal semantics (unknown keys ignored, absent banks empty), the error wrapped as
  // ParsePCRSignature does: "failed to unmarshal pcr signature: <reason>" (kInvalidArgument).
  static PcrSignature parse(const std::string& json);
  // json.Marshal of PCRData: compact, fields in struct order (sha1, sha256, sha384, sha512; in
  // each entry pcrs, pkfp, pol, sig).
  std::string to_json() const;
};

// Signs `policy` (the 32 raw bytes of a PolicyPCR digest) with the RSA private key in PEM form:
// RSASSA-PKCS1-v1_5 over HASH(policy), HASH being the bank's algorithm (Sign in sign.go).
// Returns base64.
std::string sign_policy(const Digest& policy, uint16_t bank, const std::string& private_key_pem);

// CalculateBankData's signed entry for one PCR value of `bank` (SHA256/384/512): pol =
// calculate_policy(value, [11], bank), sig = sign_policy(pol, bank), pkfp of the key.
PcrBankData bank_data(const Bytes& pcr_value, uint16_t bank, const std::string& private_key_pem);

// The public key PEM (PKIX "PUBLIC KEY") of an RSA private key PEM.
std::string public_key_pem(const std::string& private_key_pem);
// A fresh RSA private key (PKCS#8 PEM), `bits` long (Talos' PCR signing keys are RSA 2048/4096).
std::string generate_rsa_private_key(int bits);

}  // namespace cryptnode::tpm
