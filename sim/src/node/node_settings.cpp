#include "cryptnode/sim/node_settings.h"

#include <nlohmann/json.hpp>
#include <regex>
#include <set>

#include "cryptnode/engine/error.h"
#include "cryptnode/engine/versions.h"

namespace cryptnode::sim {
namespace {

void bad(const std::string& what) {
  throw Error(Code::kInvalidArgument, what);
}

}  // namespace

void NodeSettings::validate() const {
  static const std::regex uuid_re(
      "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$");
  // An empty UUID is allowed: Talos then fails nodeID keys with "machine UUID is not populated ".
  if (!uuid.empty() && !std::regex_match(uuid, uuid_re))
    bad("uuid: \"" + uuid + "\" is not a UUID (8-4-4-4-12 hex digits)");
  if (disks.empty()) bad("disks: a node needs at least a system disk");
  std::set<std::string> names;
  for (const auto& d : disks) {
    if (d.name.empty() || d.name.find('/') != std::string::npos)
      bad("disks: invalid disk name \"" + d.name + "\"");
    if (!names.insert(d.name).second) bad("disks: duplicate disk name \"" + d.name + "\"");
    if (d.size < (16u << 20)) bad("disks: disk \"" + d.name + "\" is smaller than 16 MiB");
  }
  if (pbkdf != "fast" && pbkdf != "production")
    bad("pbkdf: \"" + pbkdf + "\" is not one of fast, production");
  try {
    versions::Version::parse(talos_version);
  } catch (const Error& e) {
    bad(std::string("talos_version: ") + e.what());
  }
  if (backend != "auto" && backend != "kernel" && backend != "userspace")
    bad("backend: \"" + backend + "\" is not one of auto, kernel, userspace");
  if (uki_vendor.empty() ||
      uki_vendor.find_first_not_of(
          "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != std::string::npos)
    bad("uki_vendor: \"" + uki_vendor + "\" must be letters, digits, '.', '_' or '-'");
  if (layout != "compact" && layout != "talos")
    bad("layout: \"" + layout + "\" is not one of compact, talos");
  if (tpm_latency_ms < 0 || tpm_latency_ms > 3600 * 1000)
    bad("tpm_latency_ms: " + std::to_string(tpm_latency_ms) + " is not within 0..3600000");
  for (size_t i = 0; i < trusted_ca_pem.size(); ++i)
    if (trusted_ca_pem[i].find("-----BEGIN CERTIFICATE-----") == std::string::npos)
      bad("trusted_ca_pem: entry " + std::to_string(i) +
          " holds no PEM certificate (-----BEGIN CERTIFICATE-----)");
}

std::string NodeSettings::to_json() const {
  nlohmann::ordered_json j;
  j["format"] = "cryptnode-node/1";
  j["uuid"] = uuid;
  j["disks"] = nlohmann::ordered_json::array();
  for (const auto& d : disks)
    j["disks"].push_back({{"name", d.name}, {"size", d.size}, {"image", d.image}});
  j["tpm"] = tpm;
  j["secure_boot"] = secure_boot;
  j["setup_mode"] = setup_mode;
  j["pbkdf"] = pbkdf;
  j["talos_version"] = talos_version;
  j["backend"] = backend;
  j["layout"] = layout;
  j["uki_vendor"] = uki_vendor;
  j["trusted_ca_pem"] = trusted_ca_pem;
  if (tpm_latency_ms) j["tpm_latency_ms"] = tpm_latency_ms;
  return j.dump(2) + "\n";
}

NodeSettings NodeSettings::from_json(const std::string& text, const std::string& path) {
  NodeSettings s;
  try {
    auto j = nlohmann::json::parse(text);
    if (j.value("format", "") != "cryptnode-node/1")
      throw Error(Code::kCorrupt,
                  path + ": not a cryptnode node.json (format is not cryptnode-node/1)");
    s.uuid = j.at("uuid").get<std::string>();
    s.disks.clear();
    for (const auto& d : j.at("disks"))
      s.disks.push_back({d.at("name").get<std::string>(), d.at("size").get<uint64_t>(),
                         d.at("image").get<std::string>()});
    s.tpm = j.at("tpm").get<bool>();
    s.secure_boot = j.at("secure_boot").get<bool>();
    s.setup_mode = j.value("setup_mode", false);
    s.pbkdf = j.at("pbkdf").get<std::string>();
    s.talos_version = j.at("talos_version").get<std::string>();
    s.backend = j.at("backend").get<std::string>();
    s.layout = j.value("layout", "compact");
    s.trusted_ca_pem = j.value("trusted_ca_pem", std::vector<std::string>{});
    s.uki_vendor = j.value("uki_vendor", std::string("siderolabs"));
    s.tpm_latency_ms = j.value("tpm_latency_ms", int64_t{0});
  } catch (const nlohmann::json::exception& e) {
    throw Error(Code::kCorrupt, path + ": damaged node.json: " + e.what());
  }
  try {
    s.validate();
  } catch (const Error& e) {
    throw Error(Code::kCorrupt, path + ": " + e.what());
  }
  return s;
}

}  // namespace cryptnode::sim
