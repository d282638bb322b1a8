// One OpenSSL library context for tpm2-tss' ESYS instead of one per hash.
//
// tpm2-tss 3.2 (Debian 12 ships libtss2-esys 3.2.1) creates and frees a fresh OSSL_LIB_CTX for
// every hash, HMAC, random-nonce and RSA-encrypt call it makes (src/tss2-esys/esys_crypto_ossl.c:
// iesys_cryptossl_context_new, iesys_cryptossl_random2b, iesys_cryptossl_pk_encrypt). A new
// context builds its algorithm name map from OpenSSL's whole legacy table before the first fetch:
// about 0.3 ms each, and an unseal makes 20 of them (cpHash/rpHash, session HMACs, KDFa, KDFe,
// nonces), a third of its CPU time (docs/performance.md, "TPM"). tpm2-tss 4.0 lets a program
// install its own crypto callbacks (Esys_SetCryptoCallbacks); 3.2 has no such hook.
//
// So this file defines OSSL_LIB_CTX_new and OSSL_LIB_CTX_free with default visibility. The
// dynamic linker resolves libtss2-esys' references to them here (this object precedes libcrypto in
// the lookup scope of the executable or of the Python extension that links the engine). A call
// whose return address lies in libtss2-esys gets one shared context, created once by libcrypto's
// own OSSL_LIB_CTX_new, and its free is a no-op; every other caller (libcryptsetup, the engine)
// is forwarded to libcrypto unchanged. ESYS only fetches algorithms from the default provider
// through the context, so what it computes is the same; OpenSSL's fetches are thread-safe.
// The shared context lives until the process exits (never freed: OpenSSL's own atexit cleanup
// runs in an order this file cannot see).
#include <dlfcn.h>
#include <openssl/crypto.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "cryptnode/engine/tpm/tpm.h"
#include "esys_util.h"

namespace {

using NewFn = OSSL_LIB_CTX* (*)();
using FreeFn = void (*)(OSSL_LIB_CTX*);

struct Real {
  NewFn new_ctx = nullptr;
  FreeFn free_ctx = nullptr;
};

const Real& real() {
  static const Real r = [] {
    Real x;
    x.new_ctx = reinterpret_cast<NewFn>(dlsym(RTLD_NEXT, "OSSL_LIB_CTX_new"));
    x.free_ctx = reinterpret_cast<FreeFn>(dlsym(RTLD_NEXT, "OSSL_LIB_CTX_free"));
    if (!x.new_ctx || !x.free_ctx) std::abort();  // libcrypto is a DT_NEEDED of this object
    return x;
  }();
  return r;
}

// Whether the caller's code lies in libtss2-esys (dladdr walks the link map: microseconds).
bool called_from_esys(const void* return_address) {
  Dl_info info{};
  if (!dladdr(return_address, &info) || !info.dli_fname) return false;
  const char* base = std::strrchr(info.dli_fname, '/');
  base = base ? base + 1 : info.dli_fname;
  return std::strncmp(base, "libtss2-esys.so", 15) == 0;
}

OSSL_LIB_CTX* shared_ctx = nullptr;
std::once_flag shared_once;
std::atomic<unsigned long> shared_uses{0};

OSSL_LIB_CTX* shared() {
  std::call_once(shared_once, [] { shared_ctx = real().new_ctx(); });
  return shared_ctx;
}

}  // namespace

extern "C" {

__attribute__((visibility("default"))) OSSL_LIB_CTX* OSSL_LIB_CTX_new(void) {
  if (!called_from_esys(__builtin_return_address(0))) return real().new_ctx();
  shared_uses.fetch_add(1, std::memory_order_relaxed);
  return shared();
}

__attribute__((visibility("default"))) void OSSL_LIB_CTX_free(OSSL_LIB_CTX* ctx) {
  if (ctx != nullptr && ctx == shared_ctx) return;
  real().free_ctx(ctx);
}

}  // extern "C"

namespace cryptnode::tpm {

// Tpm::connect calls this before ESYS' first call, which also keeps this object in every link
// that uses ESYS (the engine's areas are static archives: an object nothing references is left
// out, and then libcrypto's OSSL_LIB_CTX_new is the one ESYS finds).
void detail::prepare_esys_openssl_context() {
  shared();
}

unsigned long esys_shared_openssl_context_uses() {
  return shared_uses.load(std::memory_order_relaxed);
}

}  // namespace cryptnode::tpm
