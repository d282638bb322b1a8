// Internal helpers over tpm2-tss ESYS for the tpm area: return-code checks that throw Error with
// Tss2_RC_Decode's text, owners for ESYS-allocated outputs, and guards that flush a transient
// object or session on every path (there is no resource manager in front of swtpm).
#pragma once

#include <tss2/tss2_esys.h>
#include <tss2/tss2_rc.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "cryptnode/engine/error.h"
#include "cryptnode/engine/tpm/tpm.h"

namespace cryptnode::tpm::detail {

// Tss2_RC_Decode text, e.g. "tpm:session(1):a policy check failed".
std::string rc_text(TSS2_RC rc);
// TCTI-layer failures (the TPM cannot be reached) are kUnavailable, the rest kFailedPrecondition.
Error rc_error(TSS2_RC rc, std::string_view prefix = {});
inline void check(TSS2_RC rc, std::string_view prefix = {}) {
  if (rc != TSS2_RC_SUCCESS) throw rc_error(rc, prefix);
}

struct EsysFree {
  void operator()(void* p) const { Esys_Free(p); }
};
template <typename T>
using EsysPtr = std::unique_ptr<T, EsysFree>;

// Flushes a transient object or session when it goes out of scope (errors ignored: the
// connection may already be gone, and the next connect flushes leftovers).
class Flushed {
 public:
  Flushed(ESYS_CONTEXT* e, ESYS_TR h = ESYS_TR_NONE) : e_(e), h_(h) {}
  ~Flushed() { reset(); }
  Flushed(const Flushed&) = delete;
  Flushed& operator=(const Flushed&) = delete;
  ESYS_TR* out() { return &h_; }
  ESYS_TR get() const { return h_; }
  void reset() {
    if (h_ != ESYS_TR_NONE) Esys_FlushContext(e_, h_);
    h_ = ESYS_TR_NONE;
  }

 private:
  ESYS_CONTEXT* e_;
  ESYS_TR h_;
};

// The SRK of go-tpm's tpm2.ECCSRKTemplate, created under the owner hierarchy (never persisted,
// as Talos does).
struct Srk {
  std::unique_ptr<Flushed> handle;
  Bytes name;  // TPM2B_NAME buffer (34 bytes)
};
TPM2B_PUBLIC ecc_srk_template();
Srk create_srk(ESYS_CONTEXT* e);

// One SHA-256 selection of `pcrs` (CreateSelector in pcr.go: 3-byte mask).
TPML_PCR_SELECTION pcr_selection(const std::vector<int>& pcrs,
                                 TPMI_ALG_HASH bank = TPM2_ALG_SHA256);

Bytes to_bytes(const uint8_t* p, size_t n);

// Creates the one OpenSSL library context ESYS is given (esys_openssl_context.cpp).
void prepare_esys_openssl_context();

}  // namespace cryptnode::tpm::detail
