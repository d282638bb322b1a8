// XTS with AVX-512 VAES and VPCLMULQDQ: four AES blocks per instruction, eight such vectors (one
// 512-byte unit, the smallest sector) in flight, the tweaks of sixteen sectors encrypted together.
// Per block j of a sector (IEEE 1619): C_j = E_K1(P_j ^ T_j) ^ T_j, T_0 = E_K2(IV), T_j+1 = T_j * x
// in GF(2^128) mod x^128 + x^7 + x^2 + x + 1, the 128-bit numbers little-endian. The round keys
// come from aes_key_schedule.h. Tested against OpenSSL's EVP on every sector
// size and against the IEEE 1619 vectors (engine/tests/activation_xts_test.cpp).
#include <immintrin.h>
// GCC 12 reports the intrinsics' own _mm512_undefined_*() placeholders as uninitialized.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <algorithm>
#include <cstring>

#include "aes_key_schedule.h"
#include "cryptnode/engine/secret.h"
#include "xts_engine.h"

#define CN_VAES __attribute__((target("aes,sse4.1,avx2,avx512f,avx512bw,avx512vl,vaes,vpclmulqdq")))

namespace cryptnode::activation {
namespace {

// --- blocks
// ---------------------------------------------------------------------------------------

template <int NR, int N>
CN_VAES inline void encrypt_blocks(__m512i* x, const __m512i* rk) {
#pragma GCC unroll 16
  for (int j = 0; j < N; ++j) x[j] = _mm512_xor_si512(x[j], rk[0]);
#pragma GCC unroll 16
  for (int r = 1; r < NR; ++r) {
#pragma GCC unroll 16
    for (int j = 0; j < N; ++j) x[j] = _mm512_aesenc_epi128(x[j], rk[r]);
  }
#pragma GCC unroll 16
  for (int j = 0; j < N; ++j) x[j] = _mm512_aesenclast_epi128(x[j], rk[NR]);
}

template <int NR, int N>
CN_VAES inline void decrypt_blocks(__m512i* x, const __m512i* rk) {
#pragma GCC unroll 16
  for (int j = 0; j < N; ++j) x[j] = _mm512_xor_si512(x[j], rk[0]);
#pragma GCC unroll 16
  for (int r = 1; r < NR; ++r) {
#pragma GCC unroll 16
    for (int j = 0; j < N; ++j) x[j] = _mm512_aesdec_epi128(x[j], rk[r]);
  }
#pragma GCC unroll 16
  for (int j = 0; j < N; ++j) x[j] = _mm512_aesdeclast_epi128(x[j], rk[NR]);
}

// --- tweaks
// ---------------------------------------------------------------------------------------

// Each 128-bit lane times x^K (K <= 56): shift left by K, the K bits shifted out of the top
// reduced by x^128 = x^7 + x^2 + x + 1 (0x87; their product stays below 2^64).
template <int K>
CN_VAES inline __m512i mul_x(__m512i t) {
  const __m512i poly = _mm512_set1_epi64(0x87);
  const __m512i out = _mm512_srli_epi64(t, 64 - K);  // the top K bits of each 64-bit half
  return _mm512_ternarylogic_epi64(_mm512_slli_epi64(t, K), _mm512_bslli_epi128(out, 8),
                                   _mm512_clmulepi64_epi128(out, poly, 0x01), 0x96);
}

// The tweaks of a sector's first four blocks, T, T*x, T*x^2, T*x^3, one per lane.
CN_VAES inline __m512i first_tweaks(__m128i t) {
  const __m512i poly = _mm512_set1_epi64(0x87);
  const __m512i b = _mm512_broadcast_i32x4(t);
  const __m512i shift = _mm512_set_epi64(3, 3, 2, 2, 1, 1, 0, 0);
  const __m512i back = _mm512_set_epi64(61, 61, 62, 62, 63, 63, 64, 64);  // 64: nothing out
  const __m512i out = _mm512_srlv_epi64(b, back);
  return _mm512_ternarylogic_epi64(_mm512_sllv_epi64(b, shift), _mm512_bslli_epi128(out, 8),
                                   _mm512_clmulepi64_epi128(out, poly, 0x01), 0x96);
}

// --- sectors
// --------------------------------------------------------------------------------------

constexpr size_t kTweakBatch = 16;  // sectors whose T_0 are computed together

template <int NR, bool ENC>
CN_VAES inline void crypt_sector(const __m512i* rk, __m128i tweak, const uint8_t* in, uint8_t* out,
                                 size_t size) {
  __m512i t = first_tweaks(tweak);
  for (size_t off = 0; off < size; off += 512) {
    __m512i tw[8], x[8];
    tw[0] = t;
    tw[1] = mul_x<4>(t);
    tw[2] = mul_x<8>(t);
    tw[3] = mul_x<12>(t);
    tw[4] = mul_x<16>(t);
    tw[5] = mul_x<20>(t);
    tw[6] = mul_x<24>(t);
    tw[7] = mul_x<28>(t);
    t = mul_x<32>(t);
#pragma GCC unroll 8
    for (int j = 0; j < 8; ++j)
      x[j] = _mm512_xor_si512(_mm512_loadu_si512(in + off + 64 * j), tw[j]);
    if constexpr (ENC)
      encrypt_blocks<NR, 8>(x, rk);
    else
      decrypt_blocks<NR, 8>(x, rk);
#pragma GCC unroll 8
    for (int j = 0; j < 8; ++j)
      _mm512_storeu_si512(out + off + 64 * j, _mm512_xor_si512(x[j], tw[j]));
  }
}

template <int NR, bool ENC>
CN_VAES void crypt_sectors(const __m128i* k1, const __m128i* k2, uint64_t unit0, uint32_t sector,
                           const uint8_t* in, uint8_t* out, size_t len) {
  __m512i rk[NR + 1], tk[NR + 1];
  for (int i = 0; i <= NR; ++i) {
    rk[i] = _mm512_broadcast_i32x4(k1[i]);
    tk[i] = _mm512_broadcast_i32x4(k2[i]);
  }
  const uint64_t per = sector / 512;  // plain64 units per sector
  const size_t n = len / sector;
  alignas(64) __m128i tweaks[kTweakBatch];
  for (size_t s = 0; s < n; s += kTweakBatch) {
    __m512i iv[kTweakBatch / 4];
    for (size_t j = 0; j < kTweakBatch / 4; ++j) {
      const uint64_t u = unit0 + (s + 4 * j) * per;
      iv[j] = _mm512_set_epi64(0, static_cast<int64_t>(u + 3 * per), 0,
                               static_cast<int64_t>(u + 2 * per), 0, static_cast<int64_t>(u + per),
                               0, static_cast<int64_t>(u));
    }
    encrypt_blocks<NR, kTweakBatch / 4>(iv, tk);
    for (size_t j = 0; j < kTweakBatch / 4; ++j)
      _mm512_store_si512(reinterpret_cast<__m512i*>(tweaks) + j, iv[j]);
    const size_t m = std::min(kTweakBatch, n - s);
    for (size_t i = 0; i < m; ++i)
      crypt_sector<NR, ENC>(rk, tweaks[i], in + (s + i) * sector, out + (s + i) * sector, sector);
  }
  wipe(rk, sizeof(rk));
  wipe(tk, sizeof(tk));
  wipe(tweaks, sizeof(tweaks));
}

class VaesXts final : public Xts::Engine {
 public:
  VaesXts(const Secret& key, uint32_t sector_size) : sector_(sector_size) {
    aes_expand_key(key.data(), key.size() / 2, data_);
    aes_expand_key(key.data() + key.size() / 2, key.size() / 2, tweak_);
  }
  ~VaesXts() override {
    wipe(&data_, sizeof(data_));
    wipe(&tweak_, sizeof(tweak_));
  }

  void crypt(bool encrypt, uint64_t unit0, const uint8_t* in, uint8_t* out,
             size_t len) const override {
    if (data_.rounds == 14) {
      if (encrypt)
        crypt_sectors<14, true>(data_.enc, tweak_.enc, unit0, sector_, in, out, len);
      else
        crypt_sectors<14, false>(data_.dec, tweak_.enc, unit0, sector_, in, out, len);
    } else {
      if (encrypt)
        crypt_sectors<10, true>(data_.enc, tweak_.enc, unit0, sector_, in, out, len);
      else
        crypt_sectors<10, false>(data_.dec, tweak_.enc, unit0, sector_, in, out, len);
    }
  }

  XtsImpl impl() const override { return XtsImpl::kVaes; }

 private:
  uint32_t sector_;
  AesRoundKeys data_;   // K1: the blocks
  AesRoundKeys tweak_;  // K2: the tweak (always encrypted)
};

}  // namespace

bool vaes_supported() {
  static const bool ok = [] {
    __builtin_cpu_init();
    return aesni_supported() && __builtin_cpu_supports("avx512f") &&
           __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
           __builtin_cpu_supports("vaes") && __builtin_cpu_supports("vpclmulqdq");
  }();
  return ok;
}

std::unique_ptr<Xts::Engine> make_vaes_xts(const Secret& key, uint32_t sector_size) {
  return std::make_unique<VaesXts>(key, sector_size);
}

}  // namespace cryptnode::activation
