// Talos' Seal (internal/pkg/secureboot/tpm2/seal.go) over ESYS.
#include "cryptnode/engine/tpm/seal.h"

#include <tss2/tss2_mu.h>

#include <algorithm>
#include <cstring>

#include "cryptnode/engine/tpm/policy.h"
#include "esys_util.h"
#include "seal_internal.h"

namespace cryptnode::tpm {

using namespace detail;

namespace detail {

RsaPublicKey read_pcr_signing_pub_key(const UkiExtraFiles& uki) {
  if (!uki.pcr_public_key_pem)
    throw Error(Code::kUnavailable, std::string("failed to read pcr signing public key: open ") +
                                        kPCRPublicKeyPath + ": no such file or directory");
  return parse_pcr_signing_pub_key(*uki.pcr_public_key_pem);
}

Bytes marshal_name(const Bytes& name) {
  Bytes out(2 + name.size());
  out[0] = static_cast<uint8_t>(name.size() >> 8);
  out[1] = static_cast<uint8_t>(name.size() & 0xff);
  std::copy(name.begin(), name.end(), out.begin() + 2);
  return out;
}

}  // namespace detail

namespace {

// CalculateSealingPolicyDigest (policy.go) with its error wrapping.
Digest calculate_sealing_policy_digest(Tpm& tpm, const std::vector<int>& pcrs,
                                       const UkiExtraFiles& uki) {
  RsaPublicKey pub;
  try {
    pub = read_pcr_signing_pub_key(uki);
  } catch (const Error& e) {
    throw e.wrap("failed to calculate policy authorize");
  }
  std::vector<Digest> values;
  if (!pcrs.empty()) {
    try {
      create_selector(pcrs);
    } catch (const Error& e) {
      throw e.wrap("failed to create PCR selection for PCRs " + go_int_list(pcrs));
    }
    for (int p : pcrs) {
      try {
        values.push_back(tpm.pcr_read(p));
      } catch (const Error& e) {
        throw e.wrap("failed to read PCR " + std::to_string(p));
      }
    }
  }
  return sealing_policy_digest(pub, pcrs, values);
}

template <typename T, typename F>
Bytes marshal(const T& v, F fn) {
  uint8_t buf[sizeof(T) + 2];
  size_t off = 0;
  check(fn(&v, buf, sizeof(buf), &off), "failed to marshal");
  return Bytes(buf, buf + off);
}

}  // namespace

SealedResponse seal(Tpm& tpm, const Secret& key, const std::vector<int>& pcrs,
                    const UkiExtraFiles& uki) {
  // fail early if PCR banks are not present or filled with all zeroes or 0xff
  tpm.validate_pcr_banks(pcrs);

  Digest policy;
  try {
    policy = calculate_sealing_policy_digest(tpm, pcrs, uki);
  } catch (const Error& e) {
    throw e.wrap("failed to calculate sealing policy digest");
  }

  ESYS_CONTEXT* e = tpm.esys();
  Srk srk = create_srk(e);

  // tpm2.HMAC(SHA256, Salted(srk), AESEncryption(128, EncryptInOut)).
  Flushed session(e);
  TPMT_SYM_DEF sym{};
  sym.algorithm = TPM2_ALG_AES;
  sym.keyBits.aes = 128;
  sym.mode.aes = TPM2_ALG_CFB;
  check(Esys_StartAuthSession(e, srk.handle->get(), ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                              ESYS_TR_NONE, nullptr, TPM2_SE_HMAC, &sym, TPM2_ALG_SHA256,
                              session.out()));
  check(Esys_TRSess_SetAttributes(
      e, session.get(), TPMA_SESSION_CONTINUESESSION | TPMA_SESSION_DECRYPT | TPMA_SESSION_ENCRYPT,
      0xff));

  TPM2B_SENSITIVE_CREATE in_sensitive{};
  if (key.size() > sizeof(in_sensitive.sensitive.data.buffer))
    throw Error(Code::kInvalidArgument, "key too large to seal");
  in_sensitive.sensitive.data.size = static_cast<UINT16>(key.size());
  std::memcpy(in_sensitive.sensitive.data.buffer, key.data(), key.size());

  TPM2B_PUBLIC in_public{};
  in_public.publicArea.type = TPM2_ALG_KEYEDHASH;
  in_public.publicArea.nameAlg = TPM2_ALG_SHA256;
  // no userWithAuth: only the policy releases it; noDA, see systemd/systemd#30728
  in_public.publicArea.objectAttributes =
      TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_NODA;
  in_public.publicArea.parameters.keyedHashDetail.scheme.scheme = TPM2_ALG_NULL;
  in_public.publicArea.authPolicy.size = 32;
  std::memcpy(in_public.publicArea.authPolicy.buffer, policy.data(), 32);

  TPM2B_DATA outside{};
  TPML_PCR_SELECTION creation_pcr{};
  TPM2B_PRIVATE* out_private = nullptr;
  TPM2B_PUBLIC* out_public = nullptr;
  TSS2_RC rc = Esys_Create(e, srk.handle->get(), session.get(), ESYS_TR_NONE, ESYS_TR_NONE,
                           &in_sensitive, &in_public, &outside, &creation_pcr, &out_private,
                           &out_public, nullptr, nullptr, nullptr);
  wipe(&in_sensitive, sizeof(in_sensitive));
  EsysPtr<TPM2B_PRIVATE> priv(out_private);
  EsysPtr<TPM2B_PUBLIC> pub(out_public);
  check(rc);

  SealedResponse r;
  r.sealed_blob_private = marshal(*out_private, Tss2_MU_TPM2B_PRIVATE_Marshal);
  r.sealed_blob_public = marshal(*out_public, Tss2_MU_TPM2B_PUBLIC_Marshal);
  r.key_name = marshal_name(srk.name);
  r.policy_digest = Bytes(policy.begin(), policy.end());
  r.pcrs = pcrs;
  r.pub_key_pcrs = {kUKIPCR};
  r.encryption_version = kEncryptionSchemaVersionErrata;
  r.alg = "sha256";
  return r;
}

}  // namespace cryptnode::tpm
