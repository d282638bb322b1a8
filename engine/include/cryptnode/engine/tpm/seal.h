// Talos' TPM sealing and unsealing (internal/pkg/secureboot/tpm2/seal.go, unseal.go), step for
// step and with its error texts, over an ESYS connection. docs/talos/tpm.md describes both.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "cryptnode/engine/secret.h"
#include "cryptnode/engine/tpm/tpm.h"

namespace cryptnode::tpm {

// EncryptionSchemaVersionErrata (internal/pkg/secureboot/tpm2/tpm2.go): tokens written by
// Talos >= 1.12 carry it; older ones were sealed to PCR 7 while recording only [11].
inline constexpr const char* kEncryptionSchemaVersionErrata = "1";

// Paths systemd-stub gives the running UKI's files (constants.PCRPublicKey, PCRSignatureJSON);
// they appear in Talos' "failed to read ..." texts.
inline constexpr const char* kPCRPublicKeyPath = "/.extra/tpm2-pcr-public-key.pem";
inline constexpr const char* kPCRSignatureJSONPath = "/.extra/tpm2-pcr-signature.json";

// The running UKI's /.extra files. nullopt: the file does not exist (a boot without a UKI), which
// gives Talos' "open <path>: no such file or directory" texts.
struct UkiExtraFiles {
  std::optional<std::string> pcr_public_key_pem;
  std::optional<std::string> pcr_signature_json;
};

// SealedResponse (tpm2.go).
struct SealedResponse {
  Bytes sealed_blob_private;  // marshalled TPM2B_PRIVATE (size prefix included)
  Bytes sealed_blob_public;   // marshalled TPM2B_PUBLIC
  Bytes key_name;             // marshalled TPM2B_NAME of the SRK
  Bytes policy_digest;
  std::vector<int> pcrs;
  std::vector<int> pub_key_pcrs;
  std::string encryption_version;
  std::string alg;
};

// Seal: validatePCRBanks(pcrs); the sealing policy computed in software (PolicyAuthorize(key
// name of the PCR-signing key) then PolicyPCR(pcrs) over the current values, in `pcrs` order);
// the SRK (ECCSRKTemplate) re-created; a KeyedHash object (fixedTPM|fixedParent|noDA, authPolicy =
// the digest) holding `key`, created over a salted HMAC session with AES-128-CFB parameter
// encryption; the SRK flushed. Errors carry Talos' texts, e.g. "PCR bank 11 is populated with all
// zeroes", "failed to calculate sealing policy digest: failed to calculate policy authorize:
// failed to read pcr signing public key: open /.extra/tpm2-pcr-public-key.pem: no such file or
// directory".
SealedResponse seal(Tpm& tpm, const Secret& key, const std::vector<int>& pcrs,
                    const UkiExtraFiles& uki);

// Unseal, in Talos' order: validatePCRBanks(sealed.pcrs); blobs unmarshalled; SRK re-created and
// its name compared ("srk name does not match, expected %x, got %x"); object loaded; salted policy
// session; the PCR-signing key loaded (owner hierarchy); PolicyPCR(11) and its digest looked up in
// the signature JSON ("no signatures matching PCR SHA256 digest found in signature JSON",
// "certificate fingerprint does not match"); VerifySignature; PolicyAuthorize; the literal-PCR
// policy (legacy token: PCR 7; version "1" with pcrs: those) checked against the sealed digest
// ("failed to validate PCR policy digest for PCRs [7]: sealing policy digest does not match,
// expected %x, got %x"); Unseal over a salted, bound session with AES-128 response encryption.
Secret unseal(Tpm& tpm, const SealedResponse& sealed, const UkiExtraFiles& uki);

}  // namespace cryptnode::tpm
