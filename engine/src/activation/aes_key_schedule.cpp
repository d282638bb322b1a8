#include "aes_key_schedule.h"

#include <wmmintrin.h>

#define CN_AESNI __attribute__((target("aes,sse4.1")))

namespace cryptnode::activation {
namespace {

CN_AESNI inline __m128i expand_step(__m128i k, __m128i g) {
  k = _mm_xor_si128(k, _mm_slli_si128(k, 4));
  k = _mm_xor_si128(k, _mm_slli_si128(k, 4));
  k = _mm_xor_si128(k, _mm_slli_si128(k, 4));
  return _mm_xor_si128(k, g);
}

// AESKEYGENASSIST takes its round constant as an immediate, hence the macros.
#define CN_EXP128(i, rcon) \
  rk[i] =                  \
      expand_step(rk[i - 1], _mm_shuffle_epi32(_mm_aeskeygenassist_si128(rk[i - 1], rcon), 0xff))
#define CN_EXP256A(i, rcon) \
  rk[i] =                   \
      expand_step(rk[i - 2], _mm_shuffle_epi32(_mm_aeskeygenassist_si128(rk[i - 1], rcon), 0xff))
#define CN_EXP256B(i) \
  rk[i] = expand_step(rk[i - 2], _mm_shuffle_epi32(_mm_aeskeygenassist_si128(rk[i - 1], 0), 0xaa))

CN_AESNI void expand128(const uint8_t* key, __m128i* rk) {
  rk[0] = _mm_loadu_si128(reinterpret_cast<const __m128i*>(key));
  CN_EXP128(1, 0x01);
  CN_EXP128(2, 0x02);
  CN_EXP128(3, 0x04);
  CN_EXP128(4, 0x08);
  CN_EXP128(5, 0x10);
  CN_EXP128(6, 0x20);
  CN_EXP128(7, 0x40);
  CN_EXP128(8, 0x80);
  CN_EXP128(9, 0x1b);
  CN_EXP128(10, 0x36);
}

CN_AESNI void expand256(const uint8_t* key, __m128i* rk) {
  rk[0] = _mm_loadu_si128(reinterpret_cast<const __m128i*>(key));
  rk[1] = _mm_loadu_si128(reinterpret_cast<const __m128i*>(key + 16));
  CN_EXP256A(2, 0x01);
  CN_EXP256B(3);
  CN_EXP256A(4, 0x02);
  CN_EXP256B(5);
  CN_EXP256A(6, 0x04);
  CN_EXP256B(7);
  CN_EXP256A(8, 0x08);
  CN_EXP256B(9);
  CN_EXP256A(10, 0x10);
  CN_EXP256B(11);
  CN_EXP256A(12, 0x20);
  CN_EXP256B(13);
  CN_EXP256A(14, 0x40);
}

CN_AESNI void invert(const __m128i* ek, __m128i* dk, int rounds) {
  dk[0] = ek[rounds];
  for (int i = 1; i < rounds; ++i) dk[i] = _mm_aesimc_si128(ek[rounds - i]);
  dk[rounds] = ek[0];
}

}  // namespace

void aes_expand_key(const uint8_t* key, size_t size, AesRoundKeys& out) {
  out.rounds = size == 32 ? 14 : 10;
  if (size == 32)
    expand256(key, out.enc);
  else
    expand128(key, out.enc);
  invert(out.enc, out.dec, out.rounds);
}

bool aesni_supported() {
  static const bool ok = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("aes") && __builtin_cpu_supports("pclmul") &&
           __builtin_cpu_supports("sse4.1");
  }();
  return ok;
}

}  // namespace cryptnode::activation
