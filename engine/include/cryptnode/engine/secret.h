// Secret bytes (passphrases, volume keys, salts, unsealed blobs): a buffer that is wiped when it is
// destroyed or reassigned, never printed, and never converted implicitly to a string.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace cryptnode {

class Secret {
 public:
  Secret() = default;
  explicit Secret(std::string_view bytes);
  Secret(const uint8_t* data, size_t size);
  explicit Secret(size_t size);  // zero-filled
  ~Secret();

  Secret(const Secret& other);
  Secret& operator=(const Secret& other);
  Secret(Secret&& other) noexcept;
  Secret& operator=(Secret&& other) noexcept;

  const uint8_t* data() const { return bytes_.data(); }
  uint8_t* data() { return bytes_.data(); }
  size_t size() const { return bytes_.size(); }
  bool empty() const { return bytes_.empty(); }
  // A view for APIs that take char* (libcryptsetup). Do not copy it into a std::string.
  std::string_view view() const {
    return {reinterpret_cast<const char*>(bytes_.data()), bytes_.size()};
  }

  void append(const Secret& other);
  void append(const uint8_t* data, size_t size);
  void clear();  // wipes and empties

  bool operator==(const Secret& other) const;  // constant time for equal sizes

 private:
  std::vector<uint8_t> bytes_;
};

// Wipes a buffer in a way the compiler cannot elide.
void wipe(void* data, size_t size);

}  // namespace cryptnode
