// The sector crypt path of the userspace backend (docs/design.md, "Activation backends"): AES-XTS
// with dm-crypt's plain64 IV over a buffer of whole sectors. The IV of a crypto sector is the
// little-endian 64-bit number of its first 512-byte unit within the data segment, zero-padded to
// 16 bytes, also for 4 KiB sectors; one XTS data unit per crypto sector. The bytes are dm-crypt's
// (the kernel's xts(aes) with plain64), so a volume opens with either backend.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

#include "cryptnode/engine/secret.h"

namespace cryptnode::activation {

// One XTS data unit with an explicit 16-byte tweak (the IEEE 1619 vectors' "data unit sequence
// number", little-endian), through OpenSSL's EVP (the reference the fast path is tested against).
// key: 32 or 64 bytes; len: a multiple of 16.
void xts_crypt_unit(const Secret& key, const uint8_t tweak[16], uint8_t* buf, size_t len,
                    bool encrypt);

// Which implementation runs the sectors. kVaes: AVX-512 VAES/VPCLMULQDQ, four blocks per
// instruction, 32 blocks in flight, the tweaks of 16 sectors encrypted together. kAesni: AES-NI and
// PCLMULQDQ, 8 blocks in flight. kOpenssl: OpenSSL's EVP aes-xts, one EVP call per sector (each
// sector is its own XTS data unit), a context pair per thread. kAuto: the first of kVaes, kAesni,
// kOpenssl the CPU runs. All produce the same bytes (tests compare them with OpenSSL).
enum class XtsImpl { kAuto, kOpenssl, kAesni, kVaes };
std::string_view xts_impl_name(XtsImpl impl);  // "auto", "openssl", "aesni", "vaes"
bool xts_impl_available(XtsImpl impl);         // kAuto and kOpenssl: always
XtsImpl xts_auto_impl();                       // what kAuto picks on this CPU

class Xts {
 public:
  // key: 64 bytes (aes-256-xts, LUKS2 key size 512) or 32 bytes (aes-128-xts); its halves must
  // differ (OpenSSL refuses them otherwise). sector_size: 512, 1024, 2048 or 4096.
  // Error(kUnsupported) for an implementation the CPU cannot run.
  Xts(const Secret& key, uint32_t sector_size, XtsImpl impl = XtsImpl::kAuto);
  ~Xts();
  Xts(const Xts&) = delete;
  Xts& operator=(const Xts&) = delete;

  uint32_t sector_size() const { return sector_size_; }
  XtsImpl impl() const;  // the implementation that runs the sectors, never kAuto

  // `in` and `out` (which may be the same buffer) hold `len` bytes of whole sectors; `offset` is
  // the byte offset of in[0] within the data segment (a multiple of the sector size). Safe to call
  // from many threads at once; allocates nothing after a thread's first call.
  void encrypt(uint64_t offset, const uint8_t* in, uint8_t* out, size_t len) const;
  void decrypt(uint64_t offset, const uint8_t* in, uint8_t* out, size_t len) const;
  void encrypt(uint64_t offset, uint8_t* buf, size_t len) const { encrypt(offset, buf, buf, len); }
  void decrypt(uint64_t offset, uint8_t* buf, size_t len) const { decrypt(offset, buf, buf, len); }

  struct Engine;  // the implementation behind impl()

 private:
  void check(uint64_t offset, size_t len) const;
  uint32_t sector_size_;
  std::unique_ptr<Engine> engine_;
};

}  // namespace cryptnode::activation
