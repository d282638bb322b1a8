#include "cryptnode/engine/secret.h"

#include <openssl/crypto.h>

#include <cstring>

namespace cryptnode {

void wipe(void* data, size_t size) {
  if (data && size) OPENSSL_cleanse(data, size);
}

Secret::Secret(std::string_view bytes) : bytes_(bytes.begin(), bytes.end()) {}
Secret::Secret(const uint8_t* data, size_t size) : bytes_(data, data + size) {}
Secret::Secret(size_t size) : bytes_(size, 0) {}
Secret::~Secret() {
  clear();
}

Secret::Secret(const Secret& other) : bytes_(other.bytes_) {}
Secret& Secret::operator=(const Secret& other) {
  if (this != &other) {
    clear();
    bytes_ = other.bytes_;
  }
  return *this;
}
Secret::Secret(Secret&& other) noexcept : bytes_(std::move(other.bytes_)) {
  other.bytes_.clear();
}
Secret& Secret::operator=(Secret&& other) noexcept {
  if (this != &other) {
    clear();
    bytes_ = std::move(other.bytes_);
    other.bytes_.clear();
  }
  return *this;
}

void Secret::append(const Secret& other) {
  append(other.data(), other.size());
}

void Secret::append(const uint8_t* data, size_t size) {
  // Grow into a fresh buffer so the old allocation can be wiped rather than freed with secrets.
  std::vector<uint8_t> grown;
  grown.reserve(bytes_.size() + size);
  grown.insert(grown.end(), bytes_.begin(), bytes_.end());
  grown.insert(grown.end(), data, data + size);
  clear();
  bytes_ = std::move(grown);
}

void Secret::clear() {
  // Wipe the whole allocation, not only the used part (earlier, longer contents may linger).
  bytes_.resize(bytes_.capacity());
  wipe(bytes_.data(), bytes_.size());
  bytes_.clear();
}

bool Secret::operator==(const Secret& other) const {
  return bytes_.size() == other.bytes_.size() &&
         CRYPTO_memcmp(bytes_.data(), other.bytes_.data(), bytes_.size()) == 0;
}

}  // namespace cryptnode
