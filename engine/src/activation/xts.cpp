#include "cryptnode/engine/activation/xts.h"

#include <cstring>

#include "cryptnode/engine/error.h"

namespace cryptnode::activation {

Xts::Xts(const Secret& key, uint32_t sector_size) : key_(key), sector_size_(sector_size) {
  if (key.size() == 64)
    cipher_ = EVP_aes_256_xts();
  else if (key.size() == 32)
    cipher_ = EVP_aes_128_xts();
  else
    throw Error(Code::kUnsupported, "AES-XTS needs a 256- or 512-bit key, not " +
                                        std::to_string(key.size() * 8) + " bits");
  if (sector_size < 512 || sector_size > 4096 || (sector_size & (sector_size - 1)))
    throw Error(Code::kInvalidArgument, "invalid sector size " + std::to_string(sector_size));
}

Xts::~Xts() = default;

void xts_crypt_unit(const Secret& key, const uint8_t tweak[16], uint8_t* buf, size_t len,
                    bool encrypt) {
  const EVP_CIPHER* c = key.size() == 64 ? EVP_aes_256_xts() : EVP_aes_128_xts();
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  int out = 0;
  bool ok = ctx && EVP_CipherInit_ex(ctx, c, nullptr, key.data(), tweak, encrypt ? 1 : 0) == 1 &&
            EVP_CipherUpdate(ctx, buf, &out, buf, static_cast<int>(len)) == 1;
  EVP_CIPHER_CTX_free(ctx);
  if (!ok) throw Error(Code::kInternal, "AES-XTS operation failed");
}

void Xts::run(bool encrypt, uint64_t offset, uint8_t* buf, size_t len) const {
  if (len % sector_size_ || offset % sector_size_)
    throw Error(Code::kInternal, "XTS: unaligned request");
  // A context per call: FUSE serves requests on several threads.
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  if (!ctx) throw Error(Code::kInternal, "EVP_CIPHER_CTX_new failed");
  int enc = encrypt ? 1 : 0;
  bool ok = EVP_CipherInit_ex(ctx, cipher_, nullptr, key_.data(), nullptr, enc) == 1;
  for (size_t done = 0; ok && done < len; done += sector_size_) {
    uint8_t iv[16] = {};
    uint64_t unit = (offset + done) / 512;  // plain64 counts 512-byte units
    for (int i = 0; i < 8; ++i) iv[i] = static_cast<uint8_t>(unit >> (8 * i));
    int out = 0;
    ok = EVP_CipherInit_ex(ctx, nullptr, nullptr, nullptr, iv, enc) == 1 &&
         EVP_CipherUpdate(ctx, buf + done, &out, buf + done, static_cast<int>(sector_size_)) == 1;
  }
  EVP_CIPHER_CTX_free(ctx);
  if (!ok) throw Error(Code::kInternal, "AES-XTS operation failed");
}

}  // namespace cryptnode::activation
