#include "cryptnode/sim/firmware_tpm_context.h"

namespace cryptnode::sim {

tpm::TpmContext make_tpm_context(Swtpm& swtpm, const FirmwareSettings& settings,
                                 std::function<const Uki*()> running_uki,
                                 std::function<void(const std::function<void()>&)> pcr11_lock,
                                 RandomSource& random) {
  tpm::TpmContext c;
  c.connect = [&swtpm] { return swtpm.connect(); };
  c.with_pcr11_lock = std::move(pcr11_lock);
  c.secure_boot = [&settings] { return settings.efi_secure_boot(); };
  c.setup_mode = [&settings] { return settings.efi_setup_mode(); };
  c.uki_files = [uki = std::move(running_uki)] {
    const Uki* u = uki ? uki() : nullptr;
    return u ? u->extra_files() : tpm::UkiExtraFiles{};
  };
  c.random = &random;
  return c;
}

}  // namespace cryptnode::sim
