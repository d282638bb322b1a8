// Reading the probed range and decoding on-disk fields (go-blockdevice blkid/internal/utils,
// internal/gptutil, github.com/google/uuid, golang.org/x/text/encoding/unicode).
#include <array>
#include <cstdio>

#include "prober.h"

namespace cryptnode::blkid::internal {

std::optional<std::string> Reader::read(uint64_t off, size_t len) {
  if (off > size_ || len > size_ - off) return std::nullopt;
  std::string buf(len, '\0');
  if (len) dev_.read_at(offset_ + off, buf.data(), len);
  return buf;
}

namespace {

uint8_t byte_at(std::string_view b, size_t at) {
  return static_cast<uint8_t>(b[at]);
}

template <size_t N>
uint64_t load(std::string_view b, size_t at, bool big) {
  uint64_t v = 0;
  for (size_t i = 0; i < N; ++i) {
    const uint64_t byte = byte_at(b, at + (big ? i : N - 1 - i));
    v = v << 8 | byte;
  }
  return v;
}

std::array<uint32_t, 256> make_table(uint32_t poly) {
  std::array<uint32_t, 256> t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ poly : c >> 1;
    t[i] = c;
  }
  return t;
}

uint32_t crc_raw(const std::array<uint32_t, 256>& t, std::string_view data) {
  uint32_t c = 0xffffffffu;
  for (char ch : data) c = t[(c ^ static_cast<uint8_t>(ch)) & 0xff] ^ (c >> 8);
  return c;
}

void put_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xc0 | cp >> 6);
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xe0 | cp >> 12);
    out += static_cast<char>(0x80 | (cp >> 6 & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else {
    out += static_cast<char>(0xf0 | cp >> 18);
    out += static_cast<char>(0x80 | (cp >> 12 & 0x3f));
    out += static_cast<char>(0x80 | (cp >> 6 & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  }
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

uint16_t le16(std::string_view b, size_t at) {
  return static_cast<uint16_t>(load<2>(b, at, false));
}
uint32_t le32(std::string_view b, size_t at) {
  return static_cast<uint32_t>(load<4>(b, at, false));
}
uint64_t le64(std::string_view b, size_t at) {
  return load<8>(b, at, false);
}
uint16_t be16(std::string_view b, size_t at) {
  return static_cast<uint16_t>(load<2>(b, at, true));
}
uint32_t be32(std::string_view b, size_t at) {
  return static_cast<uint32_t>(load<4>(b, at, true));
}
uint64_t be64(std::string_view b, size_t at) {
  return load<8>(b, at, true);
}

std::string uuid_string(std::string_view b) {
  char out[37];
  std::snprintf(
      out, sizeof(out), "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
      byte_at(b, 0), byte_at(b, 1), byte_at(b, 2), byte_at(b, 3), byte_at(b, 4), byte_at(b, 5),
      byte_at(b, 6), byte_at(b, 7), byte_at(b, 8), byte_at(b, 9), byte_at(b, 10), byte_at(b, 11),
      byte_at(b, 12), byte_at(b, 13), byte_at(b, 14), byte_at(b, 15));
  return out;
}

std::string guid_string(std::string_view g) {
  std::string u{g[3], g[2], g[1], g[0], g[5], g[4], g[7], g[6]};
  u.append(g.substr(8, 8));
  return uuid_string(u);
}

std::optional<std::string> parse_uuid(std::string_view s) {
  std::string_view body;
  bool dashed = true;
  if (s.size() == 36) {
    body = s;
  } else if (s.size() == 38 && s.front() == '{' && s.back() == '}') {
    body = s.substr(1, 36);
  } else if (s.size() == 45 && (s.substr(0, 9) == "urn:uuid:" || s.substr(0, 9) == "URN:UUID:")) {
    body = s.substr(9);
  } else if (s.size() == 32) {
    body = s;
    dashed = false;
  } else {
    return std::nullopt;
  }
  std::string raw;
  for (size_t i = 0; i < body.size();) {
    if (dashed && (i == 8 || i == 13 || i == 18 || i == 23)) {
      if (body[i] != '-') return std::nullopt;
      ++i;
      continue;
    }
    const int hi = hex_value(body[i]), lo = hex_value(body[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    raw += static_cast<char>(hi << 4 | lo);
    i += 2;
  }
  return uuid_string(raw);
}

std::optional<std::string> c_label(std::string_view field) {
  if (field.empty() || field[0] == '\0') return std::nullopt;
  return std::string(field.substr(0, field.find('\0')));
}

std::string utf16_to_utf8(std::string_view b, bool big_endian) {
  std::string out;
  const size_t units = b.size() / 2;
  auto unit = [&](size_t i) { return big_endian ? be16(b, 2 * i) : le16(b, 2 * i); };
  for (size_t i = 0; i < units; ++i) {
    const uint32_t u = unit(i);
    if (u >= 0xd800 && u < 0xdc00 && i + 1 < units && unit(i + 1) >= 0xdc00 &&
        unit(i + 1) < 0xe000) {
      put_utf8(out, 0x10000 + ((u - 0xd800) << 10) + (unit(i + 1) - 0xdc00));
      ++i;
    } else if (u >= 0xd800 && u < 0xe000) {
      put_utf8(out, 0xfffd);
    } else {
      put_utf8(out, u);
    }
  }
  if (b.size() % 2) put_utf8(out, 0xfffd);
  return out;
}

uint32_t crc32_ieee(std::string_view data) {
  static const auto table = make_table(0xedb88320u);
  return ~crc_raw(table, data);
}

uint32_t crc32c_linux(std::string_view data) {
  static const auto table = make_table(0x82f63b78u);
  return crc_raw(table, data);
}

bool is_power_of_2(uint64_t v) {
  return v != 0 && (v & (v - 1)) == 0;
}

}  // namespace cryptnode::blkid::internal
