// TPM 2.0 policy digests computed in software — go-tpm's PolicyCalculator as Talos uses it
// (internal/pkg/secureboot/tpm2/policy.go, pcr.go, keys.go) — and the PCR-signing public key of
// the UKI (/.extra/tpm2-pcr-public-key.pem). Sealing uses these (Talos computes the sealing policy
// without a trial session); tests compare them with the digests the TPM computes.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "cryptnode/engine/tpm/tpm.h"

namespace cryptnode::tpm {

// TPM_ALG_ID of the PCR banks.
inline constexpr uint16_t kAlgSHA256 = 0x000b;
inline constexpr uint16_t kAlgSHA384 = 0x000c;
inline constexpr uint16_t kAlgSHA512 = 0x000d;

// CreateSelector (pcr.go): the 3-byte PCR bitmask. A PCR >= 24:
// Error(kInvalidArgument, "PCR index %d is out of range (exceeds maximum value 23)").
std::array<uint8_t, 3> create_selector(const std::vector<int>& pcrs);

// TPM2_PolicyPCR's update: SHA256(prev ‖ TPM_CC_PolicyPCR ‖ TPML_PCR_SELECTION(one selection of
// `bank`, `pcrs`) ‖ pcr_digest), pcr_digest being SHA256 of the selected PCR values.
Digest policy_pcr(const Digest& prev, const std::vector<int>& pcrs, const Digest& pcr_digest,
                  uint16_t bank = kAlgSHA256);
// TPM2_PolicyAuthorize's update: SHA256(SHA256(prev ‖ TPM_CC_PolicyAuthorize ‖ key_sign_name) ‖
// policy_ref).
Digest policy_authorize(const Digest& prev, const Bytes& key_sign_name,
                        const Bytes& policy_ref = {});
// CalculatePolicy (policy.go): PolicyPCR from a zero digest over one PCR value of any bank, the
// digest being SHA256(pcr_value) — the `pol` of a signature JSON entry.
Digest calculate_policy(const Bytes& pcr_value, const std::vector<int>& pcrs, uint16_t bank);
// SHA256(v1 ‖ v2 ‖ ...), in the given order (CalculateSealingPolicyDigest).
Digest pcr_values_digest(const std::vector<Digest>& values);

// An RSA public key as Talos holds it after ParsePCRSigningPubKey.
struct RsaPublicKey {
  Bytes modulus;  // big-endian, no leading zero
  uint32_t exponent = 0;
  int bits = 0;
};
// ParsePCRSigningPubKey (keys.go): a PEM "PUBLIC KEY" (PKIX) holding an RSA key. Errors
// (kInvalidArgument): "failed to decode pcr signing public key" (no PEM block), "failed to cast pcr
// signing public key to rsa", or OpenSSL's text for a bad PKIX structure.
RsaPublicKey parse_pcr_signing_pub_key(const std::string& pem);
// The TPMT_PUBLIC of RSAPubKeyTemplate (keys.go): RSA, nameAlg SHA-256,
// decrypt|sign|userWithAuth, symmetric and scheme NULL, keyBits, exponent, unique = modulus.
Bytes rsa_pub_key_template(const RsaPublicKey& key);  // marshalled TPMT_PUBLIC
// tpm2.ObjectName of that template: 000b ‖ SHA256(TPMT_PUBLIC).
Bytes rsa_pub_key_name(const RsaPublicKey& key);
// SHA256 of the PKCS#1 RSAPublicKey DER (x509.MarshalPKCS1PublicKey): the `pkfp` of a signature
// JSON entry.
Digest rsa_pub_key_fingerprint(const RsaPublicKey& key);

// CalculateSealingPolicyDigest (policy.go): PolicyAuthorize(name of the PCR-signing key), then,
// when `pcrs` is non-empty, PolicyPCR(pcrs, SHA256(values in `pcrs` order)). `values[i]` is PCR
// `pcrs[i]`.
Digest sealing_policy_digest(const RsaPublicKey& key, const std::vector<int>& pcrs,
                             const std::vector<Digest>& values);

}  // namespace cryptnode::tpm
