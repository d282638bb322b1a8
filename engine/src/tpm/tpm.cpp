// The ESYS connection (internal/pkg/tpm/tpm_linux.go's Open) and the PCR helpers of
// internal/pkg/secureboot/tpm2/pcr.go.
#include "cryptnode/engine/tpm/tpm.h"

#include <openssl/evp.h>
#include <tss2/tss2_tctildr.h>

#include <cstdlib>
#include <cstring>
#include <mutex>

#include "esys_util.h"
#include "tcti_shared_socket.h"

namespace cryptnode::tpm {

using detail::check;
using detail::EsysPtr;

namespace {

// tpm2-tss logs every failed command to stderr; the errors reach the caller as exceptions
// instead. An explicit TSS2_LOG in the environment wins (setenv does not overwrite).
void quiet_tss2_logging() {
  static std::once_flag once;
  std::call_once(once, [] { ::setenv("TSS2_LOG", "all+NONE", 0); });
}

bool is_tcti_error(TSS2_RC rc) {
  return (rc & TSS2_RC_LAYER_MASK) == TSS2_TCTI_RC_LAYER;
}

}  // namespace

std::unique_ptr<Tpm> Tpm::connect(const std::string& tcti, Env& env, const ConnectOptions& o) {
  quiet_tss2_logging();
  detail::prepare_esys_openssl_context();
  std::string last;
  const int attempts = o.attempts < 1 ? 1 : o.attempts;
  for (int attempt = 0; attempt < attempts; ++attempt) {
    if (attempt) env.sleep_for_ms(o.retry_delay_ms);
    // swtpm sockets: one connection per process (tcti_shared_socket.h); anything else through
    // tss2-tctildr.
    TSS2_RC rc = TSS2_RC_SUCCESS;
    TSS2_TCTI_CONTEXT* t = detail::shared_socket_tcti(tcti, &rc);
    if (!t && rc == TSS2_RC_SUCCESS) rc = Tss2_TctiLdr_Initialize(tcti.c_str(), &t);
    if (rc != TSS2_RC_SUCCESS) {
      last = detail::rc_text(rc);
      continue;
    }
    std::unique_ptr<Tpm> tpm(new Tpm());
    tpm->tcti_ = tcti;
    tpm->tcti_ctx_ = t;
    rc = Esys_Initialize(&tpm->esys_, t, nullptr);
    if (rc == TSS2_RC_SUCCESS) rc = Esys_Startup(tpm->esys_, TPM2_SU_CLEAR);
    if (rc == TPM2_RC_INITIALIZE) rc = TSS2_RC_SUCCESS;  // already started
    if (rc != TSS2_RC_SUCCESS) {
      last = detail::rc_text(rc);
      if (is_tcti_error(rc)) continue;  // not answering yet
      throw detail::rc_error(rc, tcti);
    }
    if (o.flush_leftovers) tpm->flush_all();
    return tpm;
  }
  throw Error(Code::kUnavailable, tcti + ": " + last);
}

std::unique_ptr<Tpm> Tpm::open_device(Env& env) {
  // linuxtpm.Open("/dev/tpmrm0"), then "/dev/tpm0" only when the first does not exist.
  if (env.exists("/dev/tpmrm0")) return connect("device:/dev/tpmrm0", env);
  if (env.exists("/dev/tpm0")) return connect("device:/dev/tpm0", env);
  throw Error(Code::kUnavailable, kNoTPMDeviceText);
}

Tpm::~Tpm() {
  // ESYS first, then the TCTI it uses.
  if (esys_) Esys_Finalize(&esys_);
  if (tcti_ctx_) {
    auto* t = static_cast<TSS2_TCTI_CONTEXT*>(tcti_ctx_);
    if (detail::is_shared_socket_tcti(t))
      detail::free_shared_socket_tcti(t);
    else
      Tss2_TctiLdr_Finalize(&t);
  }
}

Digest Tpm::pcr_read(int pcr) {
  TPML_PCR_SELECTION sel;
  try {
    sel = detail::pcr_selection({pcr});
  } catch (const Error& e) {
    throw e.wrap("failed to create PCR selection");
  }
  TPML_PCR_SELECTION* out_sel = nullptr;
  TPML_DIGEST* values = nullptr;
  TSS2_RC rc = Esys_PCR_Read(esys_, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &sel, nullptr,
                             &out_sel, &values);
  EsysPtr<TPML_PCR_SELECTION> s(out_sel);
  EsysPtr<TPML_DIGEST> v(values);
  check(rc, "failed to read PCR");
  if (!values || values->count < 1 || values->digests[0].size != 32)
    throw Error(Code::kFailedPrecondition,
                "PCR value for PCR " + std::to_string(pcr) + " is not available");
  Digest d;
  std::memcpy(d.data(), values->digests[0].buffer, 32);
  return d;
}

void Tpm::pcr_extend(int pcr, const Digest& digest) {
  if (pcr < 0 || pcr > 23) throw Error(Code::kInvalidArgument, "PCR " + std::to_string(pcr));
  TPML_DIGEST_VALUES dv{};
  dv.count = 1;
  dv.digests[0].hashAlg = TPM2_ALG_SHA256;
  std::memcpy(dv.digests[0].digest.sha256, digest.data(), 32);
  check(Esys_PCR_Extend(esys_, ESYS_TR_PCR0 + pcr, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
                        &dv));
}

void Tpm::pcr_extend_data(int pcr, std::string_view data) {
  pcr_extend(pcr, sha256(data));
}

namespace {

void validate_not_zero_and_not_filled(const Digest& v, int pcr) {
  bool zero = true, ff = true;
  for (uint8_t b : v) {
    zero = zero && b == 0x00;
    ff = ff && b == 0xFF;
  }
  if (zero)
    throw Error(Code::kFailedPrecondition,
                "PCR bank " + std::to_string(pcr) + " is populated with all zeroes");
  if (ff)
    throw Error(Code::kFailedPrecondition,
                "PCR bank " + std::to_string(pcr) + " is populated with all 0xFF");
}

Digest read_wrapped(Tpm& t, int pcr, const std::string& prefix) {
  try {
    return t.pcr_read(pcr);
  } catch (const Error& e) {
    throw e.wrap(prefix);
  }
}

}  // namespace

void Tpm::validate_pcr_banks(const std::vector<int>& pcrs) {
  validate_not_zero_and_not_filled(read_wrapped(*this, kUKIPCR, "failed to read PCR"), kUKIPCR);
  for (int pcr : pcrs)
    validate_not_zero_and_not_filled(
        read_wrapped(*this, pcr, "failed to read PCR " + std::to_string(pcr)), pcr);

  TPMI_YES_NO more = TPM2_NO;
  TPMS_CAPABILITY_DATA* caps = nullptr;
  TSS2_RC rc = Esys_GetCapability(esys_, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, TPM2_CAP_PCRS, 0,
                                  1, &more, &caps);
  EsysPtr<TPMS_CAPABILITY_DATA> owned(caps);
  check(rc, "failed to get PCR capabilities");
  const TPML_PCR_SELECTION& assigned = caps->data.assignedPCR;
  for (uint32_t i = 0; i < assigned.count; ++i) {
    const TPMS_PCR_SELECTION& s = assigned.pcrSelections[i];
    if (s.hash != TPM2_ALG_SHA256) continue;
    if (s.sizeofSelect != 3)
      throw Error(Code::kFailedPrecondition,
                  "unexpected number of PCR banks: " + std::to_string(s.sizeofSelect));
    if (s.pcrSelect[0] != 0xff || s.pcrSelect[1] != 0xff || s.pcrSelect[2] != 0xff) {
      std::vector<int> v;
      for (int b = 0; b < s.sizeofSelect; ++b) v.push_back(s.pcrSelect[b]);
      throw Error(Code::kFailedPrecondition, "unexpected PCR banks: " + go_int_list(v));
    }
  }
}

Bytes Tpm::srk_name() {
  return detail::create_srk(esys_).name;
}

int Tpm::flush_all() {
  int flushed = 0;
  for (TPM2_HANDLE first : {TPM2_HR_TRANSIENT, TPM2_HR_HMAC_SESSION, TPM2_HR_POLICY_SESSION}) {
    TPMI_YES_NO more = TPM2_NO;
    TPMS_CAPABILITY_DATA* caps = nullptr;
    TSS2_RC rc = Esys_GetCapability(esys_, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                                    TPM2_CAP_HANDLES, first, TPM2_MAX_CAP_HANDLES, &more, &caps);
    EsysPtr<TPMS_CAPABILITY_DATA> owned(caps);
    check(rc, "failed to list loaded handles");
    const TPML_HANDLE& handles = caps->data.handles;
    for (uint32_t i = 0; i < handles.count; ++i) {
      // Loaded sessions are listed under 0x02 whatever their type (HMAC 0x02, policy 0x03).
      const uint32_t type = handles.handle[i] >> TPM2_HR_SHIFT;
      if (type != TPM2_HT_TRANSIENT && type != TPM2_HT_HMAC_SESSION &&
          type != TPM2_HT_POLICY_SESSION)
        continue;
      ESYS_TR tr = ESYS_TR_NONE;
      if (Esys_TR_FromTPMPublic(esys_, handles.handle[i], ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                                &tr) != TSS2_RC_SUCCESS)
        continue;
      if (Esys_FlushContext(esys_, tr) == TSS2_RC_SUCCESS) {
        ++flushed;
      } else {
        Esys_TR_Close(esys_, &tr);
      }
    }
  }
  return flushed;
}

Digest sha256(std::string_view data) {
  Digest d;
  unsigned len = 0;
  EVP_Digest(data.data(), data.size(), d.data(), &len, EVP_sha256(), nullptr);
  return d;
}

Digest pcr_extended_digest(const Digest& value, const Digest& digest) {
  std::string buf(reinterpret_cast<const char*>(value.data()), value.size());
  buf.append(reinterpret_cast<const char*>(digest.data()), digest.size());
  return sha256(buf);
}

Digest pcr_extended(const Digest& value, std::string_view data) {
  return pcr_extended_digest(value, sha256(data));
}

std::string to_hex(const uint8_t* data, size_t len) {
  static const char* k = "0123456789abcdef";
  std::string s;
  s.reserve(len * 2);
  for (size_t i = 0; i < len; ++i) {
    s.push_back(k[data[i] >> 4]);
    s.push_back(k[data[i] & 15]);
  }
  return s;
}

std::string go_int_list(const std::vector<int>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) s += ' ';
    s += std::to_string(v[i]);
  }
  return s + "]";
}

}  // namespace cryptnode::tpm
