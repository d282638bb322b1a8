// XTS with AES-NI and PCLMULQDQ (x86-64 CPUs without AVX-512 VAES): the same algorithm as
// xts_vaes.cpp one block per register, eight blocks in flight, the tweaks of eight sectors
// encrypted together. Per block j of a sector (IEEE 1619): C_j = E_K1(P_j ^ T_j) ^ T_j,
// T_0 = E_K2(IV), T_j+1 = T_j * x in GF(2^128) mod x^128 + x^7 + x^2 + x + 1.
#include <immintrin.h>

#include <algorithm>

#include "aes_key_schedule.h"
#include "cryptnode/engine/secret.h"
#include "xts_engine.h"

#define CN_AESNI __attribute__((target("aes,pclmul,sse4.1")))

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

// t * x^K (K <= 56): shift left by K, the K bits shifted out of the top reduced by 0x87.
template <int K>
CN_AESNI inline __m128i mul_x(__m128i t) {
  const __m128i poly = _mm_set_epi64x(0, 0x87);
  const __m128i out = _mm_srli_epi64(t, 64 - K);  // the top K bits of each 64-bit half
  return _mm_xor_si128(_mm_xor_si128(_mm_slli_epi64(t, K), _mm_slli_si128(out, 8)),
                       _mm_clmulepi64_si128(out, poly, 0x01));
}

template <int NR, bool ENC>
CN_AESNI inline void crypt_sector(const __m128i* rk, __m128i t, const uint8_t* in, uint8_t* out,
                                  size_t size) {
  for (size_t off = 0; off < size; off += 16 * kLanes) {
    __m128i tw[kLanes], x[kLanes];
    tw[0] = t;
    tw[1] = mul_x<1>(t);
    tw[2] = mul_x<2>(t);
    tw[3] = mul_x<3>(t);
    tw[4] = mul_x<4>(t);
    tw[5] = mul_x<5>(t);
    tw[6] = mul_x<6>(t);
    tw[7] = mul_x<7>(t);
    t = mul_x<8>(t);
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
