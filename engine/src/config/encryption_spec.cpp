// EncryptionSpec / EncryptionKey accessors and Talos' EncryptionSpec.Validate()
// (pkg/machinery/config/types/block/encryption.go).
#include <cctype>
#include <set>
#include <string>

#include "cryptnode/engine/config.h"

namespace cryptnode::config {

std::string_view key_type_name(KeyType t) {
  switch (t) {
    case KeyType::kStatic:
      return "static";
    case KeyType::kNodeID:
      return "nodeID";
    case KeyType::kKMS:
      return "kms";
    case KeyType::kTPM:
      return "tpm";
  }
  return "static";
}

std::vector<int> KeyTPM::pcrs() const {
  if (!options) return {7};  // constants.SecureBootStatePCR
  return options->pcrs.value_or(std::vector<int>{});
}

bool KeyTPM::pcrs_nil() const {
  return options.has_value() && !options->pcrs.has_value();
}

std::optional<KeyType> EncryptionKey::type() const {
  // Conversion precedence of Talos' adapter: static > nodeID > kms > tpm.
  if (static_key) return KeyType::kStatic;
  if (node_id) return KeyType::kNodeID;
  if (kms) return KeyType::kKMS;
  if (tpm) return KeyType::kTPM;
  return std::nullopt;
}

bool EncryptionSpec::is_zero() const {
  // encryption.go IsZero(): provider none and no keys; cipher, keySize, ... do not count.
  return (provider.empty() || provider == "none") && keys.empty();
}

bool EncryptionSpec::enabled() const {
  // Legacy v1alpha1 (v1alpha1_provider.go EncryptionConfig.Provider()): an empty provider means
  // luks2; otherwise EncryptionProviderTypeString, which matches case-insensitively, and an
  // unknown name silently means none (the parse error is ignored; nothing validates it).
  if (legacy) {
    std::string lower;
    for (char c : provider) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return lower.empty() || lower == "luks2";
  }
  return provider == "luks2";
}

std::string EncryptionSpec::effective_cipher() const {
  return cipher.empty() ? "aes-xts-plain64" : cipher;
}

std::vector<std::string> EncryptionSpec::validate() const {
  std::vector<std::string> errs;
  if (is_zero()) return errs;
  if (provider != "luks2")
    errs.push_back("unsupported encryption provider: " + (provider.empty() ? "none" : provider));
  if (keys.empty()) errs.push_back("encryption keys are required");
  std::set<int64_t> slots;
  for (const EncryptionKey& k : keys) {
    if (!slots.insert(k.talos_slot()).second)
      errs.push_back("duplicate key slot " + std::to_string(k.talos_slot()));
    if (!k.type())
      errs.push_back("at least one encryption key type must be specified for slot " +
                     std::to_string(k.talos_slot()));
    if (k.tpm && k.tpm->options && k.tpm->options->pcrs)
      for (int pcr : *k.tpm->options->pcrs)
        if (pcr < 0 || pcr > 23)
          errs.push_back("TPM PCR " + std::to_string(pcr) + " is out of range (0-23)");
  }
  return errs;
}

}  // namespace cryptnode::config
