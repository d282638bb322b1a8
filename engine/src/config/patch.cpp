// `talosctl patch machineconfig` and `talosctl gen config` for a simulated node: Talos' strategic
// merge (pkg/machinery/config/configpatcher/strategic.go and pkg/machinery/config/merge) applied
// to the YAML documents, and a minimal v1alpha1 document.
//
// Decision: Talos merges decoded Go structs; cryptnode merges the YAML trees with the same rules
// — documents matched by (apiVersion, kind, name), the v1alpha1 document by itself; maps merged
// key by key; lists concatenated (Talos' `merge:"replace"` fields are not modelled: no encryption
// field has one); scalars replaced unless the patch value is the type's zero value ("" or 0),
// booleans always replaced; `$patch: delete` deletes the document or the map it stands in. The
// result is re-emitted as YAML, so comments and quoting of the base are not kept.
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <string>
#include <vector>

#include "cryptnode/engine/config.h"
#include "cryptnode/engine/error.h"

namespace cryptnode::config {
namespace {

std::vector<YAML::Node> load_documents(std::string_view text, const char* what) {
  try {
    std::vector<YAML::Node> docs;
    for (YAML::Node d : YAML::LoadAll(std::string(text)))
      if (d.IsDefined() && !d.IsNull()) docs.push_back(d);
    return docs;
  } catch (const YAML::Exception& e) {
    throw Error(Code::kConfigParse, std::string(what) + ": " + e.msg + " (line " +
                                        std::to_string(e.mark.line + 1) + ")");
  }
}

std::string scalar(const YAML::Node& n, const char* key) {
  const YAML::Node v = n.IsMap() ? n[key] : YAML::Node();
  return v.IsDefined() && v.IsScalar() ? v.Scalar() : "";
}

// (apiVersion, kind, name); the v1alpha1 document is the one with `version` and no `kind`.
std::string document_id(const YAML::Node& d) {
  if (!d.IsMap()) return "?";
  if (scalar(d, "kind").empty() && !scalar(d, "version").empty()) return "v1alpha1";
  return scalar(d, "apiVersion") + "/" + scalar(d, "kind") + "/" + scalar(d, "name");
}

bool is_delete(const YAML::Node& n) {
  return n.IsMap() && scalar(n, "$patch") == "delete";
}

bool zero_scalar(const YAML::Node& n) {
  if (!n.IsScalar()) return false;
  const std::string& v = n.Scalar();
  if (n.Tag() == "!" || n.Tag() == "tag:yaml.org,2002:str") return v.empty();  // quoted ""
  return v.empty() || v == "0" || v == "0.0";
}

YAML::Node merge(const YAML::Node& left, const YAML::Node& right) {
  if (!left.IsDefined() || left.IsNull()) return YAML::Clone(right);
  if (!right.IsDefined() || right.IsNull()) return left;
  if (left.IsMap() && right.IsMap()) {
    YAML::Node out = YAML::Clone(left);
    for (const auto& kv : right) {
      const std::string key = kv.first.as<std::string>("");
      if (key == "$patch") continue;
      if (is_delete(kv.second)) {
        out.remove(key);
        continue;
      }
      out[key] = merge(out[key], kv.second);
    }
    return out;
  }
  if (left.IsSequence() && right.IsSequence()) {
    YAML::Node out = YAML::Clone(left);
    for (const auto& item : right) out.push_back(YAML::Clone(item));
    return out;
  }
  if (right.IsScalar() && zero_scalar(right) && right.Scalar() != "false") return left;
  return YAML::Clone(right);
}

std::string emit(const std::vector<YAML::Node>& docs) {
  std::string out;
  for (size_t i = 0; i < docs.size(); ++i) {
    YAML::Emitter e;
    e.SetIndent(2);
    e.SetSeqFormat(YAML::Block);
    e << docs[i];
    if (i) out += "---\n";
    out += e.c_str();
    out += "\n";
  }
  return out;
}

}  // namespace

std::string strategic_merge(std::string_view base, std::string_view patch) {
  std::vector<YAML::Node> left = load_documents(base, "machine config");
  const std::vector<YAML::Node> right = load_documents(patch, "patch");
  for (const YAML::Node& r : right) {
    const std::string id = document_id(r);
    auto it = std::find_if(left.begin(), left.end(),
                           [&](const YAML::Node& l) { return document_id(l) == id; });
    if (it == left.end()) {
      if (!is_delete(r)) left.push_back(YAML::Clone(r));
      continue;
    }
    if (is_delete(r)) {
      left.erase(it);
      continue;
    }
    *it = merge(*it, r);
  }
  return emit(left);
}

std::string gen_config(std::string_view machine_type) {
  // What `talosctl gen config` makes, reduced to what a simulated node reads: a whole machine
  // config (a v1alpha1 document) to which VolumeConfig and other documents are appended or
  // patched. No secrets: cryptnode's node has no Kubernetes or Talos API PKI.
  std::string type(machine_type.empty() ? "worker" : machine_type);
  if (type != "worker" && type != "controlplane")
    throw Error(Code::kInvalidArgument,
                "machine type \"" + type + "\" is not one of worker, controlplane");
  return "version: v1alpha1\n"
         "debug: false\n"
         "persist: true\n"
         "machine:\n"
         "  type: " +
         type +
         "\n"
         "  install:\n"
         "    disk: /dev/vda\n"
         "    wipe: false\n"
         "cluster:\n"
         "  clusterName: cryptnode\n"
         "  controlPlane:\n"
         "    endpoint: https://127.0.0.1:6443\n";
}

}  // namespace cryptnode::config
