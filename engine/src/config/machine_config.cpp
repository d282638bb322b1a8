// MachineConfig lookups and Talos' document and cross-document validation
// (TALOS-SPEC.md §1.3, §1.4; §7.2 for which document wins).
#include <algorithm>
#include <cctype>
#include <set>
#include <string>

#include "cryptnode/engine/config.h"
#include "cryptnode/engine/error.h"

namespace cryptnode::config {
namespace {

const char* const kSystemVolumes[] = {"STATE", "EPHEMERAL", "IMAGECACHE", "ETCD",
                                      "CRI",   "KUBELET",   "LOG"};
constexpr size_t kMaxUserVolumeNameLength = 34;  // 36 - len("u-")

void append(std::vector<std::string>& out, const std::vector<std::string>& more) {
  out.insert(out.end(), more.begin(), more.end());
}

std::vector<std::string> validate_legacy(const EncryptionSpec& e, const std::string& label) {
  std::vector<std::string> errs;
  if (!e.enabled()) return errs;
  const std::string p = "partition \"" + label + "\": ";
  if (e.keys.empty()) errs.push_back(p + "no encryption keys provided");
  std::set<int> slots;
  for (const EncryptionKey& k : e.keys) {
    if (!slots.insert(k.slot).second)
      errs.push_back(p + "encryption key slot " + std::to_string(k.slot) + " is already in use");
    if (!k.type())
      errs.push_back(p + "encryption key at slot " + std::to_string(k.slot) +
                     " doesn't have the configuration parameters");
  }
  return errs;
}

std::vector<std::string> validate_user_volume_name(const Document& d) {
  std::vector<std::string> errs;
  if (d.name.empty()) errs.push_back("name is required");
  if (d.name.size() > kMaxUserVolumeNameLength)
    errs.push_back("name can only be " + std::to_string(kMaxUserVolumeNameLength) +
                   " characters long");
  for (char c : d.name)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-') {
      errs.push_back(
          "name can only contain lowercase and uppercase ASCII letters, digits, and "
          "hyphens");
      break;
    }
  return errs;
}

std::vector<std::string> validate_document(const Document& d) {
  std::vector<std::string> errs;
  switch (d.kind) {
    case DocumentKind::kVolumeConfig: {
      bool allowed = false;
      for (const char* v : kSystemVolumes) allowed |= d.name == v;
      if (!allowed)
        errs.push_back(
            "only [\"STATE\" \"EPHEMERAL\" \"IMAGECACHE\" \"ETCD\" \"CRI\" \"KUBELET\" \"LOG\"] "
            "volumes are supported");
      if (d.name == "STATE" && d.provisioning.present)
        errs.push_back("provisioning config is not allowed for the \"STATE\" volume");
      if (d.encryption) {
        append(errs, d.encryption->validate());
        if (d.name == "STATE")
          for (const EncryptionKey& k : d.encryption->keys)
            if (k.locked_to_state())
              errs.push_back("state-locked key is not allowed for the \"STATE\" volume");
      }
      break;
    }
    case DocumentKind::kUserVolumeConfig:
      append(errs, validate_user_volume_name(d));
      if (d.volume_type == "directory" && d.encryption && !d.encryption->is_zero())
        errs.push_back("encryption spec is invalid for volumeType directory");
      else if (d.encryption)
        append(errs, d.encryption->validate());
      break;
    case DocumentKind::kRawVolumeConfig:
    case DocumentKind::kSwapVolumeConfig:
      append(errs, validate_user_volume_name(d));
      if (d.encryption) append(errs, d.encryption->validate());
      break;
    case DocumentKind::kV1Alpha1:
      if (d.legacy_ephemeral) append(errs, validate_legacy(*d.legacy_ephemeral, "EPHEMERAL"));
      if (d.legacy_state) append(errs, validate_legacy(*d.legacy_state, "STATE"));
      break;
    default:
      break;
  }
  return errs;
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
  std::vector<std::string> errs;
  for (const Document& d : documents_) append(errs, validate_document(d));
  // V1Alpha1ConflictValidate: STATE/EPHEMERAL encryption in both places.
  if (const Document* v1 = v1alpha1()) {
    for (const char* label : {"STATE", "EPHEMERAL"}) {
      const auto& legacy = std::string(label) == "STATE" ? v1->legacy_state : v1->legacy_ephemeral;
      const Document* vc = find(DocumentKind::kVolumeConfig, label);
      if (legacy && vc && vc->encryption && !vc->encryption->is_zero())
        errs.push_back(std::string("system disk encryption for \"") + label +
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

std::vector<std::string> validate_text(std::string_view yaml) {
  try {
    return MachineConfig::parse(yaml).validate();
  } catch (const Error& e) {
    return {e.what()};
  }
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
