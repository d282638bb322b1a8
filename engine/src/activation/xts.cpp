#include "cryptnode/engine/activation/xts.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <string>

#include "aes_key_schedule.h"
#include "cryptnode/engine/error.h"
#include "xts_engine.h"

namespace cryptnode::activation {

std::string_view xts_impl_name(XtsImpl impl) {
  switch (impl) {
    case XtsImpl::kAuto:
      return "auto";
    case XtsImpl::kOpenssl:
      return "openssl";
    case XtsImpl::kAesni:
      return "aesni";
    case XtsImpl::kVaes:
      return "vaes";
  }
  return "?";
}

bool xts_impl_available(XtsImpl impl) {
  switch (impl) {
    case XtsImpl::kAesni:
      return aesni_supported();
    case XtsImpl::kVaes:
      return vaes_supported();
    default:
      return true;
  }
}

XtsImpl xts_auto_impl() {
  return vaes_supported()    ? XtsImpl::kVaes
         : aesni_supported() ? XtsImpl::kAesni
                             : XtsImpl::kOpenssl;
}

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

Xts::Xts(const Secret& key, uint32_t sector_size, XtsImpl impl) : sector_size_(sector_size) {
  if (key.size() != 64 && key.size() != 32)
    throw Error(Code::kUnsupported, "AES-XTS needs a 256- or 512-bit key, not " +
                                        std::to_string(key.size() * 8) + " bits");
  if (sector_size < 512 || sector_size > 4096 || (sector_size & (sector_size - 1)))
    throw Error(Code::kInvalidArgument, "invalid sector size " + std::to_string(sector_size));
  // OpenSSL refuses XTS keys whose halves are equal (as the kernel does in FIPS mode); so does
  // every implementation here, so that the choice of one never changes what opens.
  if (CRYPTO_memcmp(key.data(), key.data() + key.size() / 2, key.size() / 2) == 0)
    throw Error(Code::kInvalidArgument, "AES-XTS key halves are identical");
  if (impl == XtsImpl::kAuto) impl = xts_auto_impl();
  if (impl == XtsImpl::kVaes && !vaes_supported())
    throw Error(Code::kUnsupported, "this CPU has no AVX-512 VAES/VPCLMULQDQ");
  if (impl == XtsImpl::kAesni && !aesni_supported())
    throw Error(Code::kUnsupported, "this CPU has no AES-NI/PCLMULQDQ");
  switch (impl) {
    case XtsImpl::kVaes:
      engine_ = make_vaes_xts(key, sector_size);
      break;
    case XtsImpl::kAesni:
      engine_ = make_aesni_xts(key, sector_size);
      break;
    default:
      engine_ = make_openssl_xts(key, sector_size);
  }
}

Xts::~Xts() = default;

XtsImpl Xts::impl() const {
  return engine_->impl();
}

void Xts::check(uint64_t offset, size_t len) const {
  if (len % sector_size_ || offset % sector_size_)
    throw Error(Code::kInternal, "XTS: unaligned request");
}

void Xts::encrypt(uint64_t offset, const uint8_t* in, uint8_t* out, size_t len) const {
  check(offset, len);
  engine_->crypt(true, offset / 512, in, out, len);
}

void Xts::decrypt(uint64_t offset, const uint8_t* in, uint8_t* out, size_t len) const {
  check(offset, len);
  engine_->crypt(false, offset / 512, in, out, len);
}

}  // namespace cryptnode::activation
