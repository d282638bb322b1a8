// A connection to a TPM 2.0 through tpm2-tss ESYS: what Talos' `tpm.Open()`
// (internal/pkg/tpm/tpm_linux.go) returns, plus the PCR helpers of
// internal/pkg/secureboot/tpm2/pcr.go. The simulator reaches its swtpm through the swtpm TCTI
// (`swtpm:path=<socket>`); a machine with a kernel TPM through the device TCTI (/dev/tpmrm0, then
// /dev/tpm0). See docs/tpm-and-firmware.md.
//
// There is no resource manager in front of swtpm (3 object slots, 3 session slots), so every
// transient object and session this code creates is flushed on every path, and connecting flushes
// what a crashed process left loaded (ConnectOptions::flush_leftovers). One Tpm is used by one
// thread at a time; Talos opens the TPM once per seal, unseal or extend, and so does the engine.
//
// Errors are Error(kUnavailable, ...) when the TPM cannot be reached (TCTI layer) and
// Error(kFailedPrecondition, ...) when the TPM refused a command; the text is Tss2_RC_Decode's
// ("tpm:session(1):a policy check failed", "tcti:IO failure"), never a secret. After a transport
// failure the connection is unusable (ESYS answers "esapi:Function called in the wrong order",
// also kUnavailable): connect again.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "cryptnode/engine/env.h"

struct ESYS_CONTEXT;  // tss2_esys.h

namespace cryptnode::tpm {

using Digest = std::array<uint8_t, 32>;  // a SHA-256 PCR value or policy digest
using Bytes = std::vector<uint8_t>;

// constants.UKIPCR, constants.SecureBootStatePCR (pkg/machinery/constants/constants.go).
inline constexpr int kUKIPCR = 11;
inline constexpr int kSecureBootStatePCR = 7;

// What Talos' tpm.Open() returns on a machine without a TPM (linuxtpm.Open("/dev/tpm0") after
// /dev/tpmrm0 was not found). A node without a TPM throws Error(kUnavailable, kNoTPMDeviceText)
// from TpmContext::connect.
inline constexpr const char* kNoTPMDeviceText = "open /dev/tpm0: no such file or directory";

struct ConnectOptions {
  // Tries of (TCTI initialisation + TPM2_Startup), `retry_delay_ms` apart (Env::sleep_for_ms):
  // a swtpm that was just spawned answers after ~10 ms. 1 = no retry.
  int attempts = 1;
  int retry_delay_ms = 10;
  // Flush every transient object and session loaded in the TPM (a crashed process's leftovers).
  // Only correct when this process is the TPM's single user, which is how a node runs.
  bool flush_leftovers = true;
};

class Tpm {
 public:
  // `tcti` is a tpm2-tss TCTI configuration: "swtpm:path=/run/cryptnode/<id>/tpm.sock",
  // "device:/dev/tpmrm0", ... Sends TPM2_Startup(CLEAR) (TPM2_RC_INITIALIZE, i.e. already
  // started, is fine). Error(kUnavailable, "<tcti>: tcti:IO failure") when nothing answers.
  static std::unique_ptr<Tpm> connect(const std::string& tcti, Env& env,
                                      const ConnectOptions& options = {});
  // Talos' tpm.Open(): /dev/tpmrm0, falling back to /dev/tpm0 only when the former does not exist.
  // Neither present: Error(kUnavailable, kNoTPMDeviceText).
  static std::unique_ptr<Tpm> open_device(Env& env);

  ~Tpm();
  Tpm(const Tpm&) = delete;
  Tpm& operator=(const Tpm&) = delete;

  const std::string& tcti() const { return tcti_; }

  // TPM2_PCR_Read of one SHA-256 PCR (ReadPCR in pcr.go): "PCR value for PCR %d is not available"
  // when the bank does not return it.
  Digest pcr_read(int pcr);
  // TPM2_PCR_Extend of the SHA-256 bank with `digest`.
  void pcr_extend(int pcr, const Digest& digest);
  // Talos' PCRExtend(pcr, data): extends SHA256(data) (internal/pkg/secureboot/tpm2/pcr.go).
  void pcr_extend_data(int pcr, std::string_view data);

  // validatePCRBanks (pcr.go): PCR 11 and every PCR of `pcrs` neither all zeroes
  // ("PCR bank %d is populated with all zeroes") nor all 0xFF ("... all 0xFF"), and all 24 SHA-256
  // PCRs allocated ("unexpected number of PCR banks: %d", "unexpected PCR banks: %v").
  void validate_pcr_banks(const std::vector<int>& pcrs);

  // The name (34 bytes: 000b ‖ SHA256(TPMT_PUBLIC)) of the SRK go-tpm's ECCSRKTemplate gives under
  // the owner hierarchy now: it changes when the owner seed changes (TPM cleared).
  Bytes srk_name();

  // Flushes every loaded transient object and session; returns how many were flushed.
  int flush_all();

  // Raw ESYS access for the seal/unseal code of this area.
  ESYS_CONTEXT* esys() { return esys_; }

 private:
  Tpm() = default;
  std::string tcti_;
  void* tcti_ctx_ = nullptr;  // TSS2_TCTI_CONTEXT*
  ESYS_CONTEXT* esys_ = nullptr;
};

// PCR arithmetic in software (Talos' internal/pkg/measure/internal/pcr/extend.go):
// SHA256(value ‖ SHA256(data)).
Digest pcr_extended(const Digest& value, std::string_view data);
// SHA256(value ‖ digest): what TPM2_PCR_Extend does with an already hashed event.
Digest pcr_extended_digest(const Digest& value, const Digest& digest);
Digest sha256(std::string_view data);

std::string to_hex(const uint8_t* data, size_t len);
inline std::string to_hex(const Bytes& b) {
  return to_hex(b.data(), b.size());
}
inline std::string to_hex(const Digest& d) {
  return to_hex(d.data(), d.size());
}
// How many times ESYS asked OpenSSL for a new library context and got the process' one shared
// context instead (tpm2-tss 3.2 asks for one per hash; see esys_openssl_context.cpp). 0 after a
// seal or unseal means the interposition is not in effect in this program.
unsigned long esys_shared_openssl_context_uses();

// Go's fmt %v of an []int: "[7 11]".
std::string go_int_list(const std::vector<int>& v);

}  // namespace cryptnode::tpm
