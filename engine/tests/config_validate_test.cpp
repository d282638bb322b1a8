// Config documents: Talos' validation texts (TALOS-SPEC.md §1.3) and the unit-test cases of §1.4,
// the seed document's examples, and bad input.
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <sstream>

#include "cryptnode/engine/config.h"
#include "cryptnode/engine/error.h"

using namespace cryptnode;
using namespace cryptnode::config;

namespace {

std::string data(const std::string& name) {
  // The seed document's examples ship with the Python package (the demo reads them too).
  const std::string dir = name.rfind("seed_", 0) == 0 ? "/bindings/python/cryptnode/examples/"
                                                      : "/engine/tests/data/config/";
  std::ifstream f(std::string(CRYPTNODE_SOURCE_DIR) + dir + name);
  EXPECT_TRUE(f.good()) << name;
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::string joined(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : "\n") + s;
  return out;
}

std::string volume(const std::string& kind, const std::string& name, const std::string& body) {
  return "apiVersion: v1alpha1\nkind: " + kind + "\nname: " + name + "\n" + body;
}

std::string parse_error(const std::string& yaml) {
  try {
    MachineConfig::parse(yaml);
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Code::kConfigParse);
    return e.what();
  }
  ADD_FAILURE() << "no parse error for:\n" << yaml;
  return "";
}

}  // namespace

// --- TestVolumeConfigValidate ------------------------------------------------------------------

TEST(VolumeConfigValidate, EtcdPromotionEncryptionIsAllowed) {
  auto cfg = volume("VolumeConfig", "ETCD",
                    "provisioning:\n  maxSize: 10GiB\nencryption:\n  provider: luks2\n  keys:\n"
                    "    - slot: 0\n      static:\n        passphrase: x\n");
  EXPECT_TRUE(validate_text(cfg).empty()) << joined(validate_text(cfg));
}

// --- TestVolumeConfigTPMPCRsDefaults -------------------------------------------------------------

TEST(VolumeConfigTPMPCRsDefaults, Shapes) {
  struct Case {
    const char* file;
    std::vector<int> pcrs;
    bool nil;
  } cases[] = {
      {"volumeconfig_tpm_encryption_no_options.yaml", {7}, false},
      {"volumeconfig_tpm_encryption_with_pcr_settings.yaml", {0, 7}, false},
      {"volumeconfig_tpm_encryption_with_pcrs_disabled.yaml", {}, false},
      // options present, pcrs absent: Go nil, same as [] (the docs say [7]: they are wrong)
      {"volumeconfig_tpm_encryption_with_empty_options.yaml", {}, true},
  };
  for (const auto& c : cases) {
    auto cfg = MachineConfig::parse(data(c.file));
    ASSERT_TRUE(cfg.validate().empty()) << c.file;
    auto enc = cfg.encryption_for("EPHEMERAL");
    ASSERT_TRUE(enc) << c.file;
    ASSERT_TRUE(enc->keys[0].tpm) << c.file;
    EXPECT_EQ(enc->keys[0].tpm->pcrs(), c.pcrs) << c.file;
    EXPECT_EQ(enc->keys[0].tpm->pcrs_nil(), c.nil) << c.file;
    EXPECT_EQ(enc->keys[0].tpm->pub_key_pcrs(), std::vector<int>{11}) << c.file;
  }
}

TEST(VolumeConfigMarshal, StateTestdata) {
  auto cfg = MachineConfig::parse(data("volumeconfig_state.yaml"));
  auto enc = cfg.encryption_for("STATE");
  ASSERT_TRUE(enc);
  ASSERT_EQ(enc->keys.size(), 2u);
  EXPECT_EQ(enc->keys[0].type(), KeyType::kTPM);
  EXPECT_EQ(enc->keys[1].type(), KeyType::kStatic);
  EXPECT_EQ(enc->keys[1].static_key->passphrase, Secret(std::string_view("topsecret")));
}

// --- user/raw/swap encryption cases (identical in Talos' three tests) ---------------------------

class VolumeEncryptionCases : public ::testing::TestWithParam<const char*> {};

TEST_P(VolumeEncryptionCases, NoEncryptionProvider) {
  auto cfg = volume(GetParam(), "v1", "encryption:\n  keys:\n    - slot: 0\n      tpm: {}\n");
  EXPECT_EQ(joined(validate_text(cfg)), "unsupported encryption provider: none");
}

TEST_P(VolumeEncryptionCases, NoEncryptionKeys) {
  auto cfg = volume(GetParam(), "v1", "encryption:\n  provider: luks2\n");
  EXPECT_EQ(joined(validate_text(cfg)), "encryption keys are required");
}

TEST_P(VolumeEncryptionCases, InvalidEncryptionKeySlots) {
  auto cfg = volume(GetParam(), "v1",
                    "encryption:\n  provider: luks2\n  keys:\n    - slot: 1\n      tpm: {}\n"
                    "    - slot: 0\n    - slot: 1\n      tpm: {}\n");
  EXPECT_EQ(joined(validate_text(cfg)),
            "at least one encryption key type must be specified for slot 0\nduplicate key slot 1");
}

INSTANTIATE_TEST_SUITE_P(Talos, VolumeEncryptionCases,
                         ::testing::Values("UserVolumeConfig", "RawVolumeConfig",
                                           "SwapVolumeConfig"));

TEST(VolumeTestdata, EncryptedDocumentsAreValid) {
  for (const char* f : {"uservolumeconfig_encrypted.yaml", "rawvolumeconfig_encrypted.yaml",
                        "swapvolumeconfig_encrypted.yaml", "volumeconfig_state.yaml"}) {
    auto cfg = MachineConfig::parse(data(f));
    EXPECT_TRUE(cfg.validate().empty()) << f << ": " << joined(cfg.validate());
  }
  auto raw = MachineConfig::parse(data("rawvolumeconfig_encrypted.yaml"));
  EXPECT_EQ(raw.encryption_for("r-ceph-data")->allow_discards, true);
  auto user = MachineConfig::parse(data("uservolumeconfig_encrypted.yaml"));
  EXPECT_EQ(user.documents()[0].provisioning.max_size, 50ull << 30);
  EXPECT_EQ(user.documents()[0].provisioning.disk_selector_match, "disk.transport == \"nvme\"");
  EXPECT_TRUE(user.encryption_for("u-ceph-data"));
  EXPECT_EQ(user.encryption_for("u-ceph-data")->allow_discards, std::nullopt);  // default false
}

// --- TestCrossValidateEncryption -----------------------------------------------------------------

namespace {
const char* kV1Ephemeral =
    "version: v1alpha1\nmachine:\n  systemDiskEncryption:\n    ephemeral:\n      provider: luks2\n"
    "      keys:\n        - nodeID: {}\n          slot: 0\n";
}

TEST(CrossValidateEncryption, LegacyEphemeralAndVolumeConfigStateIsFine) {
  auto cfg = std::string(kV1Ephemeral) + "---\n" +
             volume("VolumeConfig", "STATE",
                    "encryption:\n  provider: luks2\n  keys:\n    - slot: 0\n      nodeID: {}\n");
  EXPECT_TRUE(MachineConfig::parse(cfg).validate().empty());
}

TEST(CrossValidateEncryption, VolumeConfigEphemeralWithoutEncryptionIsFine) {
  auto cfg = std::string(kV1Ephemeral) + "---\n" +
             volume("VolumeConfig", "EPHEMERAL", "provisioning:\n  maxSize: 10GiB\n");
  auto parsed = MachineConfig::parse(cfg);
  EXPECT_TRUE(parsed.validate().empty());
  EXPECT_TRUE(parsed.encryption_for("EPHEMERAL"));  // the legacy section applies
}

// --- legacy v1alpha1 --------------------------------------------------------------------------

TEST(LegacyV1Alpha1, EmptyProviderMeansLuks2AndPrecedence) {
  auto cfg = MachineConfig::parse(data("v1alpha1_legacy.yaml"));
  EXPECT_TRUE(cfg.validate().empty()) << joined(cfg.validate());
  auto eph = cfg.encryption_for("EPHEMERAL");
  ASSERT_TRUE(eph);
  EXPECT_TRUE(eph->legacy);
  EXPECT_EQ(eph->provider, "");
  EXPECT_TRUE(eph->enabled());
  ASSERT_TRUE(cfg.encryption_for("STATE"));
}

TEST(LegacyV1Alpha1, UnknownProviderSilentlyMeansUnencrypted) {
  auto cfg = MachineConfig::parse(
      "version: v1alpha1\nmachine:\n  systemDiskEncryption:\n    state:\n      provider: luks3\n"
      "      keys:\n        - nodeID: {}\n");
  EXPECT_TRUE(cfg.validate().empty());
  EXPECT_FALSE(cfg.encryption_for("STATE"));
}

// --- the seed document's examples ------------------------------------------------------------

TEST(SeedExamples, ParseAndValidateAsTalosWould) {
  EXPECT_TRUE(validate_text(data("seed_state_ephemeral_nodeid.yaml")).empty());
  EXPECT_TRUE(validate_text(data("seed_user_volume_nodeid.yaml")).empty());
  // The key examples are patches without `provider`: alone, Talos rejects them.
  for (const char* f : {"seed_state_slot1_ephemeral_static_locked.yaml", "seed_rotation_step1.yaml",
                        "seed_rotation_step2.yaml"}) {
    auto errs = validate_text(data(f));
    ASSERT_FALSE(errs.empty()) << f;
    EXPECT_EQ(errs[0], "unsupported encryption provider: none") << f;
  }
  auto locked = MachineConfig::parse(data("seed_state_slot1_ephemeral_static_locked.yaml"));
  const auto* eph = locked.find(DocumentKind::kVolumeConfig, "EPHEMERAL");
  ASSERT_TRUE(eph && eph->encryption);
  EXPECT_TRUE(eph->encryption->keys[0].locked_to_state());
  EXPECT_EQ(locked.find(DocumentKind::kVolumeConfig, "STATE")->encryption->keys[0].slot, 1);
}

TEST(Document, VolumeIDs) {
  auto cfg = MachineConfig::parse(data("uservolumeconfig_encrypted.yaml") + "---\n" +
                                  data("rawvolumeconfig_encrypted.yaml") + "---\n" +
                                  data("swapvolumeconfig_encrypted.yaml"));
  EXPECT_EQ(cfg.user_volume_ids(),
            (std::vector<std::string>{"u-ceph-data", "r-ceph-data", "s-swap1"}));
}

TEST(EncryptionKey, KindPrecedenceStaticFirst) {
  auto cfg = MachineConfig::parse(volume(
      "VolumeConfig", "EPHEMERAL",
      "encryption:\n  provider: luks2\n  keys:\n    - slot: 0\n      nodeID: {}\n      tpm: {}\n"
      "      static:\n        passphrase: x\n"));
  EXPECT_EQ(cfg.encryption_for("EPHEMERAL")->keys[0].type(), KeyType::kStatic);
}

// --- strict parsing: unknown kinds, fields, wrong types ---------------------------------------

TEST(StrictParsing, OpaqueV1Alpha1PartsAreKept) {
  auto cfg = MachineConfig::parse(data("v1alpha1_legacy.yaml"));
  ASSERT_NE(cfg.v1alpha1(), nullptr);
  EXPECT_NE(cfg.text().find("clusterName: demo"), std::string::npos);
}

// --- bad input: clear errors in bounded time and memory ------------------------------------------

TEST(BadInput, Truncated) {
  std::string full = data("seed_state_ephemeral_nodeid.yaml");
  // Cut in the middle of a key: the result is either invalid YAML or an incomplete document;
  // both are errors or a valid prefix, never a crash.
  for (size_t cut = 1; cut < full.size(); cut += 7) {
    try {
      auto cfg = MachineConfig::parse(full.substr(0, cut));
      (void)cfg.validate();
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), Code::kConfigParse);
    }
  }
  EXPECT_NE(
      parse_error("apiVersion: v1alpha1\nkind: VolumeConfig\nname: STATE\nencryption:\n  keys:\n"
                  "    - slot: \"0")
          .find("invalid YAML"),
      std::string::npos);
}

TEST(BadInput, Huge) {
  std::string huge(10 << 20, ' ');
  EXPECT_EQ(parse_error(huge),
            "machine config: too large: 10485760 bytes (the limit is 4194304 bytes)");
}

TEST(BadInput, AliasBomb) {
  std::string y = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n";
  for (int i = 1; i < 9; ++i)
    y += "a" + std::to_string(i) + ": &a" + std::to_string(i) + " [*a" + std::to_string(i - 1) +
         ", *a" + std::to_string(i - 1) + ", *a" + std::to_string(i - 1) + ", *a" +
         std::to_string(i - 1) + ", *a" + std::to_string(i - 1) + ", *a" + std::to_string(i - 1) +
         ", *a" + std::to_string(i - 1) + ", *a" + std::to_string(i - 1) + ", *a" +
         std::to_string(i - 1) + ", *a" + std::to_string(i - 1) + "]\n";
  EXPECT_NE(parse_error(y).find("too complex"), std::string::npos);
}
