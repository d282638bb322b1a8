// cryptnode's warnings for configs Talos accepts but a real node then mishandles, and hints for
// errors whose cause is a common misspelling (`cryptnode config validate`).
#include <string>

#include "cryptnode/engine/config.h"
#include "cryptnode/engine/error.h"

namespace cryptnode::config {
namespace {

// A real node runs the cryptsetup CLI with the key on stdin (go-blockdevice
// encryption/luks/luks.go: luksFormat/luksOpen/luksAddKey/luksKillSlot --key-file=-, and
// --key-slot=N only when the slot is not encryption.AnyKeyslot, -1). The facts below were replayed
// with cryptsetup 2.6.1 on a 32 MiB scratch file, with go-blockdevice's arguments:
//  - an empty key on stdin: luksFormat, luksOpen --test-passphrase and luksAddKey (empty new key)
//    print "Nothing to read on input." and exit 1, which go-blockdevice reports as "failed to call
//    cryptsetup: ..." (not a rejected key);
//  - slot -1: luksFormat without --key-slot puts the key in keyslot 0 and luksOpen without
//    --key-slot opens it; Talos' syncKeys (internal/pkg/encryption/encryption.go) then calls
//    RemoveKey for keyslot 0, which no key is configured for: `luksKillSlot img 0 --key-file=-`
//    with that same key exits 0 although it is the last keyslot, and the next open fails with "No
//    usable keyslot is available.". With another keyslot left, cryptsetup wants a passphrase of a
//    remaining keyslot: "No key available with this passphrase.", exit 2 (go-blockdevice's
//    ErrEncryptionKeyRejected);
//  - --key-slot=32: "Key slot 32 is invalid, please select between 0 and 31.", exit 1; a negative
//    slot other than -1: "cryptsetup: Key slot is invalid." (option parsing), exit 1.
void lint_spec(const EncryptionSpec& e, const std::string& where, std::vector<std::string>& out) {
  bool other_slots = false;
  for (const EncryptionKey& k : e.keys) other_slots |= k.talos_slot() != -1;
  for (const EncryptionKey& k : e.keys) {
    const int64_t slot = k.talos_slot();
    const std::string at = where + " key slot " + std::to_string(slot) + ": ";
    if (slot == -1 && !other_slots)
      out.push_back(at +
                    "slot -1 is go-blockdevice's AnyKeyslot: cryptsetup stores the key in keyslot "
                    "0, then Talos' syncKeys removes keyslot 0 as unconfigured and luksKillSlot "
                    "removes even the last keyslot: after the first open the volume has no "
                    "keyslot left (\"No usable keyslot is available.\"); Talos accepts the config "
                    "and loses the volume on a real node too");
    else if (slot == -1)
      out.push_back(at +
                    "slot -1 is go-blockdevice's AnyKeyslot: cryptsetup stores the key in keyslot "
                    "0 and it opens the volume first, then Talos' syncKeys tries to remove keyslot "
                    "0 as unconfigured with this key, which cryptsetup refuses while other "
                    "keyslots remain: a failed sync \"error removing key slot 0: encryption key "
                    "rejected\" at every open");
    else if (slot < -1 || slot >= 32)
      out.push_back(at + "slot " + std::to_string(slot) +
                    " is out of range: LUKS2 has keyslots 0-31 and cryptsetup refuses --key-slot=" +
                    std::to_string(slot) + " (" +
                    (slot >= 32 ? "\"Key slot " + std::to_string(slot) +
                                      " is invalid, please select between 0 and 31.\""
                                : std::string("\"Key slot is invalid.\"")) +
                    "); Talos accepts the config but formatting or adding this key fails on a real "
                    "node");
    if (k.static_key && k.static_key->passphrase.view().empty())
      out.push_back(
          at +
          "the static passphrase is empty: Talos pipes the key to cryptsetup on stdin and "
          "cryptsetup refuses an empty one (\"Nothing to read on input.\", exit 1): "
          "luksFormat fails, so a volume whose first key it is is never formatted, and "
          "luksAddKey and luksOpen fail, so it never becomes a keyslot nor opens the "
          "volume");
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
