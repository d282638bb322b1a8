#include "cryptnode/engine/keys/encryption_salt.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cctype>
#include <string>

#include "cryptnode/engine/error.h"

namespace cryptnode::keys {
namespace {

[[noreturn]] void corrupt(const std::string& what) {
  throw Error(Code::kCorrupt, std::string(kEncryptionSaltFilename) + ": " + what);
}

}  // namespace

Secret generate_salt(RandomSource& random) {
  Secret s(kDiskEncryptionSaltSize);
  random.fill(s.data(), s.size());
  return s;
}

Secret marshal_salt_yaml(const Secret& salt) {
  Secret out(std::string_view("diskSalt:\n"));
  for (size_t i = 0; i < salt.size(); ++i) {
    std::string line = "    - " + std::to_string(salt.data()[i]) + "\n";
    out.append(reinterpret_cast<const uint8_t*>(line.data()), line.size());
    wipe(line.data(), line.size());
  }
  return out;
}

Secret parse_salt_yaml(std::string_view text) {
  // A strict reader of the one shape Talos writes (and any indentation of it); never echoes the
  // content in errors.
  size_t pos = 0;
  auto next_line = [&](std::string_view& line) {
    if (pos >= text.size()) return false;
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    line = text.substr(pos, end - pos);
    pos = end + 1;
    return true;
  };
  std::string_view line;
  bool header = false;
  while (next_line(line)) {
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    if (line.rfind("diskSalt:", 0) != 0) corrupt("expected a \"diskSalt\" list");
    header = true;
    break;
  }
  if (!header) corrupt("expected a \"diskSalt\" list");
  Secret salt;
  size_t lineno = 1;
  while (next_line(line)) {
    ++lineno;
    size_t i = line.find_first_not_of(" \t");
    if (i == std::string_view::npos) continue;
    if (line[i] != '-') corrupt("line " + std::to_string(lineno) + ": expected a list item");
    ++i;
    while (i < line.size() && line[i] == ' ') ++i;
    unsigned v = 0;
    size_t digits = 0;
    while (i < line.size() && std::isdigit(static_cast<unsigned char>(line[i])) && digits < 4) {
      v = v * 10 + static_cast<unsigned>(line[i] - '0');
      ++i, ++digits;
    }
    while (i < line.size() && (line[i] == ' ' || line[i] == '\r')) ++i;
    if (digits == 0 || i != line.size() || v > 255)
      corrupt("line " + std::to_string(lineno) + ": not a byte value (0-255)");
    uint8_t b = static_cast<uint8_t>(v);
    salt.append(&b, 1);
  }
  bool zero = true;
  for (size_t k = 0; k < salt.size(); ++k) zero &= salt.data()[k] == 0;
  if (zero)
    throw Error(Code::kCorrupt,
                "value of \"encryption-salt.yaml\" is still zero after unmarshaling");
  if (salt.size() != kDiskEncryptionSaltSize)
    corrupt("salt has " + std::to_string(salt.size()) + " bytes, expected " +
            std::to_string(kDiskEncryptionSaltSize));
  return salt;
}

std::string salt_checksum(const Secret& salt) {
  static const char msg[] = "encryption salt checksum";
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), salt.data(), static_cast<int>(salt.size()),
       reinterpret_cast<const unsigned char*>(msg), sizeof(msg) - 1, mac, &len);
  static const char hex[] = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < len; ++i) {
    out += hex[mac[i] >> 4];
    out += hex[mac[i] & 15];
  }
  return out;
}

}  // namespace cryptnode::keys
