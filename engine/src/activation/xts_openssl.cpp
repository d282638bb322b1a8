// XTS through OpenSSL's EVP aes-xts: one EVP call per sector (each sector is its own XTS data unit
// with its own IV), on a context pair (encrypt, decrypt) that a thread borrows for a whole request
// from a pool: as many pairs as threads ever ran at once, each keyed once.
#include <openssl/evp.h>

#include <cstring>
#include <mutex>
#include <vector>

#include "cryptnode/engine/error.h"
#include "xts_engine.h"

namespace cryptnode::activation {
namespace {

struct ContextPair {
  EVP_CIPHER_CTX* enc = EVP_CIPHER_CTX_new();
  EVP_CIPHER_CTX* dec = EVP_CIPHER_CTX_new();
  ~ContextPair() {
    EVP_CIPHER_CTX_free(enc);  // cleanses the key schedule
    EVP_CIPHER_CTX_free(dec);
  }
};

class OpensslXts final : public Xts::Engine {
 public:
  OpensslXts(const Secret& key, uint32_t sector_size)
      : key_(key),
        cipher_(key.size() == 64 ? EVP_aes_256_xts() : EVP_aes_128_xts()),
        sector_(sector_size) {
    release(acquire());  // fails here, not in the FUSE thread, if OpenSSL refuses the key
  }

  void crypt(bool encrypt, uint64_t unit0, const uint8_t* in, uint8_t* out,
             size_t len) const override {
    std::unique_ptr<ContextPair> p = acquire();
    EVP_CIPHER_CTX* ctx = encrypt ? p->enc : p->dec;
    bool ok = true;
    for (size_t done = 0; ok && done < len; done += sector_) {
      uint8_t iv[16] = {};
      const uint64_t unit = unit0 + done / 512;
      for (int i = 0; i < 8; ++i) iv[i] = static_cast<uint8_t>(unit >> (8 * i));
      int n = 0;
      ok = EVP_CipherInit_ex(ctx, nullptr, nullptr, nullptr, iv, -1) == 1 &&
           EVP_CipherUpdate(ctx, out + done, &n, in + done, static_cast<int>(sector_)) == 1;
    }
    release(std::move(p));
    if (!ok) throw Error(Code::kInternal, "AES-XTS operation failed");
  }

  XtsImpl impl() const override { return XtsImpl::kOpenssl; }

 private:
  std::unique_ptr<ContextPair> acquire() const {
    {
      std::lock_guard<std::mutex> l(mu_);
      if (!pool_.empty()) {
        auto p = std::move(pool_.back());
        pool_.pop_back();
        return p;
      }
    }
    auto p = std::make_unique<ContextPair>();
    if (!p->enc || !p->dec ||
        EVP_CipherInit_ex(p->enc, cipher_, nullptr, key_.data(), nullptr, 1) != 1 ||
        EVP_CipherInit_ex(p->dec, cipher_, nullptr, key_.data(), nullptr, 0) != 1)
      throw Error(Code::kInternal, "OpenSSL refused the AES-XTS key");
    return p;
  }
  void release(std::unique_ptr<ContextPair> p) const {
    std::lock_guard<std::mutex> l(mu_);
    pool_.push_back(std::move(p));
  }

  Secret key_;
  const EVP_CIPHER* cipher_;
  uint32_t sector_;
  mutable std::mutex mu_;
  mutable std::vector<std::unique_ptr<ContextPair>> pool_;
};

}  // namespace

std::unique_ptr<Xts::Engine> make_openssl_xts(const Secret& key, uint32_t sector_size) {
  return std::make_unique<OpensslXts>(key, sector_size);
}

}  // namespace cryptnode::activation
