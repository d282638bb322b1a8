// The implementations behind activation::Xts (internal to the activation area).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "cryptnode/engine/activation/xts.h"

namespace cryptnode::activation {

struct Xts::Engine {
  virtual ~Engine() = default;
  // `len` bytes of whole sectors; unit0 is the plain64 IV of the first one (its first 512-byte
  // unit within the data segment).
  virtual void crypt(bool encrypt, uint64_t unit0, const uint8_t* in, uint8_t* out,
                     size_t len) const = 0;
  virtual XtsImpl impl() const = 0;  // which one this is (never kAuto)
};

// key: 32 or 64 bytes with differing halves, sector_size: 512..4096 (checked by Xts).
std::unique_ptr<Xts::Engine> make_openssl_xts(const Secret& key, uint32_t sector_size);
std::unique_ptr<Xts::Engine> make_aesni_xts(const Secret& key, uint32_t sector_size);
std::unique_ptr<Xts::Engine> make_vaes_xts(const Secret& key, uint32_t sector_size);
bool vaes_supported();  // AVX-512 F/BW/VL, VAES, VPCLMULQDQ and AES-NI

}  // namespace cryptnode::activation
