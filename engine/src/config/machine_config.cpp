// MachineConfig lookups and Talos' document and cross-document validation: the documents'
// Validate() (pkg/machinery/config/types/block/*.go, v1alpha1_validation.go) and
// container.Validate (pkg/machinery/config/container/container.go), release-1.12 / 1.14.
#include <algorithm>
#include <cctype>
#include <set>
#include <string>

#include "cryptnode/engine/cel.h"
#include "cryptnode/engine/config.h"
#include "cryptnode/engine/error.h"

namespace cryptnode::config {
namespace {

constexpr size_t kMaxVolumeNameLength = 34;  // constants.PartitionLabelLength - len("u-")

void append(std::vector<std::string>& out, const std::vector<std::string>& more) {
  out.insert(out.end(), more.begin(), more.end());
}

// v1alpha1_validation.go (Config.Validate, release-1.12 = release-1.14): the rules on
// machine.systemDiskEncryption, EPHEMERAL then STATE, for every present section whatever its
// provider: "no encryption keys provided", "encryption key slot N is already in use", "encryption
// key at slot N doesn't have the configuration parameters". They are the only encryption rules of
// that file. The rest of Config.Validate (machine type, CA, cluster endpoint, network, kubelet,
// ...) is not modelled: cryptnode keeps those parts of the v1alpha1 document opaque and never
// reports their errors (e.g. "machine instructions are required" for a document without
// `machine`). A null key entry (`keys: [~]`) makes Talos' validation dereference a nil key; the
// decoder drops such entries instead.
std::vector<std::string> validate_legacy(const Document& d) {
  std::vector<std::string> errs;
  for (const char* label : {"EPHEMERAL", "STATE"}) {
    const auto& e = std::string(label) == "STATE" ? d.legacy_state : d.legacy_ephemeral;
    if (!e) continue;
    const std::string p = "partition \"" + std::string(label) + "\": ";
    if (e->keys.empty()) errs.push_back(p + "no encryption keys provided");
    std::set<int64_t> slots;
    for (const EncryptionKey& k : e->keys) {
      if (!slots.insert(k.talos_slot()).second)
        errs.push_back(p + "encryption key slot " + std::to_string(k.talos_slot()) +
                       " is already in use");
      if (!k.type())
        errs.push_back(p + "encryption key at slot " + std::to_string(k.talos_slot()) +
                       " doesn't have the configuration parameters");
    }
  }
  return errs;
}

bool invalid_name_char(const std::string& name) {
  for (char c : name)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-'))
      return true;
  return false;
}

std::vector<std::string> validate_volume_name(const Document& d, bool length) {
  std::vector<std::string> errs;
  if (d.name.empty()) errs.push_back("name is required");
  if (length && (d.name.empty() || d.name.size() > kMaxVolumeNameLength))
    errs.push_back("name must be between 1 and " + std::to_string(kMaxVolumeNameLength) +
                   " characters long");
  if (invalid_name_char(d.name))
    errs.push_back(
        "name can only contain lowercase and uppercase ASCII letters, digits, and hyphens");
  return errs;
}

// ProvisioningSpec.Validate(required, sizeSupported) (volume_config.go)
std::vector<std::string> validate_provisioning(const Provisioning& p, bool required,
                                               bool size_supported) {
  std::vector<std::string> errs;
  if (p.disk_selector_match) {
    const std::string e = cel::check(*p.disk_selector_match, cel::Environment::kDiskLocator);
    if (!e.empty()) errs.push_back("disk selector is invalid: " + e);
  } else if (required) {
    errs.push_back("disk selector is required");
  }
  const bool max_zero = !p.max_size && !p.max_size_percent;
  if (size_supported) {
    if (p.min_size && !max_zero && !p.max_size_percent) {
      if (*p.min_size > *p.max_size) errs.push_back("min size is greater than max size");
    } else if (required && !p.min_size && max_zero) {
      errs.push_back("min size or max size is required");
    }
  } else if (p.min_size || !max_zero || p.grow) {
    errs.push_back("min size, max size and grow are not supported");
  }
  return errs;
}

std::vector<std::string> validate_filesystem(const Document& d) {
  const std::string& t = d.filesystem_type;
  if (!(t.empty() || t == "xfs" || t == "ext4")) return {"unsupported filesystem type: " + t};
  if (d.project_quota_support.value_or(false) && !(t.empty() || t == "xfs"))
    return {"project quota support is only available for xfs filesystem"};
  return {};
}

bool filesystem_zero(const Document& d) {
  return d.filesystem_type.empty() && !d.project_quota_support;
}

std::vector<std::string> validate_document(const Document& d, const versions::Version& v) {
  std::vector<std::string> errs;
  const EncryptionSpec none;
  const EncryptionSpec& enc = d.encryption ? *d.encryption : none;
  switch (d.kind) {
    case DocumentKind::kVolumeConfig: {
      const bool seven = versions::applies(versions::Rule::kVolumeConfigSevenNames, v);
      std::vector<std::string> allowed = {"STATE", "EPHEMERAL", "IMAGECACHE"};
      if (seven) allowed.insert(allowed.end(), {"ETCD", "CRI", "KUBELET", "LOG"});
      if (std::find(allowed.begin(), allowed.end(), d.name) == allowed.end()) {
        std::string list;
        for (const auto& a : allowed) list += (list.empty() ? "" : " ") + ("\"" + a + "\"");
        return {"only [" + list + "] volumes are supported"};
      }
      if (d.name == "STATE") {
        if (d.provisioning.present)
          errs.push_back("provisioning config is not allowed for the \"STATE\" volume");
        for (const EncryptionKey& k : enc.keys)
          if (k.locked_to_state())
            errs.push_back("state-locked key is not allowed for the \"STATE\" volume");
      }
      append(errs, validate_provisioning(d.provisioning, false, true));
      append(errs, enc.validate());
      break;
    }
    case DocumentKind::kUserVolumeConfig: {
      append(errs, validate_volume_name(d, true));
      const std::string type = d.volume_type.empty() ? "partition" : d.volume_type;
      if (type == "directory") {
        if (d.provisioning.present)
          errs.push_back("provisioning spec is invalid for volumeType directory");
        if (!enc.is_zero()) errs.push_back("encryption spec is invalid for volumeType directory");
        if (!filesystem_zero(d))
          errs.push_back("filesystem spec is invalid for volumeType directory");
      } else if (type == "disk" || type == "partition") {
        append(errs, validate_provisioning(d.provisioning, true, type == "partition"));
        append(errs, validate_filesystem(d));
        append(errs, enc.validate());
      } else {
        errs.push_back("unsupported volume type \"" + type + "\"");
      }
      break;
    }
    case DocumentKind::kRawVolumeConfig:
    case DocumentKind::kSwapVolumeConfig:
      append(errs, validate_volume_name(d, true));
      append(errs, validate_provisioning(d.provisioning, true, true));
      append(errs, enc.validate());
      break;
    case DocumentKind::kExistingVolumeConfig:
      append(errs, validate_volume_name(d, false));
      if (d.volume_selector) {
        const std::string e = cel::check(*d.volume_selector, cel::Environment::kVolumeLocator);
        if (!e.empty()) errs.push_back("volume selector is invalid: " + e);
      } else {
        errs.push_back("volume selector is required");
      }
      break;
    default:
      break;
  }
  return errs;
}

std::string joined(const std::vector<std::string>& errs) {  // errors.Join
  std::string out;
  for (const auto& e : errs) out += (out.empty() ? "" : "\n") + e;
  return out;
}

}  // namespace

std::string Document::volume_id() const {
  switch (kind) {
    case DocumentKind::kVolumeConfig:
      return name;
    case DocumentKind::kUserVolumeConfig:
      return "u-" + name;
    case DocumentKind::kRawVolumeConfig:
      return "r-" + name;
    case DocumentKind::kSwapVolumeConfig:
      return "s-" + name;
    default:
      return "";
  }
}

std::string Document::display_name() const {
  if (kind == DocumentKind::kV1Alpha1) return "v1alpha1";
  return kind_name + (name.empty() ? "" : " \"" + name + "\"");
}

const Document* MachineConfig::find(DocumentKind kind, std::string_view name) const {
  for (const Document& d : documents_)
    if (d.kind == kind && (kind == DocumentKind::kV1Alpha1 || d.name == name)) return &d;
  return nullptr;
}

std::vector<std::string> MachineConfig::validate() const {
  // container.Validate (pkg/machinery/config/container/container.go)
  std::vector<std::string> errs;
  if (const Document* v1 = v1alpha1())
    if (auto legacy = validate_legacy(*v1); !legacy.empty())
      errs.push_back("v1alpha1.Config: " + format_multierror(legacy));
  for (const Document& d : documents_) {
    if (d.kind == DocumentKind::kV1Alpha1) continue;
    if (auto e = validate_document(d, version_); !e.empty())
      errs.push_back(d.kind_name + "/" + d.name + ": " + joined(e));
  }
  // V1Alpha1ConflictValidate (volume_config.go)
  if (const Document* v1 = v1alpha1()) {
    for (const Document& d : documents_) {
      if (d.kind != DocumentKind::kVolumeConfig || (d.name != "STATE" && d.name != "EPHEMERAL"))
        continue;
      if (!d.encryption || d.encryption->provider != "luks2") continue;
      const auto& legacy = d.name == "STATE" ? v1->legacy_state : v1->legacy_ephemeral;
      if (legacy)
        errs.push_back("system disk encryption for \"" + d.name +
                       "\" is configured in both v1alpha1.Config and VolumeConfig");
    }
  }
  return errs;
}

std::optional<EncryptionSpec> MachineConfig::encryption_for(std::string_view volume_id) const {
  for (const Document& d : documents_) {
    if (d.volume_id() != volume_id || d.kind == DocumentKind::kV1Alpha1) continue;
    if (d.encryption && d.encryption->enabled()) return d.encryption;
    if (d.encryption && !d.encryption->is_zero()) return std::nullopt;
    break;  // the document exists but configures no encryption: fall back to legacy below
  }
  if (const Document* v1 = v1alpha1()) {
    const auto& legacy = volume_id == "STATE"       ? v1->legacy_state
                         : volume_id == "EPHEMERAL" ? v1->legacy_ephemeral
                                                    : std::optional<EncryptionSpec>{};
    if (legacy && legacy->enabled()) return legacy;
  }
  return std::nullopt;
}

std::vector<std::string> MachineConfig::user_volume_ids() const {
  std::vector<std::string> out;
  for (const Document& d : documents_)
    if (d.kind == DocumentKind::kUserVolumeConfig || d.kind == DocumentKind::kRawVolumeConfig ||
        d.kind == DocumentKind::kSwapVolumeConfig)
      out.push_back(d.volume_id());
  return out;
}

std::vector<std::string> validate_text(std::string_view yaml, const versions::Version& version) {
  try {
    return MachineConfig::parse(yaml, version).validate();
  } catch (const Error& e) {
    return {e.what()};
  }
}

std::vector<std::string> validate_text(std::string_view yaml) {
  return validate_text(yaml, versions::default_version());
}

std::vector<std::string> MachineConfig::trusted_roots() const {
  std::vector<std::string> out;
  for (const Document& d : documents_)
    if (d.kind_name == "TrustedRootsConfig" && !d.certificates.empty())
      out.push_back(d.certificates);
  return out;
}

std::string format_multierror(const std::vector<std::string>& errors) {
  // hashicorp/go-multierror's ListFormatFunc, as Talos' container validation prints it.
  if (errors.empty()) return "";
  std::string out = std::to_string(errors.size()) +
                    (errors.size() == 1 ? " error occurred:\n" : " errors occurred:\n");
  for (const auto& e : errors) out += "\t* " + e + "\n";
  return out + "\n";
}

}  // namespace cryptnode::config
