// `cryptsetup luksDump` of a volume, as JSON: the LUKS2 metadata with the KDF salts and digests
// left out, plus "cipher" and "sector_size" of segment 0.
#include <functional>
#include <nlohmann/json.hpp>

#include "cryptnode/engine/error.h"
#include "cryptnode/engine/luks2.h"
#include "machine_state.h"

namespace cryptnode::controller {

std::string Machine::luks_dump(const std::string& volume) {
  std::string device;
  auto it = s_->statuses.find(volume);
  if (it != s_->statuses.end() && !it->second.location.empty()) device = it->second.location;
  if (device.empty()) {
    auto parts = s_->host.partitions();
    auto p = parts.find(volume);
    if (p == parts.end()) throw Error(Code::kNotFound, "volume \"" + volume + "\" not found");
    device = p->second;
  }
  if (s_->host.probe(device) != "luks")
    throw Error(Code::kNotFound, "volume \"" + volume + "\" is not encrypted (no LUKS2 header)");
  luks2::Device d = luks2::Device::load(device);
  // Ordered: the keys stay in the header's (and each token's) order, as luksDump shows them.
  nlohmann::ordered_json j = nlohmann::ordered_json::parse(d.header_json());
  std::function<void(nlohmann::ordered_json&)> strip = [&](nlohmann::ordered_json& n) {
    if (n.is_object()) {
      for (const char* k : {"salt", "digest"}) n.erase(k);
      for (auto& [k, v] : n.items()) strip(v);
    } else if (n.is_array()) {
      for (auto& v : n) strip(v);
    }
  };
  strip(j);
  j["cipher"] = d.cipher();
  j["sector_size"] = d.sector_size();
  return j.dump();
}

}  // namespace cryptnode::controller
