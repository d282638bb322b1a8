// AES round keys in the layout AES-NI and VAES use (internal to the activation area).
#pragma once

#include <emmintrin.h>

#include <cstddef>
#include <cstdint>

namespace cryptnode::activation {

struct AesRoundKeys {
  int rounds = 0;   // 10 (AES-128) or 14 (AES-256)
  __m128i enc[15];  // encryption round keys (FIPS-197 §5.2 key expansion)
  __m128i dec[15];  // the equivalent inverse cipher's (§5.3.5), for AESDEC
};

// key: 16 or 32 bytes. Needs AES-NI (the callers run only where the CPU has it).
void aes_expand_key(const uint8_t* key, size_t size, AesRoundKeys& out);
bool aesni_supported();  // AES-NI, PCLMULQDQ, SSE4.1

}  // namespace cryptnode::activation
