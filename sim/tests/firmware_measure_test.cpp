// The simulated firmware's measurements and releases: three PCR 7 values, PCR 11 equal to
// systemd-measure's for the same sections, signature JSON verified by openssl (and equal to
// systemd-measure sign's), node signing keys, and whole boots with TPM keys across reboots,
// upgrades, vendor changes, SecureBoot changes and the start-the-world lock.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "cryptnode/engine/error.h"
#include "cryptnode/engine/keys/kms_handler.h"
#include "cryptnode/engine/tpm/pcr_signature.h"
#include "cryptnode/engine/tpm/tpm_handler.h"
#include "cryptnode/sim/firmware.h"
#include "cryptnode/sim/firmware_tpm_context.h"
#include "cryptnode/sim/swtpm.h"

using namespace cryptnode;
using namespace cryptnode::sim;

namespace {

const char* kSystemdMeasure = "/lib/systemd/systemd-measure";

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/cryptnode-fw-XXXXXX";
    if (!mkdtemp(tmpl)) throw std::runtime_error("mkdtemp");
    path_ = tmpl;
  }
  ~TempDir() {
    Swtpm::stop_leftover(Env::posix(), path_);
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string write(const std::string& name, const std::string& data) {
    Env::posix().write_file_atomic(path_ + "/" + name, data, 0600);
    return path_ + "/" + name;
  }

 private:
  std::string path_;
};

// One key per vendor for the whole binary (RSA generation is the slow part).
const std::string& key_of(const std::string& vendor) {
  // Env::posix() first, so that it outlives the directory's clean-up at exit.
  static Env& env = Env::posix();
  static struct KeyDir {
    std::string path;
    KeyDir() {
      char tmpl[] = "/tmp/cryptnode-fw-keys-XXXXXX";
      if (!mkdtemp(tmpl)) throw std::runtime_error("mkdtemp");
      path = tmpl;
    }
    ~KeyDir() {
      std::error_code ec;
      std::filesystem::remove_all(path, ec);
    }
  } dir;
  static PcrSigningKeys keys(env, dir.path);
  static std::map<std::string, std::string> cache;
  auto it = cache.find(vendor);
  if (it == cache.end()) it = cache.emplace(vendor, keys.private_key_pem(vendor)).first;
  return it->second;
}

std::string message(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

TEST(FirmwarePCR7, ThreeDistinctValuesMeasuredIntoTheTPM) {
  const FirmwareSettings on{true, false}, off{false, false}, setup{true, true};
  EXPECT_TRUE(on.efi_secure_boot());
  EXPECT_FALSE(off.efi_secure_boot());
  EXPECT_FALSE(setup.efi_secure_boot());
  EXPECT_TRUE(setup.efi_setup_mode());
  const tpm::Digest a = expected_pcr7(on), b = expected_pcr7(off), c = expected_pcr7(setup);
  EXPECT_NE(a, b);
  EXPECT_NE(a, c);
  EXPECT_NE(b, c);
  EXPECT_EQ(pcr7_events(on).size(), 6u);
  EXPECT_EQ(pcr7_events(on).back().description, "EV_SEPARATOR");

  TempDir node;
  Swtpm s(Env::posix(), node.path());
  for (const FirmwareSettings& f : {on, off, setup}) {
    s.restart();
    measure_secure_boot_state(*s.connect(), f);
    EXPECT_EQ(s.connect()->pcr_read(7), expected_pcr7(f));
  }
}

TEST(FirmwarePCR7, UefiVariableDataLayout) {
  const uint8_t guid[16] = {0x61, 0xdf, 0xe4, 0x8b, 0xca, 0x93, 0xd2, 0x11,
                            0xaa, 0x0d, 0x00, 0xe0, 0x98, 0x03, 0x2b, 0x8c};
  const std::string d = uefi_variable_data(guid, "SecureBoot", std::string(1, '\x01'));
  EXPECT_EQ(d.size(), 16u + 8 + 8 + 20 + 1);
  EXPECT_EQ(tpm::to_hex(reinterpret_cast<const uint8_t*>(d.data()), d.size()),
            "61dfe48bca93d211aa0d00e098032b8c"
            "0a00000000000000"
            "0100000000000000"
            "53006500630075007200650042006f006f007400"
            "01");
}

TEST(FirmwareRelease, DeterministicAndSignedWithTheVendorKey) {
  const Uki a = build_release("1.12.9", key_of(kOfficialVendor));
  const Uki b = build_release("1.12.9", key_of(kOfficialVendor));
  const Uki c = build_release("1.13.0", key_of(kOfficialVendor));
  const Uki d = build_release("1.12.9", key_of("acme"), {.vendor = "acme"});
  EXPECT_EQ(a.pcr_signature_json, b.pcr_signature_json);
  EXPECT_NE(a.pcr_signature_json, c.pcr_signature_json);
  EXPECT_EQ(a.pcr_public_key_pem, c.pcr_public_key_pem);
  EXPECT_NE(a.pcr_public_key_pem, d.pcr_public_key_pem);
  EXPECT_EQ(*a.section(".pcrpkey"), a.pcr_public_key_pem);
  EXPECT_NE(a.section(".osrel")->find("VERSION_ID=v1.12.9"), std::string::npos);
  std::vector<std::string> names;
  for (const auto& s : a.sections) names.push_back(s.name);
  EXPECT_EQ(names, (std::vector<std::string>{".linux", ".osrel", ".cmdline", ".initrd", ".uname",
                                             ".sbat", ".pcrpkey"}));
  auto j = nlohmann::json::parse(a.pcr_signature_json);
  EXPECT_EQ(j.size(), 3u);  // sha256, sha384, sha512 as Talos' GenerateSignedPCR
  EXPECT_EQ(a.pcr_signature_json.rfind("{\"sha256\":[{\"pcrs\":[11],\"pkfp\":\"", 0), 0u);
}

TEST(FirmwareRelease, SignaturesVerifyWithOpenssl) {
  TempDir dir;
  const Uki uki = build_release("1.12.9", key_of(kOfficialVendor));
  const std::string pub = dir.write("pub.pem", uki.pcr_public_key_pem);
  const tpm::PcrSignature sig = tpm::PcrSignature::parse(uki.pcr_signature_json);
  const tpm::RsaPublicKey rsa = tpm::parse_pcr_signing_pub_key(uki.pcr_public_key_pem);
  for (const auto& [md, banks] : std::vector<std::pair<std::string, std::vector<tpm::PcrBankData>>>{
           {"-sha256", sig.sha256}, {"-sha384", sig.sha384}, {"-sha512", sig.sha512}}) {
    ASSERT_EQ(banks.size(), 1u) << md;
    const tpm::PcrBankData& e = banks[0];
    EXPECT_EQ(e.pcrs, std::vector<int>{11});
    EXPECT_EQ(e.pkfp, tpm::to_hex(tpm::rsa_pub_key_fingerprint(rsa)));
    tpm::Bytes pol;
    for (size_t i = 0; i < e.pol.size(); i += 2)
      pol.push_back(static_cast<uint8_t>(std::stoi(e.pol.substr(i, 2), nullptr, 16)));
    const std::string pol_file = dir.write("pol" + md, std::string(pol.begin(), pol.end()));
    Secret raw = keys::base64_decode(e.sig);
    const std::string sig_file = dir.write("sig" + md, std::string(raw.view()));
    ProcessResult r = Env::posix().run(
        {"openssl", "dgst", md, "-verify", pub, "-signature", sig_file, pol_file}, {});
    EXPECT_EQ(r.exit_code, 0) << md << ": " << r.output;
    EXPECT_NE(r.output.find("Verified OK"), std::string::npos) << r.output;
  }
}

TEST(FirmwarePCR11, EqualsSystemdMeasureAndTheTPM) {
  if (!Env::posix().exists(kSystemdMeasure))
    GTEST_SKIP() << kSystemdMeasure << " is absent (Debian package systemd)";
  TempDir dir;
  // systemd 252's systemd-measure knows .linux .osrel .cmdline .initrd .splash .dtb .pcrpkey.
  const Uki uki = build_release("1.12.9", key_of(kOfficialVendor), {.uname_and_sbat = false});
  std::vector<std::string> argv = {kSystemdMeasure, "calculate", "--bank=sha256",
                                   "--phase=enter-initrd:leave-initrd:enter-machined"};
  for (const auto& s : uki.sections)
    argv.push_back("--" + s.name.substr(1) + "=" + dir.write(s.name.substr(1), s.contents));
  ProcessResult r = Env::posix().run(argv, {});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const tpm::Bytes expected =
      expected_pcr11(uki, {kPhaseEnterInitrd, kPhaseLeaveInitrd, kPhaseEnterMachined});
  EXPECT_NE(r.output.find("11:sha256=" + tpm::to_hex(expected)), std::string::npos) << r.output;

  // And the swtpm after the measured boot and the enter-machined extend.
  Swtpm s(Env::posix(), dir.path() + "/node");
  s.start();
  measure_boot(*s.connect(), FirmwareSettings{}, uki);
  extend_phase(*s.connect(), kPhaseEnterMachined);
  const tpm::Digest pcr11 = s.connect()->pcr_read(11);
  EXPECT_EQ(tpm::Bytes(pcr11.begin(), pcr11.end()), expected);
}

TEST(FirmwarePCR11, SignatureEqualsSystemdMeasureSign) {
  if (!Env::posix().exists(kSystemdMeasure))
    GTEST_SKIP() << kSystemdMeasure << " is absent (Debian package systemd)";
  TempDir dir;
  const Uki uki = build_release("1.12.9", key_of(kOfficialVendor),
                                {.uname_and_sbat = false, .all_banks = false});
  Swtpm s(Env::posix(), dir.path() + "/node");
  s.start();  // `sign` needs a TPM (it lets the TPM compute the policy)
  std::vector<std::string> argv = {
      kSystemdMeasure,
      "sign",
      "--bank=sha256",
      "--phase=enter-initrd:leave-initrd:enter-machined",
      "--private-key=" + dir.write("priv.pem", key_of(kOfficialVendor)),
      "--public-key=" + dir.write("pub.pem", uki.pcr_public_key_pem),
      "--tpm2-device=" + s.tcti(),
      "--json=short"};
  for (const auto& sec : uki.sections)
    argv.push_back("--" + sec.name.substr(1) + "=" + dir.write(sec.name.substr(1), sec.contents));
  ProcessOptions o;
  o.env = {"SYSTEMD_LOG_LEVEL=err"};
  ProcessResult r = Env::posix().run(argv, o);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto theirs = nlohmann::json::parse(r.output.substr(r.output.find('{')));
  const auto ours = nlohmann::json::parse(uki.pcr_signature_json);
  EXPECT_EQ(ours["sha256"], theirs["sha256"]) << r.output;
}

TEST(FirmwareKeys, GeneratedOnceWithMode0600) {
  TempDir dir;
  PcrSigningKeys keys(Env::posix(), dir.path() + "/firmware");
  const std::string a = keys.private_key_pem();
  EXPECT_EQ(keys.private_key_pem(), a);
  EXPECT_EQ(PcrSigningKeys(Env::posix(), dir.path() + "/firmware").private_key_pem(), a);
  struct stat st {};
  ASSERT_EQ(::stat(keys.path(kOfficialVendor).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_NE(keys.private_key_pem("acme"), a);
  EXPECT_THROW(keys.private_key_pem("../evil"), Error);
}

// Nodes of one vendor share its key (one vendor signs all its UKIs); each keeps its own file.
TEST(FirmwareKeys, OneKeyPerVendorAcrossNodesOfAProcess) {
  TempDir a, b;
  PcrSigningKeys ka(Env::posix(), a.path() + "/firmware"), kb(Env::posix(), b.path() + "/firmware");
  EXPECT_EQ(ka.private_key_pem("shared-vendor"), kb.private_key_pem("shared-vendor"));
  EXPECT_NE(ka.private_key_pem("shared-vendor"), kb.private_key_pem("other-vendor"));
  struct stat st {};
  ASSERT_EQ(::stat(kb.path("shared-vendor").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

// A node-like boot sequence with a TPM key.
class FirmwareBoot : public ::testing::Test {
 protected:
  TempDir node;
  Swtpm swtpm{Env::posix(), node.path()};
  FirmwareSettings firmware;
  Uki running;
  bool pcr_status = false;

  void boot(const Uki& uki) {
    swtpm.restart();
    running = uki;
    measure_boot(*swtpm.connect(), firmware, uki);
    extend_phase(*swtpm.connect(), kPhaseEnterMachined);
    pcr_status = true;
  }
  void start_the_world() {
    pcr_status = false;
    extend_phase(*swtpm.connect(), kPhaseStartTheWorld);
  }
  tpm::TpmContext context() {
    return make_tpm_context(
        swtpm, firmware, [this] { return running.sections.empty() ? nullptr : &running; },
        [this](const std::function<void()>& fn) {
          if (!pcr_status)
            throw Error(Code::kFailedPrecondition,
                        "failed to lock PCR 11, as it is in the wrong state, a reboot might be "
                        "required");
          fn();
        },
        Env::posix().random());
  }
};

TEST_F(FirmwareBoot, UpgradesKeepUnlockingUntilAnotherVendorOrSecureBootChange) {
  boot(build_release("1.12.0", key_of(kOfficialVendor)));
  auto h = tpm::make_tpm_handler(0, config::KeyTPM{}, context());  // PCR 7 bound
  keys::NewKey k = h->new_key();
  start_the_world();
  EXPECT_EQ(message([&] { h->get_key(k.token_json); }),
            "failed to lock PCR 11, as it is in the wrong state, a reboot might be required");
  pcr_status = true;  // even with the lock, PCR 11 moved past the signed value
  EXPECT_EQ(message([&] { h->get_key(k.token_json); }),
            "no signatures matching PCR SHA256 digest found in signature JSON");

  boot(build_release("1.12.0", key_of(kOfficialVendor)));  // reboot
  EXPECT_TRUE(h->get_key(k.token_json) == k.passphrase);
  boot(build_release("1.12.9", key_of(kOfficialVendor)));  // upgrade, same key
  EXPECT_TRUE(h->get_key(k.token_json) == k.passphrase);

  boot(build_release("1.12.9", key_of("acme"), {.vendor = "acme"}));  // another vendor
  EXPECT_EQ(message([&] { h->get_key(k.token_json); })
                .rfind("failed to validate PCR policy digest for PCRs [7]: sealing policy digest "
                       "does not match",
                       0),
            0u);

  firmware.secure_boot = false;  // SecureBoot off: PCR 7 differs
  boot(build_release("1.12.9", key_of(kOfficialVendor)));
  EXPECT_EQ(message([&] { h->get_key(k.token_json); })
                .rfind("failed to validate PCR policy digest for PCRs [7]: sealing policy digest "
                       "does not match",
                       0),
            0u);
}

TEST_F(FirmwareBoot, EnrolmentChecksAndTPMClear) {
  firmware.setup_mode = true;
  boot(build_release("1.12.9", key_of(kOfficialVendor)));
  config::KeyTPM checked;
  checked.check_secureboot_status_on_enroll = true;
  // In setup mode the SecureBoot variable reads 0, so Talos' first check answers.
  EXPECT_EQ(message([&] { tpm::make_tpm_handler(0, checked, context())->new_key(); }),
            "failed to enroll the TPM2 key, as SecureBoot is disabled (and "
            "checkSecurebootOnEnroll is enabled)");
  firmware.setup_mode = false;
  boot(build_release("1.12.9", key_of(kOfficialVendor)));
  auto h = tpm::make_tpm_handler(0, checked, context());
  keys::NewKey k = h->new_key();
  const tpm::Bytes srk = swtpm.connect()->srk_name();
  swtpm.stop();
  swtpm.clear();
  boot(build_release("1.12.9", key_of(kOfficialVendor)));
  EXPECT_EQ(message([&] {
              h->get_key(k.token_json);
            }).rfind("srk name does not match, expected " + tpm::to_hex(srk) + ", got ", 0),
            0u);
}

TEST_F(FirmwareBoot, BootWithoutUkiCannotSeal) {
  swtpm.restart();
  measure_boot_without_uki(*swtpm.connect(), firmware);
  pcr_status = true;
  running = Uki{};  // no UKI booted: no /.extra files
  EXPECT_EQ(message([&] { tpm::make_tpm_handler(0, config::KeyTPM{}, context())->new_key(); }),
            "PCR bank 11 is populated with all zeroes");
}

}  // namespace

TEST(FirmwarePlatform, PcrsZeroToSixAreMeasuredAndPcr4FollowsTheUki) {
  TempDir dir;
  const Uki a = build_release("1.12.9", key_of(kOfficialVendor));
  const Uki b = build_release("1.12.10", key_of(kOfficialVendor));
  Swtpm s(Env::posix(), dir.path() + "/node");
  s.start();
  measure_boot(*s.connect(), FirmwareSettings{}, a);
  std::vector<tpm::Digest> first;
  for (int pcr = 0; pcr <= 6; ++pcr) {
    first.push_back(s.connect()->pcr_read(pcr));
    EXPECT_NE(first.back(), tpm::Digest{}) << "PCR " << pcr;  // Talos refuses all-zero PCRs
  }
  s.restart();
  measure_boot(*s.connect(), FirmwareSettings{}, b);
  EXPECT_EQ(s.connect()->pcr_read(0), first[0]);  // same firmware
  EXPECT_NE(s.connect()->pcr_read(4), first[4]);  // another boot application
}
