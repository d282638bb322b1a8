#include "esys_util.h"

#include <cstring>

#include "cryptnode/engine/tpm/policy.h"

namespace cryptnode::tpm::detail {

std::string rc_text(TSS2_RC rc) {
  const char* t = Tss2_RC_Decode(rc);
  return t ? t : "TSS2 error " + std::to_string(rc);
}

Error rc_error(TSS2_RC rc, std::string_view prefix) {
  std::string msg(prefix);
  if (!msg.empty()) msg += ": ";
  msg += rc_text(rc);
  // After a transport failure ESYS refuses every further call with BAD_SEQUENCE.
  const bool tcti =
      (rc & TSS2_RC_LAYER_MASK) == TSS2_TCTI_RC_LAYER || rc == TSS2_ESYS_RC_BAD_SEQUENCE;
  return Error(tcti ? Code::kUnavailable : Code::kFailedPrecondition, msg);
}

TPM2B_PUBLIC ecc_srk_template() {
  // go-tpm tpm2.ECCSRKTemplate (tpm2/templates.go, v0.9.7).
  TPM2B_PUBLIC p{};
  p.publicArea.type = TPM2_ALG_ECC;
  p.publicArea.nameAlg = TPM2_ALG_SHA256;
  p.publicArea.objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
                                  TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH |
                                  TPMA_OBJECT_NODA | TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT;
  TPMS_ECC_PARMS& ecc = p.publicArea.parameters.eccDetail;
  ecc.symmetric.algorithm = TPM2_ALG_AES;
  ecc.symmetric.keyBits.aes = 128;
  ecc.symmetric.mode.aes = TPM2_ALG_CFB;
  ecc.scheme.scheme = TPM2_ALG_NULL;
  ecc.curveID = TPM2_ECC_NIST_P256;
  ecc.kdf.scheme = TPM2_ALG_NULL;
  p.publicArea.unique.ecc.x.size = 32;  // 32 zero bytes each
  p.publicArea.unique.ecc.y.size = 32;
  return p;
}

Srk create_srk(ESYS_CONTEXT* e) {
  Srk srk;
  srk.handle = std::make_unique<Flushed>(e);
  TPM2B_PUBLIC in_public = ecc_srk_template();
  TPM2B_SENSITIVE_CREATE in_sensitive{};
  TPM2B_DATA outside{};
  TPML_PCR_SELECTION creation_pcr{};
  check(Esys_CreatePrimary(e, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
                           &in_sensitive, &in_public, &outside, &creation_pcr, srk.handle->out(),
                           nullptr, nullptr, nullptr, nullptr));
  TPM2B_NAME* name = nullptr;
  check(Esys_TR_GetName(e, srk.handle->get(), &name));
  EsysPtr<TPM2B_NAME> owned(name);
  srk.name = to_bytes(name->name, name->size);
  return srk;
}

TPML_PCR_SELECTION pcr_selection(const std::vector<int>& pcrs, TPMI_ALG_HASH bank) {
  auto mask = create_selector(pcrs);
  TPML_PCR_SELECTION sel{};
  sel.count = 1;
  sel.pcrSelections[0].hash = bank;
  sel.pcrSelections[0].sizeofSelect = 3;
  std::memcpy(sel.pcrSelections[0].pcrSelect, mask.data(), 3);
  return sel;
}

Bytes to_bytes(const uint8_t* p, size_t n) {
  return Bytes(p, p + n);
}

}  // namespace cryptnode::tpm::detail
