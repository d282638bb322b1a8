#include "cryptnode/sim/boot_measurements.h"

#include <nlohmann/json.hpp>

#include "cryptnode/engine/error.h"
#include "cryptnode/engine/tpm/tpm.h"
#include "cryptnode/engine/versions.h"
#include "cryptnode/sim/firmware.h"
#include "cryptnode/sim/firmware_release.h"
#include "cryptnode/sim/node_settings.h"

namespace cryptnode::sim {

namespace {

nlohmann::ordered_json event(int pcr, const std::string& description, const tpm::Digest& d) {
  return {{"pcr", pcr}, {"description", description}, {"digest", tpm::to_hex(d.data(), d.size())}};
}

}  // namespace

std::string boot_measurements_json(Env& env, const std::string& node_dir) {
  const std::string json_path = node_dir + "/node.json";
  const auto text = env.read_file(json_path);
  if (!text) throw Error(Code::kNotFound, json_path + ": not a node directory (no node.json)");
  const NodeSettings settings = NodeSettings::from_json(*text, json_path);
  if (!settings.tpm) throw Error(Code::kInvalidArgument, node_dir + ": the node has no TPM");
  PcrSigningKeys keys(env, node_dir + "/firmware");
  if (!env.exists(keys.path(settings.uki_vendor)))
    throw Error(Code::kNotFound, keys.path(settings.uki_vendor) +
                                     ": no PCR signing key yet (the node never booted)");
  // The UKI NodeTpm boots (node_tpm.cpp).
  const Uki uki =
      build_release(versions::Version::parse(settings.talos_version).str(),
                    keys.private_key_pem(settings.uki_vendor), ReleaseOptions{settings.uki_vendor});
  const FirmwareSettings firmware{settings.secure_boot, settings.setup_mode};

  nlohmann::ordered_json events = nlohmann::ordered_json::array();
  for (const auto& [pcr, e] : platform_events(&uki))
    events.push_back(event(pcr, e.description, e.digest));
  for (const auto& e : pcr7_events(firmware)) events.push_back(event(7, e.description, e.digest));
  for (const auto& e : uki_events(uki)) events.push_back(event(11, e.description, e.digest));
  const std::vector<std::string> phases = {kPhaseEnterInitrd, kPhaseLeaveInitrd,
                                           kPhaseEnterMachined};
  for (const auto& p : phases) events.push_back(event(11, "phase " + p, tpm::sha256(p)));

  nlohmann::ordered_json j;
  j["talos_version"] = uki.version;
  j["uki_vendor"] = uki.vendor;
  j["secure_boot"] = settings.secure_boot;
  j["setup_mode"] = settings.setup_mode;
  j["events"] = std::move(events);
  j["signed_phases"] = phases;
  j["pcr11"] = tpm::to_hex(expected_pcr11(uki, phases));
  j["pcr_public_key_pem"] = uki.pcr_public_key_pem;
  j["pcr_signature_json"] = uki.pcr_signature_json;
  return j.dump(2);
}

}  // namespace cryptnode::sim
