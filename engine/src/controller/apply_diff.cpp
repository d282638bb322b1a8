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

namespace cryptnode::controller {
namespace {

std::vector<std::string> split_lines(const std::string& s) {
  std::vector<std::string> out;
  size_t p = 0;
  while (p < s.size()) {
    size_t e = s.find('\n', p);
    if (e == std::string::npos) e = s.size();
    out.push_back(s.substr(p, e - p));
    p = e + 1;
  }
  return out;
}

// Copies the value at `path` (dotted) from `from` into `to`, or removes it from `to` when `from`
// has none: what CanApplyImmediate does for each allowed field.
void copy_path(const YAML::Node& from, YAML::Node to, const std::vector<std::string>& path,
               size_t i) {
  if (!to.IsMap()) return;
  const std::string& k = path[i];
  const YAML::Node f = from.IsDefined() && from.IsMap() ? from[k] : YAML::Node();
  if (i + 1 == path.size()) {
    if (f.IsDefined() && !f.IsNull())
      to[k] = YAML::Clone(f);
    else
      to.remove(k);
    return;
  }
  if (!to[k].IsDefined() || !to[k].IsMap()) return;  // Talos only copies inside present structs
  copy_path(f, to[k], path, i + 1);
}

}  // namespace

std::string unified_diff(const std::string& a_text, const std::string& b_text) {
  if (a_text == b_text) return "";
  const std::vector<std::string> a = split_lines(a_text), b = split_lines(b_text);
  const size_t n = a.size(), m = b.size();
  if (n + m > 75'000)
    return "@@ -1," + std::to_string(n) + " +1," + std::to_string(m) +
           " @@ diff too large to display\n";
  // LCS table (configs are small); then the edit script.
  std::vector<std::vector<uint32_t>> l(n + 1, std::vector<uint32_t>(m + 1, 0));
  for (size_t i = n; i-- > 0;)
    for (size_t j = m; j-- > 0;)
      l[i][j] = a[i] == b[j] ? l[i + 1][j + 1] + 1 : std::max(l[i + 1][j], l[i][j + 1]);
  struct Op {
    char kind;  // ' ', '-', '+'
    size_t ai, bi;
  };
  std::vector<Op> ops;
  size_t i = 0, j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && a[i] == b[j]) {
      ops.push_back({' ', i++, j++});
    } else if (j < m && (i == n || l[i][j + 1] >= l[i + 1][j])) {
      ops.push_back({'+', i, j++});
    } else {
      ops.push_back({'-', i++, j});
    }
  }
  constexpr size_t kContext = 3;
  std::string out = "--- a\n+++ b\n";
  size_t k = 0;
  while (k < ops.size()) {
    while (k < ops.size() && ops[k].kind == ' ') ++k;
    if (k == ops.size()) break;
    size_t start = k >= kContext ? k - kContext : 0, end = k;
    // Extend the hunk while changes are within 2*context lines of each other.
    for (size_t p = k; p < ops.size(); ++p) {
      if (ops[p].kind != ' ') {
        end = p + 1;
      } else if (p - end + 1 > 2 * kContext) {
        break;
      }
    }
    end = std::min(ops.size(), end + kContext);
    size_t a_start = ops[start].ai, b_start = ops[start].bi, a_len = 0, b_len = 0;
    std::string body;
    for (size_t p = start; p < end; ++p) {
      const Op& o = ops[p];
      if (o.kind != '+') ++a_len;
      if (o.kind != '-') ++b_len;
      body += o.kind;
      body += o.kind == '+' ? b[o.bi] : a[o.ai];
      body += '\n';
    }
    out += "@@ -" + std::to_string(a_len ? a_start + 1 : a_start) + "," + std::to_string(a_len) +
           " +" + std::to_string(b_len ? b_start + 1 : b_start) + "," + std::to_string(b_len) +
           " @@\n" + body;
    k = end;
  }
  return out;
}

std::string immediate_apply_refusal(const std::string& old_text, const std::string& new_text) {
  YAML::Node a = v1alpha1(old_text), b = v1alpha1(new_text);
  if (!a) return "current config is not v1alpha1";
  if (!b) return "new config is not v1alpha1";
  YAML::Node adjusted = YAML::Clone(b);
  for (const char* allowed_path : kAllowed) {
    std::vector<std::string> path;
    std::string p = allowed_path;
    size_t pos = 0;
    while (pos <= p.size()) {
      size_t dot = p.find('.', pos);
      if (dot == std::string::npos) dot = p.size();
      path.push_back(p.substr(pos, dot - pos));
      pos = dot + 1;
    }
    copy_path(a, adjusted, path, 0);
  }
  const std::string da = YAML::Dump(a) + "\n", db = YAML::Dump(adjusted) + "\n";
  if (da == db) return "";
  return "this config change can't be applied in immediate mode\ndiff:\n" + unified_diff(da, db);
}

}  // namespace cryptnode::controller
