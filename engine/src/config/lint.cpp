// cryptnode's warnings for configs Talos accepts but a real node then mishandles, and hints for
// errors whose cause is a common misspelling (`cryptnode config validate`).
#include <string>

#include "cryptnode/engine/config.h"
#include "cryptnode/engine/error.h"

namespace cryptnode::config {
namespace {

void lint_spec(const EncryptionSpec& e, const std::string& where, std::vector<std::string>& out) {
  for (const EncryptionKey& k : e.keys) {
    const int64_t slot = k.talos_slot();
    const std::string at = where + " key slot " + std::to_string(slot) + ": ";
    if (slot == -1)
      out.push_back(at +
                    "slot -1 is go-blockdevice's AnyKeyslot: the key is added to any free slot "
                    "and then opens any slot, so syncKeys removes every other slot (and "
                    "cryptsetup's CLI even the last one): the volume is lost on a real node too");
    else if (slot < -1 || slot >= 32)
      out.push_back(at + "slot " + std::to_string(slot) +
                    " is out of range: LUKS2 has keyslots 0-31; Talos accepts the config but "
                    "the volume fails at boot with a raw libcryptsetup error");
    if (k.static_key && k.static_key->passphrase.view().empty())
      out.push_back(at +
                    "the static passphrase is empty: Talos passes it as an empty key, which "
                    "libcryptsetup refuses (a keyslot needs a non-empty passphrase), so the "
                    "volume cannot be formatted or opened with this key");
  }
}

}  // namespace

std::vector<std::string> lint(const MachineConfig& config) {
  std::vector<std::string> out;
  for (const Document& d : config.documents()) {
    if (d.kind == DocumentKind::kV1Alpha1) {
      if (d.legacy_state) lint_spec(*d.legacy_state, "v1alpha1 systemDiskEncryption.state", out);
      if (d.legacy_ephemeral)
        lint_spec(*d.legacy_ephemeral, "v1alpha1 systemDiskEncryption.ephemeral", out);
      continue;
    }
    if (d.encryption) lint_spec(*d.encryption, d.kind_name + "/" + d.name, out);
  }
  return out;
}

Report check(std::string_view yaml, const versions::Version& version) {
  Report r;
  try {
    MachineConfig cfg = MachineConfig::parse(yaml, version);
    r.errors = cfg.validate();
    r.warnings = lint(cfg);
  } catch (const Error& e) {
    r.errors = {e.what()};
    const std::string text = e.what();
    if (text.find("unknown keys found during decoding") != std::string::npos &&
        text.find("lockToSTATE") != std::string::npos)
      r.hints.push_back(
          "the key is spelled lockToState (encryption.keys[].lockToState); lockToSTATE is "
          "rejected by Talos' decoder");
    if (text.find("unknown keys found during decoding") != std::string::npos &&
        text.find("allowDiscards") != std::string::npos &&
        !versions::applies(versions::Rule::kEncryptionAllowDiscards, version))
      r.hints.push_back("encryption.allowDiscards exists from Talos 1.14 on");
  }
  return r;
}

}  // namespace cryptnode::config
