#include "cryptnode/engine/header_validation.h"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <nlohmann/json.hpp>
#include <optional>
#include <vector>

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

const char* json_kind(const nlohmann::json& j) {
  if (j.is_object()) return "object";
  if (j.is_array()) return "array";
  if (j.is_string()) return "string";
  if (j.is_number()) return "number";
  if (j.is_boolean()) return "bool";
  return "null";
}

// Go decodes the JSON areas into typed structs (encoding/json): a value of another JSON type than
// the field's is an unmarshal error, never a crash. `want` is the Go kind the field takes
// ("object", "string", "array"); null decodes to the zero value.
std::optional<std::string> type_error(const nlohmann::json& j, const char* want,
                                      const std::string& field) {
  if (j.is_null() || json_kind(j) == std::string_view(want)) return std::nullopt;
  return "json: cannot unmarshal " + std::string(json_kind(j)) + " into " + field + " of kind " +
         want;
}

// The fields validateHeader reads, checked for their Go types before they are read (Go's
// json.Unmarshal fails on the first mismatch, the JSON area is then not validated at all).
std::optional<std::string> metadata_type_error(const nlohmann::json& meta) {
  if (auto e = type_error(meta, "object", "JSONMetadata")) return e;
  if (!meta.is_object()) return std::nullopt;
  auto find = [](const nlohmann::json& o, const char* key) -> const nlohmann::json* {
    auto it = o.find(key);
    return it == o.end() ? nullptr : &*it;
  };
  auto fields = [&](const nlohmann::json& o, const std::string& where,
                    std::initializer_list<std::pair<const char*, const char*>> list)
      -> std::optional<std::string> {
    if (auto e = type_error(o, "object", where)) return e;
    if (!o.is_object()) return std::nullopt;
    for (const auto& [key, kind] : list)
      if (const nlohmann::json* v = find(o, key))
        if (auto e = type_error(*v, kind, where + "." + key)) return e;
    return std::nullopt;
  };
  if (const nlohmann::json* keyslots = find(meta, "keyslots")) {
    if (auto e = type_error(*keyslots, "object", "keyslots")) return e;
    if (keyslots->is_object())
      for (const auto& [id, ks] : keyslots->items()) {
        const std::string where = "keyslots." + id;
        if (auto e = fields(ks, where, {{"type", "string"}, {"area", "object"}, {"kdf", "object"}}))
          return e;
        if (!ks.is_object()) continue;
        if (const nlohmann::json* area = find(ks, "area"))
          if (auto e = fields(*area, where + ".area", {{"encryption", "string"}})) return e;
        if (const nlohmann::json* kdf = find(ks, "kdf"))
          if (auto e = fields(*kdf, where + ".kdf", {{"type", "string"}})) return e;
      }
  }
  if (const nlohmann::json* segments = find(meta, "segments")) {
    if (auto e = type_error(*segments, "object", "segments")) return e;
    if (segments->is_object())
      for (const auto& [id, seg] : segments->items()) {
        const std::string where = "segments." + id;
        if (auto e = fields(seg, where,
                            {{"type", "string"},
                             {"offset", "string"},
                             {"encryption", "string"},
                             {"flags", "array"}}))
          return e;
        if (!seg.is_object()) continue;
        if (const nlohmann::json* flags = find(seg, "flags"); flags && flags->is_array())
          for (const auto& f : *flags)
            if (auto e = type_error(f, "string", where + ".flags")) return e;
      }
  }
  return std::nullopt;
}

// Segment 0's offset as readHeader reads it (a struct holding only segments.*.offset); nullopt
// when that unmarshal fails.
std::optional<std::string> data_offset(const nlohmann::json& j) {
  if (j.is_discarded()) return std::nullopt;
  if (type_error(j, "object", "jsonOffsetMeta")) return std::nullopt;
  if (!j.is_object() || !j.contains("segments")) return std::string();
  const nlohmann::json& segments = j["segments"];
  if (type_error(segments, "object", "segments")) return std::nullopt;
  if (!segments.is_object()) return std::string();
  for (const auto& [id, seg] : segments.items()) {
    if (type_error(seg, "object", "segment")) return std::nullopt;
    if (seg.is_object() && seg.contains("offset") && type_error(seg["offset"], "string", "offset"))
      return std::nullopt;
  }
  if (!segments.contains("0") || !segments["0"].is_object()) return std::string();
  const nlohmann::json& offset = segments["0"].value("offset", nlohmann::json());
  return offset.is_string() ? offset.get<std::string>() : std::string();
}

// Field access after metadata_type_error() passed: a missing or null field reads as Go's zero
// value.
const nlohmann::json& member(const nlohmann::json& o, const char* key) {
  static const nlohmann::json kNull;
  if (!o.is_object()) return kNull;
  auto it = o.find(key);
  return it == o.end() ? kNull : *it;
}

std::string str(const nlohmann::json& o, const char* key) {
  const nlohmann::json& v = member(o, key);
  return v.is_string() ? v.get<std::string>() : std::string();
}

void validate(const unsigned char* sb, const nlohmann::json& meta, bool reject_argon2i) {
  unsigned version = static_cast<unsigned>(sb[6]) << 8 | sb[7];
  if (version != 2) invalid("unexpected LUKS2 primary header version: " + std::to_string(version));
  const nlohmann::json& keyslots = member(meta, "keyslots");
  if (!keyslots.is_object() || keyslots.empty()) invalid("no keyslots found");
  // Go iterates a map (random order); cryptnode checks every id in numeric order ("2" before
  // "10"; ids that are not numbers, or spelled with leading zeros, are checked too).
  std::vector<std::string> order;
  for (auto it = keyslots.begin(); it != keyslots.end(); ++it) order.push_back(it.key());
  std::stable_sort(order.begin(), order.end(),
                   [](const std::string& a, const std::string& b) { return a.size() < b.size(); });
  for (const std::string& id : order) {
    const nlohmann::json& ks = keyslots[id];
    std::string type = str(ks, "type");
    if (type != "luks2") invalid("keyslot " + id + " has unexpected type " + go_quote(type));
    std::string area = str(member(ks, "area"), "encryption");
    if (!valid_cipher(area))
      invalid("keyslot " + id + " has unexpected area encryption " + go_quote(area));
    std::string kdf = str(member(ks, "kdf"), "type");
    if (kdf != "argon2id" && (kdf != "argon2i" || reject_argon2i))
      invalid("keyslot " + id + " has unexpected KDF type " + go_quote(kdf));
  }
  const nlohmann::json& segments = member(meta, "segments");
  const size_t n = segments.is_object() ? segments.size() : 0;
  if (n != 1) invalid("expected 1 segment, got " + std::to_string(n));
  if (!segments.contains("0")) invalid("segment 0 not found");
  const nlohmann::json& seg = segments["0"];
  std::string type = str(seg, "type");
  if (type != "crypt") invalid("segment 0 has unexpected type " + go_quote(type));
  std::string enc = str(seg, "encryption");
  if (!valid_cipher(enc)) invalid("segment 0 has unexpected encryption " + go_quote(enc));
  const nlohmann::json& flags = member(seg, "flags");
  if (flags.is_array() && !flags.empty()) {
    std::string text = "[";  // Go's %v of a []string
    for (size_t i = 0; i < flags.size(); ++i)
      text += (i ? " " : "") + (flags[i].is_string() ? flags[i].get<std::string>() : "");
    invalid("segment 0 has unexpected flags: " + text + "]");
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

  // The data offset, from whichever JSON area unmarshals (the rest may be damaged).
  nlohmann::json m1 = nlohmann::json::parse(json1, nullptr, false);
  nlohmann::json m2 = nlohmann::json::parse(json2, nullptr, false);
  std::optional<std::string> offset = data_offset(m1);
  if (!offset) offset = data_offset(m2);
  if (!offset) fail("failed to unmarshal JSON area of both headers");
  // strconv.Atoi (int64): digits only here, and no more than fit.
  int64_t data_off = 0;
  const char* end = offset->data() + offset->size();
  const auto [ptr, ec] = std::from_chars(offset->data(), end, data_off);
  if (offset->empty() || ec == std::errc::invalid_argument || ptr != end || data_off < 0)
    fail("invalid data offset: strconv.Atoi: parsing \"" + *offset + "\": invalid syntax");
  if (ec == std::errc::result_out_of_range)
    fail("invalid data offset: strconv.Atoi: parsing \"" + *offset + "\": value out of range");
  if (data_off == 0) fail("unexpected zero data offset");

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
  if (auto e = metadata_type_error(*meta)) fail("failed to unmarshal JSON area: " + *e);
  validate(selected, *meta, reject_argon2i);
  return out;
}

ValidatedHeader validate_header(const std::string& path, Env& env, bool reject_argon2i) {
  auto dev = env.open_block(path, false);
  return validate_header(*dev, reject_argon2i);
}

}  // namespace cryptnode::luks2
