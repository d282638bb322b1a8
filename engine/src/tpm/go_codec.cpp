#include "go_codec.h"

#include <cstdio>

#include "cryptnode/engine/error.h"

namespace cryptnode::tpm::detail {

namespace {

int b64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

[[noreturn]] void corrupt_at(size_t i) {
  throw Error(Code::kCorrupt, "illegal base64 data at input byte " + std::to_string(i));
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

[[noreturn]] void invalid_hex(unsigned char c) {
  char buf[32];
  if (c >= 0x20 && c < 0x7f)
    std::snprintf(buf, sizeof(buf), "U+%04X '%c'", c, c);
  else
    std::snprintf(buf, sizeof(buf), "U+%04X", c);
  throw Error(Code::kCorrupt, std::string("encoding/hex: invalid byte: ") + buf);
}

}  // namespace

Bytes go_base64_decode(const std::string& s) {
  Bytes out;
  uint32_t acc = 0;
  int have = 0;           // sextets in the current quantum
  size_t quantum_at = 0;  // index of the quantum's first character
  size_t i = 0;
  for (; i < s.size(); ++i) {
    char c = s[i];
    if (c == '\r' || c == '\n') continue;
    if (c == '=') {
      // Padding: only after 2 or 3 sextets; after 2 a second '=' must follow.
      if (have < 2) corrupt_at(i);
      size_t j = i + 1;
      if (have == 2) {
        while (j < s.size() && (s[j] == '\r' || s[j] == '\n')) ++j;
        if (j >= s.size()) corrupt_at(s.size());
        if (s[j] != '=') corrupt_at(j - 1);
        ++j;
      }
      while (j < s.size() && (s[j] == '\r' || s[j] == '\n')) ++j;
      if (j < s.size()) corrupt_at(j);  // data after the padding
      if (have == 2) {
        out.push_back(static_cast<uint8_t>(acc >> 4));
      } else {
        out.push_back(static_cast<uint8_t>(acc >> 10));
        out.push_back(static_cast<uint8_t>(acc >> 2));
      }
      return out;
    }
    int v = b64_value(c);
    if (v < 0) corrupt_at(i);
    if (have == 0) quantum_at = i;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    if (++have == 4) {
      out.push_back(static_cast<uint8_t>(acc >> 16));
      out.push_back(static_cast<uint8_t>(acc >> 8));
      out.push_back(static_cast<uint8_t>(acc));
      acc = 0;
      have = 0;
    }
  }
  if (have != 0) corrupt_at(quantum_at);  // an unpadded final quantum
  return out;
}

Bytes go_hex_decode(const std::string& s) {
  Bytes out;
  size_t j = 1;
  for (; j < s.size(); j += 2) {
    int a = hex_value(s[j - 1]), b = hex_value(s[j]);
    if (a < 0) invalid_hex(static_cast<unsigned char>(s[j - 1]));
    if (b < 0) invalid_hex(static_cast<unsigned char>(s[j]));
    out.push_back(static_cast<uint8_t>(a << 4 | b));
  }
  if (s.size() % 2 == 1) {
    if (hex_value(s[j - 1]) < 0) invalid_hex(static_cast<unsigned char>(s[j - 1]));
    throw Error(Code::kCorrupt, "encoding/hex: odd length hex string");
  }
  return out;
}

}  // namespace cryptnode::tpm::detail
