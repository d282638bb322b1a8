// The measurements of the simulated firmware (PCR 7), systemd-stub (PCR 11 sections) and Talos'
// boot phases (PCR 11).
#include <openssl/evp.h>

#include "cryptnode/engine/error.h"
#include "cryptnode/engine/tpm/policy.h"
#include "cryptnode/sim/firmware.h"

namespace cryptnode::sim {

namespace {

// EFI GUIDs in their on-disk (mixed-endian) byte order.
constexpr uint8_t kEfiGlobalVariable[16] = {0x61, 0xdf, 0xe4, 0x8b, 0xca, 0x93, 0xd2, 0x11,
                                            0xaa, 0x0d, 0x00, 0xe0, 0x98, 0x03, 0x2b, 0x8c};
constexpr uint8_t kEfiImageSecurityDatabase[16] = {0xcb, 0xb2, 0x19, 0xd7, 0x3a, 0x3d, 0x96, 0x45,
                                                   0xa3, 0xbc, 0xda, 0xd0, 0x0e, 0x67, 0x65, 0x6f};
// EFI_CERT_X509_GUID a5c059a1-94e4-4aa7-87b5-ab155c2bf072, EFI_CERT_SHA256_GUID
// c1c41626-504c-4092-aca9-41f936934328.
constexpr uint8_t kEfiCertX509[16] = {0xa1, 0x59, 0xc0, 0xa5, 0xe4, 0x94, 0xa7, 0x4a,
                                      0x87, 0xb5, 0xab, 0x15, 0x5c, 0x2b, 0xf0, 0x72};
constexpr uint8_t kEfiCertSha256[16] = {0x26, 0x16, 0xc4, 0xc1, 0x4c, 0x50, 0x92, 0x40,
                                        0xac, 0xa9, 0x41, 0xf9, 0x36, 0x93, 0x43, 0x28};
// The simulated owner of every signature (SignatureOwner).
constexpr uint8_t kOwner[16] = {'c', 'r', 'y', 'p', 't', 'n', 'o', 'd',
                                'e', '-', 'o', 'w', 'n', 'e', 'r', '!'};

void put_le(std::string& s, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void put(std::string& s, const uint8_t* p, size_t n) {
  s.append(reinterpret_cast<const char*>(p), n);
}

// EFI_SIGNATURE_LIST with one EFI_SIGNATURE_DATA.
std::string signature_list(const uint8_t type[16], const std::string& signature) {
  const uint32_t sig_size = static_cast<uint32_t>(16 + signature.size());
  std::string s;
  put(s, type, 16);
  put_le(s, 28 + sig_size, 4);  // SignatureListSize
  put_le(s, 0, 4);              // SignatureHeaderSize
  put_le(s, sig_size, 4);       // SignatureSize
  put(s, kOwner, 16);
  s += signature;
  return s;
}

std::string fake_cert(const std::string& what) {
  return "simulated X.509 certificate: " + what;
}

MeasuredEvent variable_event(const uint8_t guid[16], const std::string& name,
                             const std::string& data) {
  return {"EV_EFI_VARIABLE_DRIVER_CONFIG " + name,
          tpm::sha256(uefi_variable_data(guid, name, data))};
}

const EVP_MD* md_of(uint16_t bank) {
  switch (bank) {
    case tpm::kAlgSHA256:
      return EVP_sha256();
    case tpm::kAlgSHA384:
      return EVP_sha384();
    case tpm::kAlgSHA512:
      return EVP_sha512();
  }
  throw Error(Code::kInvalidArgument, "unsupported PCR bank");
}

tpm::Bytes hash(const EVP_MD* md, std::string_view data) {
  tpm::Bytes out(static_cast<size_t>(EVP_MD_get_size(md)));
  unsigned len = 0;
  EVP_Digest(data.data(), data.size(), out.data(), &len, md, nullptr);
  return out;
}

// Digest.Extend (extend.go): value = H(value ‖ H(data)).
void extend(const EVP_MD* md, tpm::Bytes& value, std::string_view data) {
  tpm::Bytes h = hash(md, data);
  std::string buf(reinterpret_cast<const char*>(value.data()), value.size());
  buf.append(reinterpret_cast<const char*>(h.data()), h.size());
  value = hash(md, buf);
}

}  // namespace

std::string uefi_variable_data(const uint8_t guid[16], std::string_view name,
                               std::string_view data) {
  std::string s;
  put(s, guid, 16);
  put_le(s, name.size(), 8);  // UnicodeNameLength, in CHAR16, no terminator
  put_le(s, data.size(), 8);  // VariableDataLength
  for (char c : name) {       // UTF-16LE (ASCII names)
    s.push_back(c);
    s.push_back('\0');
  }
  s.append(data);
  return s;
}

std::vector<MeasuredEvent> pcr7_events(const FirmwareSettings& f) {
  const bool keys = !f.setup_mode;
  std::vector<MeasuredEvent> ev;
  ev.push_back(variable_event(kEfiGlobalVariable, "SecureBoot",
                              std::string(1, f.efi_secure_boot() ? '\x01' : '\x00')));
  ev.push_back(variable_event(kEfiGlobalVariable, "PK",
                              keys ? signature_list(kEfiCertX509, fake_cert("Platform Key")) : ""));
  ev.push_back(
      variable_event(kEfiGlobalVariable, "KEK",
                     keys ? signature_list(kEfiCertX509, fake_cert("Key Exchange Key")) : ""));
  ev.push_back(
      variable_event(kEfiImageSecurityDatabase, "db",
                     keys ? signature_list(kEfiCertX509, fake_cert("Talos UKI signing key")) : ""));
  ev.push_back(variable_event(kEfiImageSecurityDatabase, "dbx",
                              keys ? signature_list(kEfiCertSha256, std::string(32, '\xee')) : ""));
  ev.push_back({"EV_SEPARATOR", tpm::sha256(std::string(4, '\0'))});
  return ev;
}

tpm::Digest expected_pcr7(const FirmwareSettings& settings) {
  tpm::Digest v{};
  for (const auto& e : pcr7_events(settings)) v = tpm::pcr_extended_digest(v, e.digest);
  return v;
}

void measure_secure_boot_state(tpm::Tpm& t, const FirmwareSettings& settings) {
  for (const auto& e : pcr7_events(settings)) t.pcr_extend(tpm::kSecureBootStatePCR, e.digest);
}

const std::vector<std::string>& uki_section_order() {
  static const std::vector<std::string> order = {
      ".linux", ".osrel", ".cmdline", ".initrd",  ".ucode",   ".splash", ".dtb",
      ".uname", ".sbat",  ".pcrpkey", ".profile", ".dtbauto", ".hwids"};
  return order;
}

std::vector<MeasuredEvent> uki_events(const Uki& uki) {
  std::vector<MeasuredEvent> ev;
  for (const std::string& name : uki_section_order()) {
    const std::string* contents = uki.section(name);
    if (!contents) continue;
    ev.push_back({"section name " + name, tpm::sha256(name + std::string(1, '\0'))});
    ev.push_back({"section " + name, tpm::sha256(*contents)});
  }
  return ev;
}

void measure_uki(tpm::Tpm& t, const Uki& uki) {
  for (const auto& e : uki_events(uki)) t.pcr_extend(tpm::kUKIPCR, e.digest);
}

void extend_phase(tpm::Tpm& t, std::string_view phase) {
  t.pcr_extend_data(tpm::kUKIPCR, phase);
}

tpm::Bytes expected_pcr11(const Uki& uki, const std::vector<std::string>& phases, uint16_t bank) {
  const EVP_MD* md = md_of(bank);
  tpm::Bytes value(static_cast<size_t>(EVP_MD_get_size(md)), 0);
  for (const std::string& name : uki_section_order()) {
    const std::string* contents = uki.section(name);
    if (!contents) continue;
    extend(md, value, name + std::string(1, '\0'));
    extend(md, value, *contents);
  }
  for (const std::string& p : phases) extend(md, value, p);
  return value;
}

std::vector<std::pair<int, MeasuredEvent>> platform_events(const Uki* uki) {
  std::vector<std::pair<int, MeasuredEvent>> ev;
  // PCR 0: the firmware's own code (EV_S_CRTM_VERSION, EV_EFI_PLATFORM_FIRMWARE_BLOB).
  ev.push_back({0, {"EV_S_CRTM_VERSION", tpm::sha256("cryptnode simulated firmware 1.0")}});
  ev.push_back({0, {"EV_EFI_PLATFORM_FIRMWARE_BLOB", tpm::sha256("cryptnode firmware volume")}});
  // PCR 4: the boot application, here the UKI image (its sections stand in for the PE file).
  if (uki) {
    std::string image;
    for (const auto& sec : uki->sections) image += sec.name + '\0' + sec.contents;
    ev.push_back({4, {"EV_EFI_BOOT_SERVICES_APPLICATION", tpm::sha256(image)}});
  }
  // EV_SEPARATOR into PCRs 0-6 (PCR 7's is in pcr7_events) at the hand-over to the OS loader.
  for (int pcr = 0; pcr <= 6; ++pcr)
    ev.push_back({pcr, {"EV_SEPARATOR", tpm::sha256(std::string(4, '\0'))}});
  return ev;
}

void measure_platform(tpm::Tpm& t, const Uki* uki) {
  for (const auto& [pcr, e] : platform_events(uki)) t.pcr_extend(pcr, e.digest);
}

void measure_boot(tpm::Tpm& t, const FirmwareSettings& settings, const Uki& uki) {
  measure_platform(t, &uki);
  measure_secure_boot_state(t, settings);
  measure_uki(t, uki);
  extend_phase(t, kPhaseEnterInitrd);
  extend_phase(t, kPhaseLeaveInitrd);
}

void measure_boot_without_uki(tpm::Tpm& t, const FirmwareSettings& settings) {
  measure_platform(t, nullptr);
  measure_secure_boot_state(t, settings);
}

}  // namespace cryptnode::sim
