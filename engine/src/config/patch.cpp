// `talosctl patch machineconfig` and `talosctl gen config` for a simulated node: Talos' strategic
// merge (pkg/machinery/config/configpatcher/strategic.go, pkg/machinery/config/merge/merge.go,
// and the `$patch: delete` selectors of pkg/machinery/config/configloader/internal/decoder/
// delete.go and selector.go) applied to the YAML documents, and a minimal v1alpha1 document.
//
// Talos merges decoded Go structs; cryptnode merges the YAML trees with the same rules:
//  - documents are matched by (apiVersion, kind, name), the v1alpha1 document by itself; a patch
//    document with no match is appended;
//  - maps merge key by key; scalars are replaced unless the patch value is the type's zero value
//    ("" or 0), booleans are always replaced (merge.go);
//  - lists are concatenated, except the `merge:"replace"` fields, which the patch replaces
//    (v1alpha1 cluster.network.podSubnets/serviceSubnets, cluster.apiServer.auditPolicy;
//    NetworkRuleConfig ingress and portSelector.ports), and the lists with a Merge method, whose
//    items merge into the item with the same key (machine.network.interfaces by `interface`,
//    its vlans by `vlanID`, cluster.apiServer.admissionControl by `name`). Encryption keys are a
//    plain list: a patch's keys are appended to the document's;
//  - `$patch: delete` is applied before the rest of its patch document: at the document's root it
//    removes the document (the v1alpha1 one cannot be), in a map it removes that key, in a list
//    item it removes the first item whose string field has the item's first other key's value
//    (an int field such as `slot` never matches). A path that does not exist fails as Talos'
//    "lookup failed".
// Divergences (decision): a delete of a key that is absent at the end of an existing path
// succeeds (Talos zeroes a struct field, but fails for a Go map key); the result is re-emitted as
// YAML, so the base's comments and quoting are not kept.
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstdlib>
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

// A document without kind and apiVersion is the legacy v1alpha1 one (decoder.go, delete.go
// makeSelector), `version: v1alpha1` or not: a patch may leave it out.
bool is_v1alpha1(const YAML::Node& d) {
  return d.IsMap() && scalar(d, "kind").empty() && scalar(d, "apiVersion").empty();
}

// (apiVersion, kind, name); the v1alpha1 document matches itself.
std::string document_id(const YAML::Node& d) {
  if (!d.IsMap()) return "?";
  if (is_v1alpha1(d)) return "v1alpha1";
  return scalar(d, "apiVersion") + "/" + scalar(d, "kind") + "/" + scalar(d, "name");
}

// How the document names itself in Talos' delete errors: "<apiVersion>/<kind>" ("/v1alpha1").
std::string document_type(const YAML::Node& d) {
  if (is_v1alpha1(d)) return "/v1alpha1";
  return scalar(d, "apiVersion") + "/" + scalar(d, "kind");
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

std::string join(const std::vector<std::string>& path) {
  std::string out;
  for (const auto& p : path) out += (out.empty() ? "" : ".") + p;
  return out;
}

// The path of a field inside its document, with list items as "[]": "machine.network.interfaces".
enum class ListRule { kAppend, kReplace, kKeyed };

ListRule list_rule(const std::string& kind, const std::string& path, std::string* key) {
  if (kind == "v1alpha1") {
    if (path == "cluster.network.podSubnets" || path == "cluster.network.serviceSubnets")
      return ListRule::kReplace;
    if (path == "machine.network.interfaces") return *key = "interface", ListRule::kKeyed;
    if (path == "machine.network.interfaces.[].vlans") return *key = "vlanID", ListRule::kKeyed;
    if (path == "cluster.apiServer.admissionControl") return *key = "name", ListRule::kKeyed;
  }
  if (kind == "NetworkRuleConfig" && (path == "ingress" || path == "portSelector.ports"))
    return ListRule::kReplace;
  return ListRule::kAppend;
}

bool replaced_map(const std::string& kind, const std::string& path) {
  return kind == "v1alpha1" && path == "cluster.apiServer.auditPolicy";
}

YAML::Node merge(const YAML::Node& left, const YAML::Node& right, const std::string& kind,
                 const std::string& path) {
  if (!left.IsDefined() || left.IsNull()) return YAML::Clone(right);
  if (!right.IsDefined() || right.IsNull()) return left;
  const auto child = [&](const std::string& k) { return path.empty() ? k : path + "." + k; };
  if (left.IsMap() && right.IsMap()) {
    if (replaced_map(kind, path)) return right.size() ? YAML::Clone(right) : left;
    YAML::Node out = YAML::Clone(left);
    for (const auto& kv : right) {
      const std::string key = kv.first.as<std::string>("");
      out[key] = merge(out[key], kv.second, kind, child(key));
    }
    return out;
  }
  if (left.IsSequence() && right.IsSequence()) {
    if (right.size() == 0) return left;
    std::string key;
    const ListRule rule = list_rule(kind, path, &key);
    if (rule == ListRule::kReplace) return YAML::Clone(right);
    YAML::Node out = YAML::Clone(left);
    for (const auto& item : right) {
      if (rule == ListRule::kKeyed) {
        const std::string id = scalar(item, key.c_str());
        bool merged = false;
        for (size_t i = 0; i < out.size() && !id.empty(); ++i) {
          if (scalar(out[i], key.c_str()) != id) continue;
          out[i] = merge(out[i], item, kind, path + ".[]");
          merged = true;
          break;
        }
        if (merged) continue;
      }
      out.push_back(YAML::Clone(item));
    }
    return out;
  }
  if (right.IsScalar() && zero_scalar(right) && right.Scalar() != "false") return left;
  return YAML::Clone(right);
}

// One `$patch: delete` found in a patch document (Talos' delete selector).
struct Deletion {
  // Keys from the document root ("[i]" for a list item, last); empty: the whole document.
  std::vector<std::string> path;
  std::string key, value;  // set for a list item: remove the item whose `key` is `value`
};

// Collects the deletions of `n` and removes them from it (processNode in delete.go). Returns
// true when `n` itself is to be deleted.
bool take_deletions(YAML::Node n, std::vector<std::string>& path, bool in_list,
                    std::vector<Deletion>& out) {
  if (n.IsMap()) {
    if (is_delete(n)) {
      Deletion d{path, "", ""};
      if (in_list) {
        for (const auto& kv : n) {
          const std::string k = kv.first.as<std::string>("");
          if (k == "$patch") continue;
          d.key = k;
          d.value = kv.second.IsScalar() ? kv.second.Scalar() : "";
          break;
        }
        if (d.key.empty())
          throw Error(Code::kConfigParse,
                      "patch: no key:val found in sequence node for path " + join(path));
      } else if (std::any_of(path.begin(), path.end(),
                             [](const std::string& p) { return p.rfind("[", 0) == 0; })) {
        throw Error(Code::kConfigParse,
                    "patch: $patch: delete inside a list item is only supported on the item");
      }
      out.push_back(d);
      return true;
    }
    std::vector<std::string> gone;
    for (const auto& kv : n) {
      const std::string k = kv.first.as<std::string>("");
      path.push_back(k);
      if (take_deletions(kv.second, path, false, out)) gone.push_back(k);
      path.pop_back();
    }
    for (const auto& k : gone) n.remove(k);
    return !gone.empty() && n.size() == 0;
  }
  if (n.IsSequence()) {
    YAML::Node kept(YAML::NodeType::Sequence);
    for (size_t i = 0; i < n.size(); ++i) {
      path.push_back("[" + std::to_string(i) + "]");
      if (!take_deletions(n[i], path, true, out)) kept.push_back(n[i]);
      path.pop_back();
    }
    const bool removed = kept.size() != n.size();
    if (removed) n = kept;
    return removed && kept.size() == 0;
  }
  return false;
}

// deleteStructFrom compares reflect.Value.String() of the item's field with the selector's value:
// for a string field that is the text, for an int or bool field it is "<int Value>", so only
// string fields can select (`- slot: 0` + `$patch: delete` never matches a key slot). A plain
// YAML scalar that reads as a number or a boolean stands for such a field here.
bool string_field(const YAML::Node& n) {
  if (!n.IsScalar()) return false;
  if (n.Tag() != "?") return true;  // quoted
  const std::string& v = n.Scalar();
  if (v == "true" || v == "false") return false;
  char* end = nullptr;
  std::strtod(v.c_str(), &end);
  return v.empty() || end != v.c_str() + v.size();
}

[[noreturn]] void lookup_failed(const YAML::Node& doc, const Deletion& d) {
  const std::string p = join(d.path);
  const std::string name = scalar(doc, "name");
  const std::string inner = "failed to delete path '" + p + "': lookup failed";
  throw Error(Code::kConfigInvalid,
              name.empty() ? "patch delete: path '" + p + "' in document '" + document_type(doc) +
                                 "': " + inner
                           : "named patch delete: document " + document_type(doc) + ": " + inner);
}

// Applies one deletion with a non-empty path to `doc` (selector.go deleteForPath).
void apply_deletion(YAML::Node doc, const Deletion& d) {
  YAML::Node at = doc;
  const size_t last = d.path.size() - 1;  // the key to remove, or the list item's "[i]"
  for (size_t i = 0; i < last; ++i) {
    if (!at.IsMap() || !at[d.path[i]].IsDefined() || at[d.path[i]].IsNull()) lookup_failed(doc, d);
    at.reset(at[d.path[i]]);  // rebind (operator= would overwrite the node `at` refers to)
  }
  if (d.key.empty()) {
    if (at.IsMap()) at.remove(d.path.back());
    return;
  }
  if (!at.IsSequence()) lookup_failed(doc, d);
  YAML::Node kept(YAML::NodeType::Sequence);
  bool found = false;
  for (const auto& item : at) {
    if (!found && item.IsMap() && item[d.key].IsDefined() && string_field(item[d.key]) &&
        item[d.key].Scalar() == d.value) {
      found = true;  // Talos removes the first matching item
      continue;
    }
    kept.push_back(item);
  }
  if (!found) lookup_failed(doc, d);
  YAML::Node parent = doc;
  for (size_t i = 0; i + 2 < d.path.size(); ++i) parent.reset(parent[d.path[i]]);
  parent[d.path[d.path.size() - 2]] = kept;
}

// The patch document without its bookkeeping keys is empty: nothing left to merge.
bool only_identity(const YAML::Node& n) {
  if (!n.IsMap()) return false;
  for (const auto& kv : n) {
    const std::string k = kv.first.as<std::string>("");
    if (k != "version" && k != "kind" && k != "name" && k != "apiVersion") return false;
  }
  return true;
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
  for (const YAML::Node& original : right) {
    YAML::Node r = YAML::Clone(original);
    const std::string id = document_id(r);
    auto it = std::find_if(left.begin(), left.end(),
                           [&](const YAML::Node& l) { return document_id(l) == id; });
    std::vector<Deletion> deletions;
    std::vector<std::string> path;
    const bool whole = take_deletions(r, path, false, deletions) || is_delete(original);
    for (const Deletion& d : deletions) {
      if (it == left.end()) break;  // nothing to delete from (Talos appends the selector)
      if (d.path.empty()) {
        if (is_v1alpha1(*it))
          throw Error(Code::kConfigInvalid,
                      "patch delete: path '' in document '/v1alpha1': can't delete the root of "
                      "the legacy document");
        left.erase(it);
        it = left.end();
        continue;
      }
      apply_deletion(*it, d);
    }
    if (whole || (!deletions.empty() && only_identity(r))) continue;
    if (it == left.end()) {
      if (std::none_of(left.begin(), left.end(),
                       [&](const YAML::Node& l) { return document_id(l) == id; }))
        left.push_back(r);
      continue;
    }
    *it = merge(*it, r, is_v1alpha1(r) ? "v1alpha1" : scalar(r, "kind"), "");
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
         "    disk: /dev/sda\n"
         "    wipe: false\n"
         "cluster:\n"
         "  clusterName: cryptnode\n"
         "  controlPlane:\n"
         "    endpoint: https://127.0.0.1:6443\n";
}

}  // namespace cryptnode::config
