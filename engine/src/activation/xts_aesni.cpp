// XTS with AES-NI (x86-64 CPUs without AVX-512 VAES): the same algorithm as xts_vaes.cpp one
// block per register, eight blocks in flight, the tweaks of eight sectors encrypted together, each
// next block's tweak doubled from the one before with plain integer SIMD. Per block j of a sector
// (IEEE 1619): C_j = E_K1(P_j ^ T_j) ^ T_j, T_0 = E_K2(IV), T_j+1 = T_j * x in GF(2^128) mod x^128
// + x^7 + x^2 + x + 1.
#include <immintrin.h>

#include <algorithm>

#include "aes_key_schedule.h"
#include "cryptnode/engine/secret.h"
#include "xts_engine.h"

#define CN_AESNI __attribute__((target("aes,sse4.1")))

namespace cryptnode::activation {
namespace {

constexpr int kLanes = 8;  // blocks in flight

template <int NR, int N>
CN_AESNI inline void encrypt_blocks(__m128i* x, const __m128i* rk) {
#pragma GCC unroll 16
  for (int j = 0; j < N; ++j) x[j] = _mm_xor_si128(x[j], rk[0]);
#pragma GCC unroll 16
  for (int r = 1; r < NR; ++r) {
#pragma GCC unroll 16
    for (int j = 0; j < N; ++j) x[j] = _mm_aesenc_si128(x[j], rk[r]);
  }
#pragma GCC unroll 16
  for (int j = 0; j < N; ++j) x[j] = _mm_aesenclast_si128(x[j], rk[NR]);
}

template <int NR, int N>
CN_AESNI inline void decrypt_blocks(__m128i* x, const __m128i* rk) {
#pragma GCC unroll 16
  for (int j = 0; j < N; ++j) x[j] = _mm_xor_si128(x[j], rk[0]);
#pragma GCC unroll 16
  for (int r = 1; r < NR; ++r) {
#pragma GCC unroll 16
    for (int j = 0; j < N; ++j) x[j] = _mm_aesdec_si128(x[j], rk[r]);
  }
#pragma GCC unroll 16
  for (int j = 0; j < N; ++j) x[j] = _mm_aesdeclast_si128(x[j], rk[NR]);
}

// t * x: the 128-bit shift by one (each 64-bit half doubled, the low half's top bit carried into
// the high half) and the bit shifted out of the top reduced by 0x87, with shifts, a shuffle and
// masks only: PCLMULQDQ would share the AES units' pipes.
CN_AESNI inline __m128i mul_x(__m128i t) {
  const __m128i carry = _mm_set_epi32(0, 1, 0, 0x87);  // into the high half; back into the low
  const __m128i top = _mm_shuffle_epi32(_mm_srai_epi32(t, 31), 0x13);
  return _mm_xor_si128(_mm_add_epi64(t, t), _mm_and_si128(top, carry));
}

template <int NR, bool ENC>
CN_AESNI inline void crypt_sector(const __m128i* rk, __m128i t, const uint8_t* in, uint8_t* out,
                                  size_t size) {
  for (size_t off = 0; off < size; off += 16 * kLanes) {
    __m128i tw[kLanes], x[kLanes];
    tw[0] = t;
#pragma GCC unroll 8
    for (int j = 1; j < kLanes; ++j) tw[j] = mul_x(tw[j - 1]);
    t = mul_x(tw[kLanes - 1]);
#pragma GCC unroll 8
    for (int j = 0; j < kLanes; ++j)
      x[j] = _mm_xor_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(in + off + 16 * j)),
                           tw[j]);
    if constexpr (ENC)
      encrypt_blocks<NR, kLanes>(x, rk);
    else
      decrypt_blocks<NR, kLanes>(x, rk);
#pragma GCC unroll 8
    for (int j = 0; j < kLanes; ++j)
      _mm_storeu_si128(reinterpret_cast<__m128i*>(out + off + 16 * j), _mm_xor_si128(x[j], tw[j]));
  }
}

template <int NR, bool ENC>
CN_AESNI void crypt_sectors(const __m128i* rk, const __m128i* tk, uint64_t unit0, uint32_t sector,
                            const uint8_t* in, uint8_t* out, size_t len) {
  const uint64_t per = sector / 512;  // plain64 units per sector
  const size_t n = len / sector;
  for (size_t s = 0; s < n; s += kLanes) {
    __m128i tweaks[kLanes];
    for (int j = 0; j < kLanes; ++j)
      tweaks[j] = _mm_set_epi64x(0, static_cast<int64_t>(unit0 + (s + j) * per));
    encrypt_blocks<NR, kLanes>(tweaks, tk);
    const size_t m = std::min<size_t>(kLanes, n - s);
    for (size_t i = 0; i < m; ++i)
      crypt_sector<NR, ENC>(rk, tweaks[i], in + (s + i) * sector, out + (s + i) * sector, sector);
    wipe(tweaks, sizeof(tweaks));
  }
}

class AesniXts final : public Xts::Engine {
 public:
  AesniXts(const Secret& key, uint32_t sector_size) : sector_(sector_size) {
    aes_expand_key(key.data(), key.size() / 2, data_);
    aes_expand_key(key.data() + key.size() / 2, key.size() / 2, tweak_);
  }
  ~AesniXts() override {
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

  XtsImpl impl() const override { return XtsImpl::kAesni; }

 private:
  uint32_t sector_;
  AesRoundKeys data_;   // K1: the blocks
  AesRoundKeys tweak_;  // K2: the tweak (always encrypted)
};

}  // namespace

std::unique_ptr<Xts::Engine> make_aesni_xts(const Secret& key, uint32_t sector_size) {
  return std::make_unique<AesniXts>(key, sector_size);
}

}  // namespace cryptnode::activation
