#include "cryptnode/engine/header_validation.h"

#include <cstring>
#include <map>
#include <nlohmann/json.hpp>

#include "cryptnode/engine/error.h"

namespace cryptnode::luks2 {
namespace {

constexpr size_t kBinaryHeaderSize = 4096;

uint64_t be64(const unsigned char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = v << 8 | p[i];
  return v;
}

[[noreturn]] void invalid(const std::string& what) {
  throw Error(Code::kHeaderValidation, "LUKS2 header validation error: " + what);
}

[[noreturn]] void fail(const std::string& what) {
  throw Error(Code::kHeaderValidation, what);
}

std::string trim(std::string s) {
  // bytes.Trim(bytes.TrimSpace(area), "\x00")
  auto space = [](char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
  };
  size_t b = 0, e = s.size();
  while (b < e && space(s[b])) ++b;
  while (e > b && space(s[e - 1])) --e;
  while (b < e && s[b] == '\0') ++b;
  while (e > b && s[e - 1] == '\0') --e;
  return s.substr(b, e - b);
}

bool valid_cipher(const std::string& c) {
  return c == "aes-xts-plain64" || c == "xchacha12,aes-adiantum-plain64" ||
         c == "xchacha20,aes-adiantum-plain64";
}

std::string go_quote(const std::string& s) {
  return "\"" + s + "\"";
}

void validate(const unsigned char* sb, const nlohmann::json& meta, bool reject_argon2i) {
  unsigned version = static_cast<unsigned>(sb[6]) << 8 | sb[7];
  if (version != 2) invalid("unexpected LUKS2 primary header version: " + std::to_string(version));
  const auto& keyslots = meta.contains("keyslots") ? meta["keyslots"] : nlohmann::json::object();
  if (!keyslots.is_object() || keyslots.empty()) invalid("no keyslots found");
  // Go iterates a map (random order); cryptnode checks in numeric slot order.
  std::map<int, std::string> order;
  for (auto it = keyslots.begin(); it != keyslots.end(); ++it)
    order[std::atoi(it.key().c_str())] = it.key();
  for (const auto& [n, id] : order) {
    const auto& ks = keyslots[id];
    std::string type = ks.value("type", "");
    if (type != "luks2") invalid("keyslot " + id + " has unexpected type " + go_quote(type));
    std::string area = ks.contains("area") ? ks["area"].value("encryption", "") : "";
    if (!valid_cipher(area))
      invalid("keyslot " + id + " has unexpected area encryption " + go_quote(area));
    std::string kdf = ks.contains("kdf") ? ks["kdf"].value("type", "") : "";
    if (kdf != "argon2id" && (kdf != "argon2i" || reject_argon2i))
      invalid("keyslot " + id + " has unexpected KDF type " + go_quote(kdf));
  }
  const auto& segments = meta.contains("segments") ? meta["segments"] : nlohmann::json::object();
  if (segments.size() != 1) invalid("expected 1 segment, got " + std::to_string(segments.size()));
  if (!segments.contains("0")) invalid("segment 0 not found");
  const auto& seg = segments["0"];
  std::string type = seg.value("type", "");
  if (type != "crypt") invalid("segment 0 has unexpected type " + go_quote(type));
  std::string enc = seg.value("encryption", "");
  if (!valid_cipher(enc)) invalid("segment 0 has unexpected encryption " + go_quote(enc));
  if (seg.contains("flags") && seg["flags"].is_array() && !seg["flags"].empty()) {
    std::string flags = "[";
    for (size_t i = 0; i < seg["flags"].size(); ++i)
      flags += (i ? " " : "") + seg["flags"][i].get<std::string>();
    invalid("segment 0 has unexpected flags: " + flags + "]");
  }
}

}  // namespace

ValidatedHeader validate_header(BlockDevice& dev, bool reject_argon2i) {
  if (dev.size() < 2 * kBinaryHeaderSize)
    fail(dev.path() + ": device too small for a LUKS2 header");
  unsigned char sb1[kBinaryHeaderSize], sb2[kBinaryHeaderSize];
  dev.read_at(0, sb1, sizeof(sb1));
  if (std::memcmp(sb1, "LUKS\xba\xbe", 6) != 0)
    fail("invalid LUKS2 header magic (is \"" + dev.path() + "\" a LUKS device?)");
  const uint64_t hdr_size = be64(sb1 + 8);
  if (hdr_size <= kBinaryHeaderSize || hdr_size > (4u << 20) || 2 * hdr_size > dev.size())
    fail(dev.path() + ": invalid LUKS2 header size " + std::to_string(hdr_size));
  std::string json1(hdr_size - kBinaryHeaderSize, '\0'), json2(json1.size(), '\0');
  dev.read_at(kBinaryHeaderSize, json1.data(), json1.size());
  dev.read_at(hdr_size, sb2, sizeof(sb2));
  dev.read_at(hdr_size + kBinaryHeaderSize, json2.data(), json2.size());
  json1 = trim(json1);
  json2 = trim(json2);

  // The data offset, from whichever JSON parses (the rest may be damaged).
  nlohmann::json m1 = nlohmann::json::parse(json1, nullptr, false);
  nlohmann::json m2 = nlohmann::json::parse(json2, nullptr, false);
  const nlohmann::json& any = !m1.is_discarded() ? m1 : m2;
  if (m1.is_discarded() && m2.is_discarded()) fail("failed to unmarshal JSON area of both headers");
  std::string offset;
  if (any.contains("segments") && any["segments"].contains("0"))
    offset = any["segments"]["0"].value("offset", "");
  if (offset.empty() || offset.find_first_not_of("0123456789") != std::string::npos)
    fail("invalid data offset: \"" + offset + "\"");
  if (std::stoull(offset) == 0) fail("unexpected zero data offset");

  const uint64_t seq1 = be64(sb1 + 16), seq2 = be64(sb2 + 16);
  if (seq1 == seq2 && json1 != json2)
    fail("LUKS2 headers have the same seqid but different JSON areas");
  ValidatedHeader out;
  const unsigned char* selected = sb1;
  out.seqid = seq1;
  out.json = json1;
  nlohmann::json* meta = &m1;
  if (seq1 < seq2) {
    selected = sb2;
    out.selected = 2;
    out.seqid = seq2;
    out.json = json2;
    meta = &m2;
  }
  if (meta->is_discarded()) fail("failed to unmarshal JSON area");
  validate(selected, *meta, reject_argon2i);
  return out;
}

ValidatedHeader validate_header(const std::string& path, Env& env, bool reject_argon2i) {
  auto dev = env.open_block(path, false);
  return validate_header(*dev, reject_argon2i);
}

}  // namespace cryptnode::luks2
