// MachineConfig::parse: Talos' configloader (pkg/machinery/config/configloader/internal/decoder/
// decoder.go) around yaml-cpp. Per document: go-yaml Node.Decode into the document's Go type
// (type errors collected as "yaml: unmarshal errors:\n  line N: ..."), then
// xyaml.CheckUnknownKeys ("unknown keys found during decoding:\n<yaml>"), each wrapped
// "error decoding document <apiVersion>/<kind>/<name> (line N): ...".
#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <cmath>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <unordered_map>

#include "cryptnode/engine/config.h"
#include "cryptnode/engine/error.h"
#include "go_yaml.h"
#include "humanize.h"
#include "schema.h"

namespace cryptnode::config {
namespace {

using schema::Kind;
using schema::Type;

// cryptnode's own guards (Talos has no such limits; go-yaml has its own: "document contains
// excessive aliasing", "exceeded max depth of 10000"): 4 MiB of text, 250,000 nodes walked
// (yaml-cpp shares an anchored node between its aliases, so walks expand alias bombs), and
// yaml-cpp's nesting limit of 500 levels.
constexpr size_t kMaxConfigBytes = 4 << 20;
constexpr size_t kMaxNodes = 250'000;

[[noreturn]] void fail(const std::string& message) {
  throw Error(Code::kConfigParse, message);
}

[[noreturn]] void too_complex() {
  fail("machine config: too complex: more than " + std::to_string(kMaxNodes) +
       " YAML nodes to walk (aliases?)");
}

struct Decoder {
  std::string_view src;
  std::vector<std::string> terrors;
  size_t budget = kMaxNodes;

  void spend() {
    if (budget == 0) too_complex();
    --budget;
  }

  int line_of(const YAML::Node& n, int key_line) const {
    return n.IsNull() || !n.IsDefined() ? key_line : goyaml::line(n);
  }

  void terror(const YAML::Node& n, const Type& t, int key_line) {
    const std::string tag = goyaml::tag(n, src);
    std::string value;
    if (tag != "!!seq" && tag != "!!map") {
      const std::string v = n.IsScalar() ? n.Scalar() : "";
      value = v.size() > 10 ? " `" + v.substr(0, 7) + "...`" : " `" + v + "`";
    }
    terrors.push_back("line " + std::to_string(line_of(n, key_line)) + ": cannot unmarshal " + tag +
                      value + " into " + t.go_name);
  }

  void error(const YAML::Node& n, int key_line, const std::string& what) {
    terrors.push_back("line " + std::to_string(line_of(n, key_line)) + ": " + what);
  }

  // go-yaml decoder.mapping (uniqueKeys): every later key equal to an earlier one, in go-yaml's
  // order (outer loop over the earlier key); found through a hash map instead of go-yaml's
  // quadratic scan, each reported error spending the walk budget.
  bool duplicates(const YAML::Node& n) {
    const size_t before = terrors.size();
    std::vector<std::pair<std::string, int>> keys;  // kind + value, line
    std::unordered_map<std::string, std::vector<size_t>> same;
    for (const auto& kv : n) {
      spend();
      const std::string id = kv.first.IsScalar()     ? "s" + kv.first.Scalar()
                             : kv.first.IsMap()      ? std::string("m")
                             : kv.first.IsSequence() ? std::string("q")
                                                     : std::string("s");
      same[id].push_back(keys.size());
      keys.emplace_back(id, goyaml::line(kv.first));
    }
    for (size_t i = 0; i < keys.size(); ++i) {
      const std::vector<size_t>& group = same[keys[i].first];
      if (group.size() < 2) continue;
      for (size_t j : group) {
        if (j <= i) continue;
        spend();
        terrors.push_back("line " + std::to_string(keys[j].second) + ": mapping key " +
                          goyaml::quote(keys[j].first.substr(1)) + " already defined at line " +
                          std::to_string(keys[i].second));
      }
    }
    return terrors.size() > before;
  }

  void decode(const YAML::Node& n, const Type& t, int key_line) {
    spend();
    if (!n.IsDefined() || n.IsNull()) return;
    if (n.IsScalar() && goyaml::resolve(n, src).kind == goyaml::Resolved::kNull) return;
    switch (t.kind) {
      case Kind::kAny:
        if (n.IsMap() && !t.fields.empty()) {
          if (duplicates(n)) return;
          for (const auto& kv : n)
            for (const auto& f : t.fields)
              if (kv.first.IsScalar() && kv.first.Scalar() == f.key)
                decode(kv.second, *f.type, goyaml::line(kv.first));
        }
        return;
      case Kind::kStruct:
        if (n.IsMap()) {
          if (duplicates(n)) return;
          for (const auto& kv : n)
            for (const auto& f : t.fields)
              if (kv.first.IsScalar() && kv.first.Scalar() == f.key)
                decode(kv.second, *f.type, goyaml::line(kv.first));
        } else {
          terror(n, t, key_line);
        }
        return;
      case Kind::kSlice:
        if (n.IsSequence()) {
          for (const auto& item : n) decode(item, *t.elem, goyaml::line(item));
        } else {
          terror(n, t, key_line);
        }
        return;
      case Kind::kString:
        if (!n.IsScalar()) terror(n, t, key_line);
        return;
      case Kind::kInt:
      case Kind::kUint:
      case Kind::kBool:
        if (!n.IsScalar() || !scalar_fits(n, t)) terror(n, t, key_line);
        return;
      case Kind::kEnum: {
        if (!n.IsScalar()) return terror(n, t, key_line);
        if (enum_value(n.Scalar(), t).empty())
          error(n, key_line,
                n.Scalar() + " does not belong to " + t.go_name.substr(t.go_name.find('.') + 1) +
                    " values");
        return;
      }
      case Kind::kText:
        if (n.IsSequence()) return terror(n, t, key_line);
        if (!n.IsScalar()) return;
        if (t.go_name == "block.ByteSize" && !n.Scalar().empty()) {
          if (auto e = humanize::parse_bytes_error(n.Scalar())) error(n, key_line, *e);
        } else if (t.go_name == "block.Size" && !n.Scalar().empty()) {
          if (auto e = humanize::parse_size_error(n.Scalar())) error(n, key_line, *e);
        }
        return;
    }
  }

  bool scalar_fits(const YAML::Node& n, const Type& t) const {
    const goyaml::Resolved r = goyaml::resolve(n, src);
    using R = goyaml::Resolved;
    switch (t.kind) {
      case Kind::kInt:
        return r.kind == R::kInt || (r.kind == R::kUint && r.u <= INT64_MAX) ||
               (r.kind == R::kFloat && r.f <= 9223372036854775807.0 && !std::isnan(r.f));
      case Kind::kUint:
        return (r.kind == R::kInt && r.i >= 0) || r.kind == R::kUint ||
               (r.kind == R::kFloat && r.f <= 18446744073709551615.0 && !std::isnan(r.f));
      case Kind::kBool: {
        if (r.kind == R::kBool) return true;
        if (r.kind != R::kString) return false;
        static const std::set<std::string> yes_no = {"y",  "Y",   "yes", "Yes", "YES", "on",
                                                     "On", "ON",  "n",   "N",   "no",  "No",
                                                     "NO", "off", "Off", "OFF"};
        return yes_no.count(n.Scalar()) > 0;
      }
      default:
        return true;
    }
  }

  static std::string enum_value(const std::string& v, const Type& t) {
    std::string lower;
    for (char c : v) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    for (const std::string& e : t.enum_values)
      if (e == lower) return e;
    return "";
  }

  // xyaml.CheckUnknownKeys (siderolabs/gen xyaml/xyaml.go)
  std::shared_ptr<goyaml::Unknown> unknown(const YAML::Node& n, const Type& t) {
    spend();
    using U = goyaml::Unknown;
    std::shared_ptr<U> out;
    if (n.IsMap() && (t.kind == Kind::kStruct || (t.kind == Kind::kAny && !t.fields.empty()))) {
      for (const auto& kv : n) {
        const std::string key = kv.first.IsScalar() ? kv.first.Scalar() : "";
        const Type* ft = nullptr;
        for (const auto& f : t.fields)
          if (f.key == key) ft = f.type;
        if (!ft) {
          if (t.kind == Kind::kAny) continue;  // opaque parts of v1alpha1
          if (!out) out = std::make_shared<U>();
          auto leaf = std::make_shared<U>();
          leaf->kind = U::kNode;
          leaf->node = kv.second;
          out->map_entries[key] = leaf;
          continue;
        }
        if (auto inner = unknown(kv.second, *ft)) {
          if (!out) out = std::make_shared<U>();
          out->map_entries[key] = inner;
        }
      }
    } else if (n.IsSequence() && t.kind == Kind::kSlice) {
      for (const auto& item : n)
        if (auto inner = unknown(item, *t.elem)) {
          if (!out) {
            out = std::make_shared<U>();
            out->kind = U::kList;
          }
          out->list.push_back(inner);
        }
    }
    return out;
  }
};

// ---- building config.h's structs from a decoded node ---------------------------------------

bool is_null(const YAML::Node& n) {
  return !n.IsDefined() || n.IsNull();
}

const YAML::Node field(const YAML::Node& m, const char* key) {
  if (!m.IsMap()) return YAML::Node();
  for (const auto& kv : m)
    if (kv.first.IsScalar() && kv.first.Scalar() == key) return kv.second;
  return YAML::Node();
}

bool null_scalar(const YAML::Node& n, std::string_view src) {
  return is_null(n) || (n.IsScalar() && goyaml::resolve(n, src).kind == goyaml::Resolved::kNull);
}

std::string str(const YAML::Node& n, std::string_view src) {
  return null_scalar(n, src) ? "" : n.Scalar();
}

int64_t integer(const YAML::Node& n, std::string_view src) {
  if (null_scalar(n, src)) return 0;
  const goyaml::Resolved r = goyaml::resolve(n, src);
  if (r.kind == goyaml::Resolved::kInt) return r.i;
  if (r.kind == goyaml::Resolved::kUint) return static_cast<int64_t>(r.u);
  if (r.kind == goyaml::Resolved::kFloat) return static_cast<int64_t>(r.f);
  return 0;
}

std::optional<bool> boolean(const YAML::Node& n, std::string_view src) {
  if (null_scalar(n, src)) return std::nullopt;
  const std::string& v = n.Scalar();
  static const std::set<std::string> yes = {"true", "True", "TRUE", "y",  "Y", "yes",
                                            "Yes",  "YES",  "on",   "On", "ON"};
  return yes.count(v) > 0;
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

EncryptionKey build_key(const YAML::Node& n, std::string_view src, bool legacy) {
  EncryptionKey k;
  k.line = goyaml::line(n);
  if (!n.IsMap()) return k;
  k.slot_value = integer(field(n, "slot"), src);
  k.slot = static_cast<int>(std::clamp<int64_t>(k.slot_value, INT32_MIN, INT32_MAX));
  if (const YAML::Node s = field(n, "static"); !null_scalar(s, src))
    k.static_key = KeyStatic{Secret(str(field(s, "passphrase"), src))};
  k.node_id = !null_scalar(field(n, "nodeID"), src);
  if (const YAML::Node s = field(n, "kms"); !null_scalar(s, src))
    k.kms = KeyKMS{str(field(s, "endpoint"), src)};
  if (const YAML::Node s = field(n, "tpm"); !null_scalar(s, src)) {
    KeyTPM t;
    if (!legacy) {
      if (const YAML::Node o = field(s, "options"); !null_scalar(o, src)) {
        KeyTPM::Options opts;
        if (const YAML::Node p = field(o, "pcrs"); !null_scalar(p, src) && p.IsSequence()) {
          std::vector<int> pcrs;
          for (const auto& item : p) pcrs.push_back(static_cast<int>(integer(item, src)));
          opts.pcrs = pcrs;
        }
        t.options = opts;
      }
    }
    t.check_secureboot_status_on_enroll = boolean(field(s, "checkSecurebootStatusOnEnroll"), src);
    k.tpm = t;
  }
  if (!legacy) k.lock_to_state = boolean(field(n, "lockToState"), src);
  return k;
}

EncryptionSpec build_encryption(const YAML::Node& n, std::string_view src, bool legacy) {
  EncryptionSpec e;
  e.legacy = legacy;
  e.line = goyaml::line(n);
  e.provider = legacy ? "" : "none";
  if (null_scalar(n, src) || !n.IsMap()) return e;
  const std::string p = str(field(n, "provider"), src);
  if (legacy)
    e.provider = p;
  else if (!p.empty())
    e.provider = lower(p);
  if (const YAML::Node keys = field(n, "keys"); keys.IsSequence())
    for (const auto& item : keys)
      if (!null_scalar(item, src) || !legacy) e.keys.push_back(build_key(item, src, legacy));
  e.cipher = str(field(n, "cipher"), src);
  e.key_size = static_cast<uint64_t>(integer(field(n, "keySize"), src));
  e.block_size = static_cast<uint64_t>(integer(field(n, "blockSize"), src));
  if (const YAML::Node o = field(n, "options"); o.IsSequence())
    for (const auto& item : o) e.perf_options.push_back(str(item, src));
  e.allow_discards = boolean(field(n, "allowDiscards"), src);
  return e;
}

Provisioning build_provisioning(const YAML::Node& n, std::string_view src) {
  Provisioning p;
  if (null_scalar(n, src) || !n.IsMap()) return p;
  if (const YAML::Node d = field(n, "diskSelector"); d.IsMap()) {
    const std::string m = str(field(d, "match"), src);
    if (!m.empty()) p.disk_selector_match = m;
  }
  p.grow = boolean(field(n, "grow"), src);
  if (const std::string s = str(field(n, "minSize"), src); !s.empty())
    p.min_size = humanize::parse_bytes(s);
  if (const std::string s = str(field(n, "maxSize"), src); !s.empty()) {
    if (s.find('%') != std::string::npos)
      p.max_size_percent = static_cast<int>(humanize::parse_percent(s));
    else
      p.max_size = humanize::parse_bytes(s);
  }
  p.present = p.disk_selector_match || p.grow || p.min_size || p.max_size || p.max_size_percent;
  return p;
}

const std::pair<const char*, DocumentKind> kKinds[] = {
    {"VolumeConfig", DocumentKind::kVolumeConfig},
    {"UserVolumeConfig", DocumentKind::kUserVolumeConfig},
    {"RawVolumeConfig", DocumentKind::kRawVolumeConfig},
    {"SwapVolumeConfig", DocumentKind::kSwapVolumeConfig},
    {"ExistingVolumeConfig", DocumentKind::kExistingVolumeConfig},
    {"ExternalVolumeConfig", DocumentKind::kExternalVolumeConfig},
};
// Talos document kinds cryptnode does not model (registered in release-1.12): kept, not checked.
const char* const kOtherKinds[] = {"HostnameConfig",
                                   "ResolverConfig",
                                   "TimeSyncConfig",
                                   "KmsgLogConfig",
                                   "EventSinkConfig",
                                   "WatchdogTimerConfig",
                                   "SideroLinkConfig",
                                   "NetworkDefaultActionConfig",
                                   "NetworkRuleConfig",
                                   "EthernetConfig",
                                   "LinkConfig",
                                   "DHCPv4Config",
                                   "DHCPv6Config",
                                   "StaticHostConfig",
                                   "TrustedRootsConfig",
                                   "ZswapConfig",
                                   "KubeSpanEndpointsConfig",
                                   "RunDefaultConfig",
                                   "BondConfig",
                                   "BridgeConfig",
                                   "VLANConfig",
                                   "Layer2VIPConfig",
                                   "HCloudVIPConfig",
                                   "DummyLinkConfig",
                                   "ImageVerificationConfig",
                                   "OOMConfig",
                                   "ExtensionServiceConfig",
                                   "PCIDriverRebindConfig",
                                   "UdevRuleConfig",
                                   "Audit"};

Document build_document(const YAML::Node& m, const std::string& kind, std::string_view src) {
  Document d;
  d.line = goyaml::line(m);
  if (kind == "v1alpha1") {
    d.kind = DocumentKind::kV1Alpha1;
    d.kind_name = "v1alpha1";
    d.api_version = str(field(m, "version"), src);
    const YAML::Node sde = field(field(m, "machine"), "systemDiskEncryption");
    if (const YAML::Node s = field(sde, "state"); !null_scalar(s, src))
      d.legacy_state = build_encryption(s, src, true);
    if (const YAML::Node s = field(sde, "ephemeral"); !null_scalar(s, src))
      d.legacy_ephemeral = build_encryption(s, src, true);
    return d;
  }
  d.kind_name = kind;
  d.api_version = str(field(m, "apiVersion"), src);
  d.name = str(field(m, "name"), src);
  d.kind = DocumentKind::kOther;
  for (const auto& [k, dk] : kKinds)
    if (kind == k) d.kind = dk;
  // TrustedRootsConfig (pkg/machinery/config/types/security/trusted_roots.go): the machine
  // trusts these CAs once the config is active (KMS over https, talos#10542).
  if (kind == "TrustedRootsConfig") d.certificates = str(field(m, "certificates"), src);
  if (d.kind == DocumentKind::kOther || d.kind == DocumentKind::kExternalVolumeConfig) return d;
  if (d.kind == DocumentKind::kExistingVolumeConfig) {
    const std::string sel =
        str(field(field(field(m, "discovery"), "volumeSelector"), "match"), src);
    if (!sel.empty()) d.volume_selector = sel;
    d.mount_read_only = boolean(field(field(m, "mount"), "readOnly"), src);
    return d;
  }
  d.provisioning = build_provisioning(field(m, "provisioning"), src);
  if (const YAML::Node e = field(m, "encryption"); !null_scalar(e, src))
    d.encryption = build_encryption(e, src, false);
  else
    d.encryption = build_encryption(YAML::Node(), src, false);
  if (d.kind == DocumentKind::kUserVolumeConfig) {
    d.volume_type = lower(str(field(m, "volumeType"), src));
    const YAML::Node f = field(m, "filesystem");
    d.filesystem_type = lower(str(field(f, "type"), src));
    if (d.filesystem_type == "none") d.filesystem_type = "";
    d.project_quota_support = boolean(field(f, "projectQuotaSupport"), src);
  }
  return d;
}

// decoder.go decode(): the kind and version, walking every node of the top-level mapping (keys
// and values alike, as Talos does: a scalar value "machine" also marks a v1alpha1 document, and
// a value "kind" takes the next node as the kind). Returns the registry kind ("v1alpha1" for the
// legacy document) or fails with Talos' text.
std::string registered_kind(const YAML::Node& n, std::string_view src, const std::string& where) {
  std::vector<YAML::Node> content;
  for (const auto& kv : n) {
    content.push_back(kv.first);
    content.push_back(kv.second);
  }
  std::string kind, version;
  for (size_t i = 0; i < content.size(); ++i) {
    if (!content[i].IsScalar()) continue;
    const std::string& v = content[i].Scalar();
    if (v == "kind" || v == "apiVersion") {
      if (i + 1 >= content.size())  // Go's index panic, recovered by parse()
        fail("recovered: runtime error: index out of range [" + std::to_string(i + 1) +
             "] with length " + std::to_string(content.size()));
      const YAML::Node& value = content[i + 1];
      if (value.IsMap() || value.IsSequence())
        fail(where + (v == "kind" ? "kind" : "version") +
             " decode: yaml: unmarshal errors:\n  line " + std::to_string(goyaml::line(value)) +
             ": cannot unmarshal " + goyaml::tag(value, src) + " into string");
      (v == "kind" ? kind : version) = str(value, src);
    } else if (v == "machine" || v == "cluster" || v == "debug" || v == "persist") {
      version = "v1alpha1";
    }
  }
  if (version == "v1alpha1" && kind.empty()) return "v1alpha1";
  if (kind.empty()) fail(where + "missing kind");
  if (version.empty()) fail(where + "missing apiVersion");
  bool modeled = false;
  for (const auto& [k, dk] : kKinds) modeled |= kind == k;
  bool other = false;
  for (const char* k : kOtherKinds) other |= kind == k;
  if (version != "v1alpha1" || (!modeled && !other))
    fail(where + goyaml::quote(kind) + " " + goyaml::quote(version) + ": not registered");
  return kind;
}

// yaml-cpp 0.7 never consumes a ',' where a document's node should start (",", "a: 1\n---\n,"):
// each Parser::HandleNextDocument then reports the same null document again, so YAML::LoadAll
// never returns and its vector grows without bound. go-yaml rejects such a stream ("did not find
// expected node content"). Returns the mark of the first document that does not advance.
std::optional<YAML::Mark> stuck_document(const std::string& text) {
  struct Probe final : YAML::EventHandler {
    int events = 0;
    bool null_only = false;
    YAML::Mark first;
    void node(const YAML::Mark& m, bool null) {
      if (events++ == 0) first = m;
      null_only = events == 1 && null;
    }
    void OnDocumentStart(const YAML::Mark&) override {}
    void OnDocumentEnd() override {}
    void OnNull(const YAML::Mark& m, YAML::anchor_t) override { node(m, true); }
    void OnAlias(const YAML::Mark& m, YAML::anchor_t) override { node(m, false); }
    void OnScalar(const YAML::Mark& m, const std::string&, YAML::anchor_t,
                  const std::string&) override {
      node(m, false);
    }
    void OnSequenceStart(const YAML::Mark& m, const std::string&, YAML::anchor_t,
                         YAML::EmitterStyle::value) override {
      node(m, false);
    }
    void OnSequenceEnd() override {}
    void OnMapStart(const YAML::Mark& m, const std::string&, YAML::anchor_t,
                    YAML::EmitterStyle::value) override {
      node(m, false);
    }
    void OnMapEnd() override {}
  };
  std::istringstream in(text);
  try {
    YAML::Parser parser(in);
    std::optional<YAML::Mark> last_null;
    // Every real document consumes at least one byte of the stream.
    for (size_t docs = 0; docs <= text.size() + 1; ++docs) {
      Probe probe;
      if (!parser.HandleNextDocument(probe)) return std::nullopt;
      const bool null_only = probe.events == 1 && probe.null_only;
      if (null_only && last_null && last_null->pos == probe.first.pos) return probe.first;
      last_null = null_only ? std::optional<YAML::Mark>(probe.first) : std::nullopt;
    }
    return YAML::Mark{};
  } catch (const YAML::Exception&) {
    return std::nullopt;  // LoadAll reports it
  }
}

}  // namespace

MachineConfig MachineConfig::parse(std::string_view yaml, const versions::Version& version) {
  if (yaml.size() > kMaxConfigBytes)
    fail("machine config: too large: " + std::to_string(yaml.size()) + " bytes (the limit is " +
         std::to_string(kMaxConfigBytes) + " bytes)");
  const goyaml::LibraryScope library(versions::applies(versions::Rule::kYamlV4Decoder, version)
                                         ? goyaml::Library::kYamlV4
                                         : goyaml::Library::kYamlV3Fork);
  if (auto e = goyaml::stream_error(yaml)) fail("decode error: " + *e);
  MachineConfig cfg;
  cfg.text_ = std::string(yaml);
  cfg.version_ = version;
  std::vector<YAML::Node> docs;
  if (auto stuck = stuck_document(cfg.text_))
    fail("decode error: yaml: line " + std::to_string(stuck->line + 1) +
         ": did not find expected node content");
  try {
    docs = YAML::LoadAll(cfg.text_);
  } catch (const YAML::DeepRecursion& e) {
    fail("machine config: too deeply nested: more than 500 levels (line " +
         std::to_string(e.mark.line + 1) + ")");
  } catch (const YAML::ParserException& e) {
    fail("decode error: " + goyaml::parser_error(e));
  } catch (const YAML::Exception& e) {
    fail("decode error: yaml: " + e.msg);
  }
  const std::string_view src = cfg.text_;
  std::set<std::string> ids;
  for (const YAML::Node& n : docs) {
    if (is_null(n)) continue;  // an empty document
    if (!n.IsMap()) fail("expected a YAML document at line " + std::to_string(goyaml::line(n)));
    // decoder.go parse(): the document ID from the keys' values as written (findValue)
    const std::string api = str(field(n, "apiVersion"), src);
    const std::string kind_written = str(field(n, "kind"), src);
    const std::string name = str(field(n, "name"), src);
    const std::string id =
        api + "/" + (kind_written.empty() ? "v1alpha1" : kind_written) + "/" + name;
    const std::string where =
        "error decoding document " + id + " (line " + std::to_string(goyaml::line(n)) + "): ";
    if (!ids.insert(id).second)
      fail("duplicate document " + id + " is not allowed (line " + std::to_string(goyaml::line(n)) +
           ")");
    const std::string doc_kind = registered_kind(n, src, where);
    const Type* type = schema::document_type(doc_kind, version);
    if (type) {
      Decoder dec;
      dec.src = src;
      dec.decode(n, *type, goyaml::line(n));
      if (!dec.terrors.empty()) {
        std::string msg = "yaml: unmarshal errors:";
        for (const auto& e : dec.terrors) msg += "\n  " + e;
        fail(where + "error decoding " + (doc_kind == "v1alpha1" ? "" : doc_kind) + " to " +
             schema::registry_type(doc_kind) + ": " + msg);
      }
      if (auto u = dec.unknown(n, *type)) {
        const auto summary = goyaml::marshal(*u, src, kMaxNodes, kMaxConfigBytes);
        if (!summary) too_complex();
        fail(where + "unknown keys found during decoding:\n" + *summary);
      }
    }
    cfg.documents_.push_back(build_document(n, doc_kind, src));
  }
  // container.New: duplicates by Kind/name and the declared conflicts
  std::map<std::string, std::string> seen;
  for (const Document& d : cfg.documents_) {
    if (d.kind == DocumentKind::kV1Alpha1) continue;
    const std::string id = d.kind_name + "/" + d.name;
    if (seen.count(id)) fail("duplicate document: " + id);
    const char* conflicts = d.kind == DocumentKind::kUserVolumeConfig       ? "ExistingVolumeConfig"
                            : d.kind == DocumentKind::kExistingVolumeConfig ? "UserVolumeConfig"
                                                                            : nullptr;
    if (conflicts) {
      const std::string other = std::string(conflicts) + "/" + d.name;
      if (seen.count(other)) fail("conflicting documents: " + other + " and " + id);
    }
    seen[id] = id;
  }
  return cfg;
}

}  // namespace cryptnode::config
