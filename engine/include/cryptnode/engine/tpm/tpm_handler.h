// The `tpm` key handler: Talos' TPMKeyHandler (internal/pkg/encryption/keys/tpm2.go), go type
// "*keys.TPMKeyHandler". Everything that belongs to the machine rather than to the key — how to
// reach the TPM, the PCR 11 lock, the EFI variables, the running UKI's /.extra files, randomness —
// comes from the caller through TpmContext, so the engine knows nothing of nodes or swtpm.
//
//   NewKey: checkSecurebootStatusOnEnroll → 32 random bytes → [PCR 11 lock: connect → Seal] →
//           token; passphrase = base64(the 32 bytes).
//   GetKey: token (missing or foreign: "invalid token") → [PCR 11 lock: connect → Unseal] →
//           base64(the unsealed bytes).
#pragma once

#include <functional>
#include <memory>

#include "cryptnode/engine/config.h"
#include "cryptnode/engine/env.h"
#include "cryptnode/engine/keys/key_handler.h"
#include "cryptnode/engine/tpm/seal.h"
#include "cryptnode/engine/tpm/tpm.h"

namespace cryptnode::tpm {

struct TpmContext {
  // Opens the machine's TPM (Tpm::connect on the node's swtpm TCTI, or Tpm::open_device). Throws
  // Error when there is none, e.g. Tpm::open_device's "open /dev/tpm0: no such file or
  // directory"; the handler passes the error up unchanged, as Talos does.
  std::function<std::unique_ptr<Tpm>()> connect;
  // hardware.LockPCRStatus(state, 11, <volume ID>) (pkg/machinery/resources/hardware/
  // pcr_status.go): runs `fn` while the PCRStatus "11" resource carries the volume's finalizer,
  // and removes it afterwards even when `fn` throws. When the resource is gone it throws
  // Error(kFailedPrecondition, "failed to lock PCR 11, as it is in the wrong state, a reboot
  // might be required") without running `fn`.
  std::function<void(const std::function<void()>& fn)> with_pcr11_lock;
  // The EFI variables SecureBoot and SetupMode (efi.GetSecureBoot / GetSetupMode of go-uefi;
  // false when absent). Read only on enrolment with checkSecurebootStatusOnEnroll.
  std::function<bool()> secure_boot;
  std::function<bool()> setup_mode;
  // The running UKI's /.extra/tpm2-pcr-public-key.pem and tpm2-pcr-signature.json (nullopt:
  // absent). Read at each seal and unseal.
  std::function<UkiExtraFiles()> uki_files;
  // The 32-byte key's source (crypto/rand in Talos): Env::random().
  RandomSource* random = nullptr;
};

// `key` is the configured tpm key (pcrs() applies the `options` quirk; check_secureboot_status_
// on_enroll defaults to false). The context is copied.
std::unique_ptr<keys::KeyHandler> make_tpm_handler(int slot, const config::KeyTPM& key,
                                                   const TpmContext& context);

}  // namespace cryptnode::tpm
