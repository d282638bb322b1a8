// The engine's TpmContext (engine/include/cryptnode/engine/tpm/tpm_handler.h) for a simulated
// node: the TPM is the node's swtpm, the EFI variables and /.extra files come from the simulated
// firmware and the booted UKI. The PCR 11 lock stays with the caller (the node's PCRStatus, i.e.
// Talos' hardware.LockPCRStatus with the volume ID as finalizer).
#pragma once

#include <functional>

#include "cryptnode/engine/tpm/tpm_handler.h"
#include "cryptnode/sim/firmware.h"
#include "cryptnode/sim/swtpm.h"

namespace cryptnode::sim {

// `settings` and `running_uki` are read at each use (they must outlive the context);
// `running_uki` returns nullptr for a boot without a UKI (no /.extra files).
tpm::TpmContext make_tpm_context(Swtpm& swtpm, const FirmwareSettings& settings,
                                 std::function<const Uki*()> running_uki,
                                 std::function<void(const std::function<void()>&)> pcr11_lock,
                                 RandomSource& random);

}  // namespace cryptnode::sim
