// A powered-off node's measured boot, exported for a real machine to replay (the VM tier's TPM
// test, docs/vm-tier.md): every event the simulated firmware, systemd-stub and Talos extend until
// the node's volumes unlock, in order, plus what systemd-stub exposes in /.extra (the PCR public
// key and the signed PCR 11 policy). Everything here is public: digests, a public key, signatures.
#pragma once

#include <string>

#include "cryptnode/engine/env.h"

namespace cryptnode::sim {

// JSON text for the node directory `node_dir` as its next power-on measures it:
//   {"talos_version", "uki_vendor", "secure_boot", "setup_mode",
//    "events": [{"pcr", "description", "digest" (SHA-256 hex)}, ...]  PCRs 0-6, 7, then 11
//        (the UKI's sections, then the phases enter-initrd, leave-initrd, enter-machined),
//    "signed_phases": [...], "pcr11": hex of PCR 11 after them (the value the .pcrsig signs),
//    "pcr_public_key_pem", "pcr_signature_json"}
// Error(kNotFound) when `node_dir` has no node.json or no PCR signing key yet (never booted with a
// TPM); Error(kInvalidArgument) for a node without a TPM.
std::string boot_measurements_json(Env& env, const std::string& node_dir);

}  // namespace cryptnode::sim
