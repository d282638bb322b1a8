// The Talos ADV codec (internal/pkg/meta/internal/adv/talos in Talos;
// docs/disk-layout.md#the-talos-adv).
#include <openssl/sha.h>

#include <cstring>

#include "cryptnode/engine/error.h"
#include "cryptnode/engine/meta.h"

namespace cryptnode::meta {
namespace {

constexpr size_t kChecksumOffset = kADVLength - 36;

void put32(std::string& b, size_t off, uint32_t v) {
  b[off] = static_cast<char>(v >> 24);
  b[off + 1] = static_cast<char>(v >> 16);
  b[off + 2] = static_cast<char>(v >> 8);
  b[off + 3] = static_cast<char>(v);
}

uint32_t get32(std::string_view b, size_t off) {
  auto u = [&](size_t i) { return static_cast<uint32_t>(static_cast<uint8_t>(b[off + i])); };
  return u(0) << 24 | u(1) << 16 | u(2) << 8 | u(3);
}

void checksum(const std::string& copy, unsigned char out[32]) {
  SHA256(reinterpret_cast<const unsigned char*>(copy.data()), copy.size(), out);
}

}  // namespace

bool ADV::set(uint8_t tag, std::string value) {
  // Talos' SetTagBytes: 20 + Σ(len+8) over existing tags + len(new) - len(old) <= DataLength.
  size_t size = 20;
  for (const auto& [t, v] : tags_) size += v.size() + 8;
  auto old = tags_.find(tag);
  size += value.size();
  if (old != tags_.end()) size -= old->second.size();
  if (size > kADVDataLength) return false;
  tags_[tag] = std::move(value);
  return true;
}

std::optional<std::string> ADV::get(uint8_t tag) const {
  auto it = tags_.find(tag);
  if (it == tags_.end()) return std::nullopt;
  return it->second;
}

bool ADV::remove(uint8_t tag) {
  return tags_.erase(tag) > 0;
}

std::string ADV::marshal() const {
  std::string b(kADVLength, '\0');
  put32(b, 0, kMagic1);
  put32(b, kADVLength - 4, kMagic2);
  size_t off = 4;
  const size_t end = kADVLength - 36;
  for (const auto& [tag, value] : tags_) {
    if (value.size() + 8 > end - off)
      throw Error(Code::kInvalidArgument,
                  "adv: overflow " + std::to_string(value.size() + 8 - (end - off)) + " bytes");
    put32(b, off, tag);
    put32(b, off + 4, static_cast<uint32_t>(value.size()));
    std::memcpy(b.data() + off + 8, value.data(), value.size());
    off += 8 + value.size();
  }
  unsigned char sum[32];
  checksum(b, sum);
  std::memcpy(b.data() + kChecksumOffset, sum, 32);
  return b;
}

ADV ADV::unmarshal(std::string_view copy) {
  if (copy.size() != kADVLength) throw Error(Code::kCorrupt, "adv: unexpected size");
  if (get32(copy, 0) != kMagic1) throw Error(Code::kCorrupt, "adv: unexpected magic");
  if (get32(copy, kADVLength - 4) != kMagic2) throw Error(Code::kCorrupt, "adv: unexpected magic");
  std::string b(copy);
  unsigned char stored[32], sum[32];
  std::memcpy(stored, b.data() + kChecksumOffset, 32);
  std::memset(b.data() + kChecksumOffset, 0, 32);
  checksum(b, sum);
  if (std::memcmp(stored, sum, 32) != 0) throw Error(Code::kCorrupt, "adv: checksum mismatch");
  ADV adv;
  std::string_view data = copy.substr(4, kADVLength - 40);
  while (data.size() >= 8) {
    uint32_t tag = get32(data, 0);
    if (tag == 0) break;  // adv.End
    uint64_t size = get32(data, 4);
    if (data.size() < size + 8)
      throw Error(Code::kCorrupt, "value goes beyond the end of the buffer");
    // A u32 tag with upper bytes set is truncated to uint8, as in Go.
    adv.tags_[static_cast<uint8_t>(tag)] = std::string(data.substr(8, size));
    data.remove_prefix(8 + size);
  }
  return adv;
}

}  // namespace cryptnode::meta
