#include "cryptnode/engine/state_encryption_meta.h"

#include <nlohmann/json.hpp>

#include "cryptnode/engine/error.h"

namespace cryptnode::meta {
namespace {

using nlohmann::json;

std::string go_bool_ptr(const std::optional<bool>& b) {
  return b ? (*b ? "true" : "false") : "null";
}

std::string go_int_list(const std::optional<std::vector<int>>& v) {
  if (!v) return "null";
  std::string out = "[";
  for (size_t i = 0; i < v->size(); ++i) out += (i ? "," : "") + std::to_string((*v)[i]);
  return out + "]";
}

std::string go_str_list(const std::vector<std::string>& v) {
  if (v.empty()) return "null";  // a nil slice (yaml leaves it nil when absent)
  std::string out = "[";
  for (size_t i = 0; i < v.size(); ++i) out += (i ? "," : "") + go_json_string(v[i]);
  return out + "]";
}

std::string static_json(const config::EncryptionKey& k) {
  if (!k.static_key) return "null";
  return "{\"KeyData\":" + go_json_string(k.static_key->passphrase.view()) + "}";
}

std::string kms_json(const config::EncryptionKey& k) {
  return k.kms ? "{\"KMSEndpoint\":" + go_json_string(k.kms->endpoint) + "}" : "null";
}

std::string tpm_json(const config::EncryptionKey& k, bool legacy) {
  if (!k.tpm) return "null";
  const std::string check = "\"TPMCheckSecurebootStatusOnEnroll\":" +
                            go_bool_ptr(k.tpm->check_secureboot_status_on_enroll);
  if (legacy) return "{" + check + "}";
  std::string opts = "null";
  if (k.tpm->options) opts = "{\"PCRs\":" + go_int_list(k.tpm->options->pcrs) + "}";
  return "{\"TPMOptions\":" + opts + "," + check + "}";
}

std::string modern_key(const config::EncryptionKey& k) {
  return "{\"KeySlot\":" + std::to_string(k.slot) + ",\"KeyStatic\":" + static_json(k) +
         ",\"KeyNodeID\":" + (k.node_id ? "{}" : "null") + ",\"KeyKMS\":" + kms_json(k) +
         ",\"KeyTPM\":" + tpm_json(k, false) +
         ",\"KeyLockToSTATE\":" + go_bool_ptr(k.lock_to_state) + "}";
}

std::string legacy_key(const config::EncryptionKey& k) {
  return "{\"KeyStatic\":" + static_json(k) + ",\"KeyNodeID\":" + (k.node_id ? "{}" : "null") +
         ",\"KeyKMS\":" + kms_json(k) + ",\"KeySlot\":" + std::to_string(k.slot) +
         ",\"KeyTPM\":" + tpm_json(k, true) + "}";
}

// --- reading ----------------------------------------------------------------------------------

std::optional<bool> opt_bool(const json& j, const char* key) {
  if (!j.contains(key) || j[key].is_null()) return std::nullopt;
  return j[key].get<bool>();
}

config::EncryptionKey read_key(const json& j) {
  config::EncryptionKey k;
  k.slot = j.value("KeySlot", 0);
  if (j.contains("KeyStatic") && !j["KeyStatic"].is_null())
    k.static_key = config::KeyStatic{Secret(j["KeyStatic"].value("KeyData", std::string()))};
  k.node_id = j.contains("KeyNodeID") && !j["KeyNodeID"].is_null();
  if (j.contains("KeyKMS") && !j["KeyKMS"].is_null())
    k.kms = config::KeyKMS{j["KeyKMS"].value("KMSEndpoint", std::string())};
  if (j.contains("KeyTPM") && !j["KeyTPM"].is_null()) {
    const json& t = j["KeyTPM"];
    config::KeyTPM tpm;
    if (t.contains("TPMOptions") && !t["TPMOptions"].is_null()) {
      config::KeyTPM::Options o;
      if (t["TPMOptions"].contains("PCRs") && !t["TPMOptions"]["PCRs"].is_null())
        o.pcrs = t["TPMOptions"]["PCRs"].get<std::vector<int>>();
      tpm.options = o;
    }
    tpm.check_secureboot_status_on_enroll = opt_bool(t, "TPMCheckSecurebootStatusOnEnroll");
    k.tpm = tpm;
  }
  k.lock_to_state = opt_bool(j, "KeyLockToSTATE");
  return k;
}

config::EncryptionSpec read_spec(const json& j, bool legacy) {
  config::EncryptionSpec s;
  s.legacy = legacy;
  s.provider = j.value("EncryptionProvider", std::string());
  if (j.contains("EncryptionKeys") && j["EncryptionKeys"].is_array())
    for (const json& k : j["EncryptionKeys"]) s.keys.push_back(read_key(k));
  s.cipher = j.value("EncryptionCipher", std::string());
  s.key_size = j.value("EncryptionKeySize", uint64_t{0});
  s.block_size = j.value("EncryptionBlockSize", uint64_t{0});
  if (j.contains("EncryptionPerfOptions") && j["EncryptionPerfOptions"].is_array())
    s.perf_options = j["EncryptionPerfOptions"].get<std::vector<std::string>>();
  s.allow_discards = opt_bool(j, "EncryptionAllowDiscards");
  return s;
}

}  // namespace

std::string go_json_string(std::string_view s) {
  static const char hex[] = "0123456789abcdef";
  std::string out = "\"";
  for (size_t i = 0; i < s.size();) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      switch (c) {
        case '"':
          out += "\\\"";
          break;
        case '\\':
          out += "\\\\";
          break;
        case '\n':
          out += "\\n";
          break;
        case '\r':
          out += "\\r";
          break;
        case '\t':
          out += "\\t";
          break;
        case '<':
          out += "\\u003c";
          break;
        case '>':
          out += "\\u003e";
          break;
        case '&':
          out += "\\u0026";
          break;
        default:
          if (c < 0x20) {
            out += "\\u00";
            out += hex[c >> 4];
            out += hex[c & 15];
          } else {
            out += static_cast<char>(c);
          }
      }
      ++i;
      continue;
    }
    size_t len = (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
    bool ok = len > 0 && i + len <= s.size();
    for (size_t k = 1; ok && k < len; ++k)
      ok = (static_cast<unsigned char>(s[i + k]) & 0xc0) == 0x80;
    if (!ok) {
      out += "\\ufffd";
      ++i;
      continue;
    }
    std::string_view rune = s.substr(i, len);
    if (rune == "\xe2\x80\xa8") {
      out += "\\u2028";
    } else if (rune == "\xe2\x80\xa9") {
      out += "\\u2029";
    } else {
      out += rune;
    }
    i += len;
  }
  return out + "\"";
}

std::string marshal_state_encryption(const std::optional<config::EncryptionSpec>& spec) {
  if (!spec) return "null";
  const config::EncryptionSpec& s = *spec;
  std::string keys;
  if (s.keys.empty()) {
    keys = "null";
  } else {
    keys = "[";
    for (size_t i = 0; i < s.keys.size(); ++i)
      keys += (i ? "," : "") + (s.legacy ? legacy_key(s.keys[i]) : modern_key(s.keys[i]));
    keys += "]";
  }
  std::string out = "{\"EncryptionProvider\":" + go_json_string(s.provider) +
                    ",\"EncryptionKeys\":" + keys +
                    ",\"EncryptionCipher\":" + go_json_string(s.cipher) +
                    ",\"EncryptionKeySize\":" + std::to_string(s.key_size) +
                    ",\"EncryptionBlockSize\":" + std::to_string(s.block_size) +
                    ",\"EncryptionPerfOptions\":" + go_str_list(s.perf_options);
  if (!s.legacy) out += ",\"EncryptionAllowDiscards\":" + go_bool_ptr(s.allow_discards);
  return out + "}";
}

std::optional<config::EncryptionSpec> unmarshal_state_encryption(std::string_view text) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    throw Error(Code::kCorrupt,
                std::string("error unmarshalling state encryption meta key: ") + e.what());
  }
  if (j.is_null()) return std::nullopt;
  if (!j.is_object())
    throw Error(Code::kCorrupt, "error unmarshalling state encryption meta key: not an object");
  try {
    // Modern shape first: EncryptionProvider must be an EncryptionProviderType value.
    const std::string provider = j.value("EncryptionProvider", std::string());
    config::EncryptionSpec s;
    if (provider == "luks2" || provider == "none")
      s = read_spec(j, false);
    else  // "does not belong to EncryptionProviderType values": the legacy struct (#11502)
      s = read_spec(j, true);
    if (!s.enabled()) return std::nullopt;
    return s;
  } catch (const json::exception& e) {
    throw Error(Code::kCorrupt,
                std::string("error unmarshalling state encryption meta key: ") + e.what());
  }
}

}  // namespace cryptnode::meta
