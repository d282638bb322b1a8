// The registry of fault points: every place where a Talos node can be interrupted with an outcome
// of its own. Env::fault_point refuses names that are not listed here, so the list is the truth
// about what `node.crash_at(...)` can arm ("<name>" or "<name>#<N>", the Nth time it is reached).
// docs/fault-points.md explains each one's consequence.
#include <algorithm>

#include "cryptnode/engine/env.h"

namespace cryptnode {

const std::vector<FaultPointInfo>& fault_points() {
  static const std::vector<FaultPointInfo> kPoints = {
      // FormatAndEncrypt (internal/pkg/encryption/encryption.go)
      {"luks2.after_format", "luksFormat wrote the header and the first keyslot; no token yet"},
      {"encryption.after_format_token", "FormatAndEncrypt stored the first key's token"},
      {"encryption.before_add_key",
       "addKey made the new key and has written neither its token nor its keyslot"},
      {"encryption.after_add_key", "FormatAndEncrypt or syncKeys added one more keyslot"},
      {"volume.before_mkfs", "the volume is prepared (encrypted and open), no filesystem yet"},
      // syncKeys
      {"encryption.before_kill", "syncKeys is about to kill a keyslot (update or removal)"},
      {"encryption.after_kill", "RemoveKey killed a keyslot and has not removed its token yet"},
      {"encryption.between_kill_and_add",
       "syncKeys killed the stale keyslot of an update and has not added the new key yet"},
      {"encryption.after_token_write", "syncKeys wrote a slot's token before its luksAddKey"},
      {"encryption.after_remove", "syncKeys removed an unconfigured keyslot and its token"},
      // META (internal/pkg/meta)
      {"meta.between_copies", "the first ADV copy is written, the second is not"},
      {"meta.mid_copy", "half of the first ADV copy is written"},
      // encryption-salt.yaml (EncryptionSaltController)
      {"salt.before_write", "a new salt was generated and is not written to STATE yet"},
      {"salt.after_write", "encryption-salt.yaml is written to STATE"},
      // reset (v1alpha1 sequencer ResetSystemDisk)
      {"reset.after_wipe", "a volume's signatures are wiped, its GPT entry is not deleted yet"},
      {"reset.before_gpt_delete", "about to delete a wiped volume's GPT entry"},
      // apply-config
      {"apply_config.after_persist", "config.yaml is written to STATE, META 0x09 not rewritten"},
      {"apply_config.before_meta", "the new config is active, META 0x09 not rewritten yet"},
  };
  return kPoints;
}

bool is_fault_point(std::string_view name) {
  const auto& all = fault_points();
  return std::any_of(all.begin(), all.end(),
                     [&](const FaultPointInfo& p) { return p.name == name; });
}

}  // namespace cryptnode
