// Simulated Talos releases (UKI sections + signed PCR 11 policy) and the node's PCR signing keys.
#include <map>
#include <mutex>

#include "cryptnode/engine/error.h"
#include "cryptnode/engine/tpm/pcr_signature.h"
#include "cryptnode/sim/firmware.h"
#include "cryptnode/sim/firmware_release.h"

namespace cryptnode::sim {

namespace {

std::string os_release(const std::string& v) {
  return "NAME=\"Talos\"\nID=talos\nVERSION_ID=v" + v + "\nPRETTY_NAME=\"Talos (v" + v +
         ")\"\nHOME_URL=\"https://www.talos.dev/\"\n"
         "BUG_REPORT_URL=\"https://github.com/siderolabs/talos/issues\"\n"
         "VENDOR_NAME=\"Sidero Labs\"\nVENDOR_URL=\"https://www.siderolabs.com/\"\n";
}

std::vector<UkiSection> release_sections(const std::string& v, const std::string& pubkey,
                                         bool uname_and_sbat) {
  std::vector<UkiSection> s = {
      {".linux", "cryptnode simulated vmlinuz for Talos v" + v + "\n"},
      {".osrel", os_release(v)},
      {".cmdline",
       "talos.platform=metal console=ttyS0 console=tty0 init_on_alloc=1 slab_nomerge pti=on "
       "consoleblank=0 nvme_core.io_timeout=4294967295 printk.devkmsg=on ima_template=ima-ng "
       "ima_appraise=fix ima_hash=sha512 lockdown=confidentiality"},
      {".initrd", "cryptnode simulated initramfs for Talos v" + v + "\n"},
  };
  if (uname_and_sbat) {
    s.push_back({".uname", "6.12.0-talos-v" + v});
    s.push_back({".sbat",
                 "sbat,1,SBAT Version,sbat,1,https://github.com/rhboot/shim/blob/main/SBAT.md\n"
                 "systemd-stub,1,The systemd Developers,systemd,257,https://systemd.io/\n"});
  }
  s.push_back({".pcrpkey", pubkey});
  return s;
}

}  // namespace

const std::string* Uki::section(const std::string& name) const {
  for (const auto& s : sections)
    if (s.name == name) return &s.contents;
  return nullptr;
}

Uki build_release(const std::string& version, const std::string& signing_key_pem,
                  const ReleaseOptions& options) {
  Uki uki;
  uki.version = version;
  uki.vendor = options.vendor;
  uki.pcr_public_key_pem = tpm::public_key_pem(signing_key_pem);
  uki.sections = release_sections(version, uki.pcr_public_key_pem, options.uname_and_sbat);

  // CalculateBankData: the policy of PCR 11 at enter-machined, signed per bank.
  const std::vector<std::string> phases = {kPhaseEnterInitrd, kPhaseLeaveInitrd,
                                           kPhaseEnterMachined};
  tpm::PcrSignature sig;
  sig.sha256.push_back(tpm::bank_data(expected_pcr11(uki, phases, tpm::kAlgSHA256), tpm::kAlgSHA256,
                                      signing_key_pem));
  if (options.all_banks) {
    sig.sha384.push_back(tpm::bank_data(expected_pcr11(uki, phases, tpm::kAlgSHA384),
                                        tpm::kAlgSHA384, signing_key_pem));
    sig.sha512.push_back(tpm::bank_data(expected_pcr11(uki, phases, tpm::kAlgSHA512),
                                        tpm::kAlgSHA512, signing_key_pem));
  }
  uki.pcr_signature_json = sig.to_json();
  return uki;
}

std::string PcrSigningKeys::path(const std::string& vendor) const {
  return dir_ + "/pcr-signing-key-" + vendor + ".pem";
}

std::string PcrSigningKeys::private_key_pem(const std::string& vendor) {
  if (vendor.empty() ||
      vendor.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                               "0123456789._-") != std::string::npos ||
      vendor[0] == '.')
    throw Error(Code::kInvalidArgument, "invalid PCR signing key vendor name \"" + vendor + "\"");
  const std::string p = path(vendor);
  if (auto existing = env_.read_file(p)) return *existing;
  env_.make_dirs(dir_, 0700);
  // One key per vendor and process: a vendor signs all its UKIs with one key (every official
  // Talos image carries Sidero's), so nodes of one vendor made by one process share it, and the
  // RSA-2048 generation (≈ 130 ms, most of a TPM node's first power-on) runs once per vendor
  // rather than once per node. Each node keeps its own copy on disk.
  static std::mutex mu;
  static std::map<std::string, std::string> generated;  // vendor -> PEM
  std::string key;
  {
    std::lock_guard<std::mutex> l(mu);
    auto it = generated.find(vendor);
    if (it == generated.end())
      it = generated.emplace(vendor, tpm::generate_rsa_private_key(2048)).first;
    key = it->second;
  }
  env_.write_file_atomic(p, key, 0600);  // a crash leaves no half-written key
  return key;
}

}  // namespace cryptnode::sim
