// The simulated firmware and UKI boot: the measurements a UEFI + systemd-stub + Talos boot leaves
// in the TPM, exactly where Talos reads them (docs/tpm-and-firmware.md):
//
//   PCR 7  (UEFI firmware, EDK2 Tcg2Dxe order): EV_EFI_VARIABLE_DRIVER_CONFIG events for
//          SecureBoot, PK, KEK, db, dbx, then EV_SEPARATOR. Three distinct values for SecureBoot
//          enabled, disabled (keys kept) and setup mode (no keys).
//   PCR 11 (systemd-stub): for each UKI section present, in the stub's order, SHA256(".name\0")
//          then SHA256(contents); then Talos' phases (internal/pkg/secureboot/secureboot.go):
//          "enter-initrd" (internal/app/init/main.go), "leave-initrd"
//          (internal/pkg/mount/switchroot/switchroot.go), "enter-machined" and "start-the-world"
//          (PCRStatusController, internal/app/machined/pkg/controllers/hardware/pcr_status.go).
//
// The firmware also answers what Talos reads from EFI variables (SecureBoot, SetupMode) and what
// systemd-stub puts in /.extra (the release's PCR public key and signature JSON).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "cryptnode/engine/tpm/policy.h"
#include "cryptnode/engine/tpm/seal.h"
#include "cryptnode/engine/tpm/tpm.h"
#include "cryptnode/sim/firmware_release.h"

namespace cryptnode::sim {

// The node's firmware settings (node.set_firmware: effective from the next power-on).
struct FirmwareSettings {
  bool secure_boot = true;  // the user enabled Secure Boot enforcement
  bool setup_mode = false;  // no Platform Key enrolled

  // The EFI variables as the OS reads them: SecureBoot is 1 only when enforcement is on and the
  // platform is in user mode (UEFI 2.x: no PK => SetupMode=1 and SecureBoot=0).
  bool efi_secure_boot() const { return secure_boot && !setup_mode; }
  bool efi_setup_mode() const { return setup_mode; }
};

// --- PCR 7 --------------------------------------------------------------------------------------

// One measured event: the digest extended into the PCR and what it stands for.
struct MeasuredEvent {
  std::string description;  // "EV_EFI_VARIABLE_DRIVER_CONFIG SecureBoot", "EV_SEPARATOR", ...
  tpm::Digest digest;       // SHA-256 of the event data
};

// UEFI_VARIABLE_DATA (TCG PC Client PFP): GUID ‖ UINT64le name length in CHAR16 ‖ UINT64le data
// length ‖ UTF-16LE name ‖ data.
std::string uefi_variable_data(const uint8_t guid[16], std::string_view name,
                               std::string_view data);
// The PCR 7 events of a boot with these settings (SecureBoot, PK, KEK, db, dbx, separator). The
// signature databases hold fixed, simulated EFI_SIGNATURE_LISTs; in setup mode they are empty.
std::vector<MeasuredEvent> pcr7_events(const FirmwareSettings& settings);
// The PCR 7 value those events give from zero.
tpm::Digest expected_pcr7(const FirmwareSettings& settings);
void measure_secure_boot_state(tpm::Tpm& tpm, const FirmwareSettings& settings);

// --- PCR 11 -------------------------------------------------------------------------------------

// systemd-stub's measurement order (systemd v257 src/fundamental/uki.h, which Talos'
// internal/pkg/measure/internal/pcr/sections.go follows; v252 measures the subset
// .linux .osrel .cmdline .initrd .splash .dtb .pcrpkey in the same relative order).
const std::vector<std::string>& uki_section_order();
// The PCR 11 events of the UKI's sections: SHA256(".name\0"), SHA256(contents) per section present.
std::vector<MeasuredEvent> uki_events(const Uki& uki);
void measure_uki(tpm::Tpm& tpm, const Uki& uki);

// Talos' phases, in order (secureboot.OrderedPhases plus start-the-world).
inline constexpr const char* kPhaseEnterInitrd = "enter-initrd";
inline constexpr const char* kPhaseLeaveInitrd = "leave-initrd";
inline constexpr const char* kPhaseEnterMachined = "enter-machined";
inline constexpr const char* kPhaseStartTheWorld = "start-the-world";
// tpm2.PCRExtend(11, phase): extends SHA256(phase).
void extend_phase(tpm::Tpm& tpm, std::string_view phase);

// PCR 11 computed in software (internal/pkg/measure/internal/pcr/extend.go) for `uki`, after the
// given phases, in the bank of `bank` (tpm::kAlgSHA256/384/512).
tpm::Bytes expected_pcr11(const Uki& uki, const std::vector<std::string>& phases,
                          uint16_t bank = tpm::kAlgSHA256);

// --- the rest of the firmware's PCRs ------------------------------------------------------------
// PCR 0 (CRTM version, firmware blob), PCR 4 (the UKI as the boot application; nullptr: none)
// and the separators of PCRs 0-6, so that a TPM key bound to e.g. PCRs [0, 7] can seal (Talos
// refuses an all-zero PCR). Simulated contents, fixed per firmware; PCR 4 changes with the UKI.
std::vector<std::pair<int, MeasuredEvent>> platform_events(const Uki* uki);
void measure_platform(tpm::Tpm& tpm, const Uki* uki);

// --- a whole boot -------------------------------------------------------------------------------

// Power-on up to machined: PCRs 0-6 (measure_platform), PCR 7 from `settings`, PCR 11 from `uki`
// and the initrd phases
// (enter-initrd, leave-initrd). The node then extends enter-machined when its PCRStatus
// controller starts, and start-the-world when the volumes are settled.
void measure_boot(tpm::Tpm& tpm, const FirmwareSettings& settings, const Uki& uki);
// The same for a boot without a UKI (no systemd-stub): PCR 7 only; PCR 11 stays zero and there are
// no /.extra files (Talos then refuses to seal).
void measure_boot_without_uki(tpm::Tpm& tpm, const FirmwareSettings& settings);

}  // namespace cryptnode::sim
