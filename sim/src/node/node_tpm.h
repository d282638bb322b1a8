// The node's TPM while powered on: its swtpm, the simulated firmware and the booted UKI (the
// node's Talos release signed by its vendor's key), measured at power-on; the phases the
// controller extends; and the TpmContext the `tpm` key handler uses.
#pragma once

#include <memory>
#include <string>

#include "cryptnode/engine/env.h"
#include "cryptnode/engine/tpm/tpm_handler.h"
#include "cryptnode/sim/firmware.h"
#include "cryptnode/sim/firmware_release.h"
#include "cryptnode/sim/node_settings.h"
#include "cryptnode/sim/swtpm.h"

namespace cryptnode::sim {

class NodeTpm {
 public:
  // Power-on: swtpm started (a killed owner's left over is stopped first), PCR 7 from the
  // firmware settings, PCR 11 from the UKI of `settings.talos_version` and the initrd phases.
  NodeTpm(Env& env, const std::string& node_dir, const NodeSettings& settings);
  ~NodeTpm();  // clean power-off

  void cut();  // power cut: swtpm SIGKILLed
  void extend_phase(std::string_view phase);
  // Every seal and unseal runs inside `pcr11_lock`; a slow TPM (tpm_latency_ms) advances the
  // node's virtual clock by its latency there, before the lock is released.
  tpm::TpmContext context(std::function<void(const std::function<void()>&)> pcr11_lock);
  // A new owner seed while running (TPM2_Clear): every sealed key stops unsealing.
  void clear();

 private:
  Env& env_;
  int64_t latency_ms_;  // NodeSettings::tpm_latency_ms
  FirmwareSettings firmware_;
  Uki uki_;
  Swtpm swtpm_;
};

}  // namespace cryptnode::sim
