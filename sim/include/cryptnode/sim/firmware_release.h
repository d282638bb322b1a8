// Simulated Talos releases for the firmware: a release is a UKI — a set of sections whose contents
// are deterministic per version string — plus the PCR signing key that signed its PCR 11 policy.
// What Talos' imager does (internal/pkg/uki/generate.go, internal/pkg/measure/measure.go): the
// .pcrpkey section carries the public key, the .pcrsig section (not measured; systemd-stub exposes
// it as /.extra/tpm2-pcr-signature.json) carries the policy signed for PCR 11 at
// `enter-machined`, in systemd-stub's signature JSON form
// {"sha256":[{"pcrs":[11],"pkfp":..,"pol":..,"sig":..}],"sha384":[..],"sha512":[..]}.
//
// Official releases share one signing key (as Sidero's do), so an upgrade re-signs PCR 11 with the
// same key and TPM keys keep unlocking; a release signed by another vendor's key does not unlock
// them. Keys live in the node directory, generated once (mode 0600), so a node carries everything.
#pragma once

#include <string>
#include <vector>

#include "cryptnode/engine/env.h"
#include "cryptnode/engine/tpm/seal.h"

namespace cryptnode::sim {

inline constexpr const char* kOfficialVendor = "siderolabs";

struct UkiSection {
  std::string name;  // ".linux", ".osrel", ...
  std::string contents;
};

struct Uki {
  std::string version;               // "1.12.9"
  std::string vendor;                // whose key signed it
  std::vector<UkiSection> sections;  // measured sections, in systemd-stub's order
  std::string pcr_public_key_pem;    // /.extra/tpm2-pcr-public-key.pem (= .pcrpkey)
  std::string pcr_signature_json;    // /.extra/tpm2-pcr-signature.json (= .pcrsig)

  // What TpmContext::uki_files returns while this UKI is booted.
  tpm::UkiExtraFiles extra_files() const { return {pcr_public_key_pem, pcr_signature_json}; }
  const std::string* section(const std::string& name) const;
};

struct ReleaseOptions {
  std::string vendor = kOfficialVendor;
  // .uname and .sbat, which Talos' UKIs carry and systemd >= 254 stubs measure. false: only the
  // sections systemd 252's systemd-measure knows (.linux .osrel .cmdline .initrd .pcrpkey).
  bool uname_and_sbat = true;
  // Signed entries for sha256, sha384 and sha512 as Talos' GenerateSignedPCR writes; false: sha256
  // only (what `systemd-measure sign --bank=sha256` writes).
  bool all_banks = true;
};

// A release's UKI, signed with `signing_key_pem` (an RSA private key, PEM). Deterministic: the same
// version, key and options give the same bytes.
Uki build_release(const std::string& version, const std::string& signing_key_pem,
                  const ReleaseOptions& options = {});

// The PCR signing keys of a node: <dir>/pcr-signing-key-<vendor>.pem (RSA 2048, PKCS#8, 0600),
// written on first use and reused afterwards. A vendor's key is generated once per process and
// shared by the nodes it makes, as one vendor signs all its UKIs.
class PcrSigningKeys {
 public:
  PcrSigningKeys(Env& env, std::string dir) : env_(env), dir_(std::move(dir)) {}
  // Error(kInvalidArgument) for a vendor name that is not [A-Za-z0-9._-]+.
  std::string private_key_pem(const std::string& vendor = kOfficialVendor);
  std::string path(const std::string& vendor) const;

 private:
  Env& env_;
  std::string dir_;
};

}  // namespace cryptnode::sim
