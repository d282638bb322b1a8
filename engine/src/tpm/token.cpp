// The talos-tpm2 token: TPMToken (internal/pkg/encryption/keys/tpm2.go) inside go-blockdevice's
// luks.Token (encryption/luks/token.go), as Go's encoding/json writes and reads it.
#include "cryptnode/engine/tpm/token.h"

#include <nlohmann/json.hpp>
#include <set>

#include "cryptnode/engine/error.h"
#include "cryptnode/engine/keys/kms_handler.h"
#include "go_codec.h"

namespace cryptnode::tpm {

namespace {

using json = nlohmann::json;

std::string b64(const Bytes& b) {
  return keys::base64_encode(b.data(), b.size());
}

std::string int_list(const std::vector<int>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + std::to_string(v[i]);
  return s + "]";
}

std::string value_kind(const json& j) {
  if (j.is_string()) return "string";
  if (j.is_boolean()) return "bool";
  if (j.is_array()) return "array";
  if (j.is_object()) return "object";
  if (j.is_number()) return "number " + j.dump();
  return "null";
}

[[noreturn]] void type_error(const json& v, const std::string& field, const std::string& type) {
  throw Error(Code::kCorrupt, "json: cannot unmarshal " + value_kind(v) +
                                  " into Go struct field TPMToken." + field + " of type " + type);
}

std::vector<int> int_slice(const json& v, const std::string& field) {
  if (!v.is_array()) type_error(v, field, "[]int");
  std::vector<int> out;
  for (const json& e : v) {
    if (!e.is_number_integer()) type_error(e, field, "int");
    out.push_back(e.get<int>());
  }
  return out;
}

Bytes byte_slice(const json& v, const std::string& field) {
  if (!v.is_string()) type_error(v, field, "[]uint8");
  return detail::go_base64_decode(v.get<std::string>());  // Go's text, as json.Unmarshal gives it
}

std::string string_field(const json& v, const std::string& field) {
  if (!v.is_string()) type_error(v, field, "string");
  return v.get<std::string>();
}

[[noreturn]] void damaged(const std::string& what) {
  throw Error(Code::kCorrupt, "talos-tpm2 token: " + what);
}

}  // namespace

TpmToken TpmToken::from_sealed(int slot, const SealedResponse& r) {
  TpmToken t;
  t.key_slots = {slot};
  t.sealed_blob_private = r.sealed_blob_private;
  t.sealed_blob_public = r.sealed_blob_public;
  t.alg = r.alg;
  t.encryption_version = r.encryption_version;
  t.pub_key_pcrs = r.pub_key_pcrs;
  t.pcrs = r.pcrs;
  t.policy_hash = r.policy_digest;
  t.key_name = r.key_name;
  return t;
}

SealedResponse TpmToken::to_sealed() const {
  // GetKey copies these (Alg is not carried over).
  SealedResponse r;
  r.sealed_blob_private = sealed_blob_private;
  r.sealed_blob_public = sealed_blob_public;
  r.policy_digest = policy_hash;
  r.key_name = key_name;
  r.pcrs = pcrs.value_or(std::vector<int>{});
  r.pub_key_pcrs = pub_key_pcrs.value_or(std::vector<int>{});
  r.encryption_version = encryption_version;
  return r;
}

std::string TpmToken::to_json() const {
  std::string u = "{\"keyslots\":" + int_list(key_slots);
  u += ",\"sealed_blob_private\":\"" + b64(sealed_blob_private) + "\"";
  u += ",\"sealed_blob_public\":\"" + b64(sealed_blob_public) + "\"";
  if (pcrs && !pcrs->empty()) u += ",\"pcrs\":" + int_list(*pcrs);
  u += ",\"pubkey_pcrs\":" + (pub_key_pcrs ? int_list(*pub_key_pcrs) : std::string("null"));
  u += ",\"alg\":" + json(alg).dump();
  if (!encryption_version.empty())
    u += ",\"encryption_version\":" + json(encryption_version).dump();
  u += ",\"policy_hash\":\"" + b64(policy_hash) + "\"";
  u += ",\"key_name\":\"" + b64(key_name) + "\"}";
  return "{\"UserData\":" + u + ",\"type\":\"" + kTokenTypeTPM + "\",\"keyslots\":[]}";
}

TpmToken TpmToken::parse(const std::string& text) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception&) {
    throw Error(Code::kTokenInvalid, "invalid token");
  }
  if (!j.is_object() || !j.contains("type") || !j["type"].is_string() ||
      j["type"].get<std::string>() != kTokenTypeTPM)
    throw Error(Code::kTokenInvalid, "invalid token");
  if (!j.contains("UserData") || j["UserData"].is_null()) damaged("missing \"UserData\"");
  const json& u = j["UserData"];
  if (!u.is_object()) damaged("\"UserData\" is not an object");

  static const std::set<std::string> known = {
      "keyslots", "sealed_blob_private", "sealed_blob_public", "pcrs",    "pubkey_pcrs",
      "alg",      "encryption_version",  "policy_hash",        "key_name"};
  for (const auto& [k, v] : u.items())
    if (!known.count(k)) damaged("unknown field \"" + k + "\" in UserData");
  for (const char* required :
       {"keyslots", "sealed_blob_private", "sealed_blob_public", "alg", "policy_hash", "key_name"})
    if (!u.contains(required) || u[required].is_null())
      damaged(std::string("missing field \"") + required + "\" in UserData");

  TpmToken t;
  t.key_slots = int_slice(u["keyslots"], "keyslots");
  t.sealed_blob_private = byte_slice(u["sealed_blob_private"], "sealed_blob_private");
  t.sealed_blob_public = byte_slice(u["sealed_blob_public"], "sealed_blob_public");
  if (u.contains("pcrs") && !u["pcrs"].is_null()) t.pcrs = int_slice(u["pcrs"], "pcrs");
  if (u.contains("pubkey_pcrs") && !u["pubkey_pcrs"].is_null())
    t.pub_key_pcrs = int_slice(u["pubkey_pcrs"], "pubkey_pcrs");
  t.alg = string_field(u["alg"], "alg");
  if (u.contains("encryption_version") && !u["encryption_version"].is_null())
    t.encryption_version = string_field(u["encryption_version"], "encryption_version");
  t.policy_hash = byte_slice(u["policy_hash"], "policy_hash");
  t.key_name = byte_slice(u["key_name"], "key_name");
  return t;
}

}  // namespace cryptnode::tpm
