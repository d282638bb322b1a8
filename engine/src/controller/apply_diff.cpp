// Talos ≤1.13 CanApplyImmediate: only the v1alpha1 document is compared, against an allow-list of
// paths that can change without a reboot (docs/talos/apply-config-and-reset.md).
// VolumeConfig/UserVolumeConfig changes are not compared at all, so they never force a reboot.
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <string>
#include <vector>

#include "cryptnode/engine/controller/apply_config.h"

namespace cryptnode::controller {
namespace {

const char* const kAllowed[] = {"debug",
                                "cluster",
                                "machine.ca",
                                "machine.acceptedCAs",
                                "machine.time",
                                "machine.certSANs",
                                "machine.install",
                                "machine.network",
                                "machine.sysfs",
                                "machine.sysctls",
                                "machine.logging",
                                "machine.controlplane",
                                "machine.kubelet",
                                "machine.kernel",
                                "machine.registries",
                                "machine.pods",
                                "machine.seccompProfiles",
                                "machine.nodeAnnotations",
                                "machine.nodeLabels",
                                "machine.nodeTaints",
                                "machine.features.kubernetesTalosAPIAccess",
                                "machine.features.kubePrism",
                                "machine.features.hostDNS",
                                "machine.features.imageCache",
                                "machine.features.nodeAddressSortAlgorithm"};

bool allowed(const std::string& path) {
  for (const char* a : kAllowed) {
    std::string p(a);
    if (path == p || path.rfind(p + ".", 0) == 0) return true;
  }
  return false;
}

YAML::Node v1alpha1(const std::string& text) {
  try {
    for (const YAML::Node& d : YAML::LoadAll(text))
      if (d.IsMap() && d["version"] && d["version"].as<std::string>("") == "v1alpha1") return d;
  } catch (const YAML::Exception&) {
  }
  return YAML::Node();
}

// A missing side (key absent in one config) compares as different from anything present.
void diff(const YAML::Node& a, const YAML::Node& b, const std::string& path,
          std::vector<std::string>& out) {
  const bool has_a = a.IsDefined() && !a.IsNull(), has_b = b.IsDefined() && !b.IsNull();
  if (has_a && has_b && a.IsMap() && b.IsMap()) {
    std::vector<std::string> keys;
    for (const auto& kv : a) keys.push_back(kv.first.as<std::string>(""));
    for (const auto& kv : b) {
      std::string k = kv.first.as<std::string>("");
      if (std::find(keys.begin(), keys.end(), k) == keys.end()) keys.push_back(k);
    }
    for (const auto& k : keys) {
      const YAML::Node ca = a[k], cb = b[k];
      diff(ca, cb, path.empty() ? k : path + "." + k, out);
    }
    return;
  }
  const std::string da = has_a ? YAML::Dump(a) : "", db = has_b ? YAML::Dump(b) : "";
  if (da != db && !allowed(path)) out.push_back(path.empty() ? "." : path);
}

}  // namespace

std::vector<std::string> changes_needing_reboot(const std::string& old_text,
                                                const std::string& new_text) {
  std::vector<std::string> out;
  YAML::Node a = v1alpha1(old_text), b = v1alpha1(new_text);
  if (!a && !b) return out;
  diff(a ? a : YAML::Node(YAML::NodeType::Map), b ? b : YAML::Node(YAML::NodeType::Map), "", out);
  return out;
}

}  // namespace cryptnode::controller
