// Talos' Unseal (internal/pkg/secureboot/tpm2/unseal.go) over ESYS, step for step.
#include <tss2/tss2_mu.h>

#include <cstring>

#include "cryptnode/engine/tpm/pcr_signature.h"
#include "cryptnode/engine/tpm/policy.h"
#include "cryptnode/engine/tpm/seal.h"
#include "esys_util.h"
#include "go_codec.h"
#include "seal_internal.h"

namespace cryptnode::tpm {

using namespace detail;

namespace {

template <typename T, typename F>
T unmarshal(const Bytes& b, F fn, const char* what) {
  T v{};
  size_t off = 0;
  TSS2_RC rc = fn(b.data(), b.size(), &off, &v);
  if (rc != TSS2_RC_SUCCESS)
    throw Error(Code::kCorrupt, std::string("failed to unmarshal ") + what + ": " + rc_text(rc));
  return v;
}

// PolicyPCRDigest (pcr.go): PolicyPCR on the session with the current values, then its digest.
Bytes policy_pcr_digest(ESYS_CONTEXT* e, ESYS_TR session, const std::vector<int>& pcrs) {
  TPML_PCR_SELECTION sel = pcr_selection(pcrs);
  TPM2B_DIGEST empty{};
  check(Esys_PolicyPCR(e, session, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &empty, &sel),
        "failed to execute policyPCR");
  TPM2B_DIGEST* d = nullptr;
  TSS2_RC rc = Esys_PolicyGetDigest(e, session, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &d);
  EsysPtr<TPM2B_DIGEST> owned(d);
  check(rc, "failed to get policy digest");
  return to_bytes(d->buffer, d->size);
}

// validatePCRPolicyDigest (unseal.go).
void validate_pcr_policy_digest(ESYS_CONTEXT* e, ESYS_TR session, const std::vector<int>& pcrs,
                                const Bytes& digest) {
  try {
    create_selector(pcrs);
  } catch (const Error& err) {
    throw err.wrap("failed to create PCR selector for PCRs " + go_int_list(pcrs));
  }
  Bytes got;
  try {
    got = policy_pcr_digest(e, session, pcrs);
  } catch (const Error& err) {
    throw err.wrap("failed to calculate policy PCR digest");
  }
  if (got != digest)
    throw Error(Code::kFailedPrecondition, "sealing policy digest does not match, expected " +
                                               to_hex(digest) + ", got " + to_hex(got));
}

}  // namespace

Secret unseal(Tpm& tpm, const SealedResponse& sealed, const UkiExtraFiles& uki) {
  // fail early if PCR banks are not present or filled with all zeroes or 0xff
  tpm.validate_pcr_banks(sealed.pcrs);

  const TPM2B_PUBLIC tpm_pub = unmarshal<TPM2B_PUBLIC>(
      sealed.sealed_blob_public, Tss2_MU_TPM2B_PUBLIC_Unmarshal, "sealed_blob_public");
  const TPM2B_PRIVATE tpm_priv = unmarshal<TPM2B_PRIVATE>(
      sealed.sealed_blob_private, Tss2_MU_TPM2B_PRIVATE_Unmarshal, "sealed_blob_private");
  const TPM2B_NAME srk_name =
      unmarshal<TPM2B_NAME>(sealed.key_name, Tss2_MU_TPM2B_NAME_Unmarshal, "key_name");

  // we need to create a primary since we don't persist the SRK
  ESYS_CONTEXT* e = tpm.esys();
  Srk srk = create_srk(e);
  const Bytes expected = to_bytes(srk_name.name, srk_name.size);
  if (srk.name != expected)
    // a different TPM, a cleared TPM, or the disk moved to another machine
    throw Error(Code::kFailedPrecondition, "srk name does not match, expected " + to_hex(expected) +
                                               ", got " + to_hex(srk.name));

  Flushed object(e);
  check(Esys_Load(e, srk.handle->get(), ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &tpm_priv,
                  &tpm_pub, object.out()));

  // tpm2.PolicySession(SHA256, Salted(srk)): no parameter encryption.
  Flushed policy_session(e);
  TPMT_SYM_DEF no_sym{};
  no_sym.algorithm = TPM2_ALG_NULL;
  check(Esys_StartAuthSession(e, srk.handle->get(), ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                              ESYS_TR_NONE, nullptr, TPM2_SE_POLICY, &no_sym, TPM2_ALG_SHA256,
                              policy_session.out()),
        "failed to create policy session");
  check(Esys_TRSess_SetAttributes(e, policy_session.get(), TPMA_SESSION_CONTINUESESSION, 0xff),
        "failed to create policy session");

  const RsaPublicKey pub_key = read_pcr_signing_pub_key(uki);

  Flushed external(e);
  {
    TPM2B_PUBLIC in_public{};
    const Bytes tmpl = rsa_pub_key_template(pub_key);
    size_t off = 0;
    check(Tss2_MU_TPMT_PUBLIC_Unmarshal(tmpl.data(), tmpl.size(), &off, &in_public.publicArea));
    check(Esys_LoadExternal(e, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, nullptr, &in_public,
                            ESYS_TR_RH_OWNER, external.out()),
          "failed to load external key");
  }

  Bytes policy_digest;
  try {
    policy_digest = policy_pcr_digest(e, policy_session.get(), {kUKIPCR});
  } catch (const Error& err) {
    throw err.wrap("failed to retrieve policy digest");
  }

  if (!uki.pcr_signature_json)
    throw Error(Code::kUnavailable, std::string("failed to read pcr signature: open ") +
                                        kPCRSignatureJSONPath + ": no such file or directory");
  const PcrSignature sig_json = PcrSignature::parse(*uki.pcr_signature_json);

  const std::string fingerprint = to_hex(rsa_pub_key_fingerprint(pub_key));
  std::string signature;
  for (const PcrBankData& bank : sig_json.sha256) {
    if (go_hex_decode(bank.pol) == policy_digest) {
      signature = bank.sig;
      if (fingerprint != bank.pkfp)
        throw Error(Code::kFailedPrecondition, "certificate fingerprint does not match");
      break;
    }
  }
  if (signature.empty())
    throw Error(Code::kFailedPrecondition,
                "no signatures matching PCR SHA256 digest found in signature JSON");
  const Bytes signature_decoded = go_base64_decode(signature);

  // VerifySignature only verifies the RSA part of RSA+SHA256: hash the digest ourselves.
  TPMT_TK_VERIFIED* ticket = nullptr;
  {
    const Digest h =
        sha256({reinterpret_cast<const char*>(policy_digest.data()), policy_digest.size()});
    TPM2B_DIGEST digest{};
    digest.size = 32;
    std::memcpy(digest.buffer, h.data(), 32);
    TPMT_SIGNATURE s{};
    s.sigAlg = TPM2_ALG_RSASSA;
    s.signature.rsassa.hash = TPM2_ALG_SHA256;
    if (signature_decoded.size() > sizeof(s.signature.rsassa.sig.buffer))
      throw Error(Code::kFailedPrecondition, "failed to verify signature: signature too large");
    s.signature.rsassa.sig.size = static_cast<UINT16>(signature_decoded.size());
    std::memcpy(s.signature.rsassa.sig.buffer, signature_decoded.data(), signature_decoded.size());
    check(Esys_VerifySignature(e, external.get(), ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &digest,
                               &s, &ticket),
          "failed to verify signature");
  }
  EsysPtr<TPMT_TK_VERIFIED> owned_ticket(ticket);

  {
    TPM2B_NAME* key_name = nullptr;
    check(Esys_TR_GetName(e, external.get(), &key_name), "failed to execute policy authorize");
    EsysPtr<TPM2B_NAME> owned(key_name);
    TPM2B_DIGEST approved{};
    approved.size = static_cast<UINT16>(policy_digest.size());
    std::memcpy(approved.buffer, policy_digest.data(), policy_digest.size());
    TPM2B_NONCE policy_ref{};
    check(Esys_PolicyAuthorize(e, policy_session.get(), ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                               &approved, &policy_ref, key_name, ticket),
          "failed to execute policy authorize");
  }

  // Tokens from before Talos 1.12 recorded PCRs [11] but were locked to PCR 7 as well; they have
  // neither encryption_version nor pubkey_pcrs.
  if (sealed.encryption_version.empty() && sealed.pub_key_pcrs.empty()) {
    if (sealed.pcrs.size() == 1 && sealed.pcrs[0] == kUKIPCR) {
      try {
        validate_pcr_policy_digest(e, policy_session.get(), {kSecureBootStatePCR},
                                   sealed.policy_digest);
      } catch (const Error& err) {
        throw err.wrap("failed to validate PCR policy digest for PCRs " +
                       go_int_list({kSecureBootStatePCR}));
      }
    }
  }
  // Talos 1.12+ records PCR 11 in pubkey_pcrs and the literal PCRs in pcrs.
  if (!sealed.encryption_version.empty() && !sealed.pcrs.empty()) {
    try {
      validate_pcr_policy_digest(e, policy_session.get(), sealed.pcrs, sealed.policy_digest);
    } catch (const Error& err) {
      throw err.wrap("failed to validate PCR policy digest for PCRs " + go_int_list(sealed.pcrs));
    }
  }

  // tpm2.HMAC(SHA256, Salted(srk), AESEncryption(128, EncryptOut), Bound(object)).
  Flushed hmac_session(e);
  TPMT_SYM_DEF sym{};
  sym.algorithm = TPM2_ALG_AES;
  sym.keyBits.aes = 128;
  sym.mode.aes = TPM2_ALG_CFB;
  check(Esys_StartAuthSession(e, srk.handle->get(), object.get(), ESYS_TR_NONE, ESYS_TR_NONE,
                              ESYS_TR_NONE, nullptr, TPM2_SE_HMAC, &sym, TPM2_ALG_SHA256,
                              hmac_session.out()),
        "failed to unseal op");
  check(Esys_TRSess_SetAttributes(e, hmac_session.get(),
                                  TPMA_SESSION_CONTINUESESSION | TPMA_SESSION_ENCRYPT, 0xff),
        "failed to unseal op");

  TPM2B_SENSITIVE_DATA* out = nullptr;
  TSS2_RC rc =
      Esys_Unseal(e, object.get(), policy_session.get(), hmac_session.get(), ESYS_TR_NONE, &out);
  if (rc != TSS2_RC_SUCCESS) {
    Esys_Free(out);
    throw rc_error(rc, "failed to unseal op");
  }
  Secret key(out->buffer, out->size);
  wipe(out, sizeof(*out));
  Esys_Free(out);
  return key;
}

}  // namespace cryptnode::tpm
