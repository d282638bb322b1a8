// AES-XTS with dm-crypt's plain64 IV (DESIGN.md §2, §6): the IV of a crypto sector is the
// little-endian 64-bit number of its first 512-byte unit within the data segment, zero-padded to
// 16 bytes, also for 4 KiB sectors. One XTS operation per crypto sector (the data unit).
#pragma once

#include <openssl/evp.h>

#include <cstddef>
#include <cstdint>

#include "cryptnode/engine/secret.h"

namespace cryptnode::activation {

// One XTS data unit with an explicit 16-byte tweak (the IEEE 1619 vectors' "data unit sequence
// number", little-endian). key: 32 or 64 bytes.
void xts_crypt_unit(const Secret& key, const uint8_t tweak[16], uint8_t* buf, size_t len,
                    bool encrypt);

class Xts {
 public:
  // key: 64 bytes (aes-256-xts, LUKS2 key size 512) or 32 bytes (aes-128-xts).
  Xts(const Secret& key, uint32_t sector_size);
  ~Xts();
  Xts(const Xts&) = delete;
  Xts& operator=(const Xts&) = delete;

  uint32_t sector_size() const { return sector_size_; }
  // buf holds whole sectors; `offset` is the byte offset of buf[0] within the data segment
  // (a multiple of the sector size).
  void encrypt(uint64_t offset, uint8_t* buf, size_t len) const { run(true, offset, buf, len); }
  void decrypt(uint64_t offset, uint8_t* buf, size_t len) const { run(false, offset, buf, len); }

 private:
  void run(bool encrypt, uint64_t offset, uint8_t* buf, size_t len) const;
  const EVP_CIPHER* cipher_;
  Secret key_;
  uint32_t sector_size_;
};

}  // namespace cryptnode::activation
