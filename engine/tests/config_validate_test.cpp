// Config documents: what Talos' own validation tables (engine/tests/data/config/
// talos_validation_cases.yaml) do not cover: decoded values, version differences, the seed
// document's examples, cryptnode's warnings and hints, and bad input.
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

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

const versions::Version kV112 = versions::Version::parse("1.12");
const versions::Version kV114 = versions::Version::parse("1.14");

std::string parse_error(const std::string& yaml,
                        const versions::Version& version = versions::default_version()) {
  try {
    MachineConfig::parse(yaml, version);
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Code::kConfigParse);
    return e.what();
  }
  ADD_FAILURE() << "no parse error for:\n" << yaml;
  return "";
}

}  // namespace

// --- TestVolumeConfigValidate ------------------------------------------------------------------

// volume_config.go: ETCD, CRI, KUBELET and LOG VolumeConfigs exist from 1.14 on (release-1.14);
// release-1.12 allows only STATE, EPHEMERAL and IMAGECACHE.
TEST(VolumeConfigValidate, EtcdPromotionEncryptionIsAllowedFrom114) {
  auto cfg = volume("VolumeConfig", "ETCD",
                    "provisioning:\n  maxSize: 10GiB\nencryption:\n  provider: luks2\n  keys:\n"
                    "    - slot: 0\n      static:\n        passphrase: x\n");
  EXPECT_TRUE(validate_text(cfg, kV114).empty()) << joined(validate_text(cfg, kV114));
  EXPECT_EQ(
      joined(validate_text(cfg, kV112)),
      "VolumeConfig/ETCD: only [\"STATE\" \"EPHEMERAL\" \"IMAGECACHE\"] volumes are supported");
  for (const char* name : {"CRI", "KUBELET", "LOG"}) {
    auto other = volume("VolumeConfig", name, "");
    EXPECT_TRUE(validate_text(other, kV114).empty()) << name;
    EXPECT_EQ(validate_text(other, kV112).size(), 1u) << name;
  }
  EXPECT_EQ(joined(validate_text(volume("VolumeConfig", "wrong", ""), kV114)),
            "VolumeConfig/wrong: only [\"STATE\" \"EPHEMERAL\" \"IMAGECACHE\" \"ETCD\" \"CRI\" "
            "\"KUBELET\" \"LOG\"] volumes are supported");
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

// --- user/raw/swap encryption cases without provisioning -----------------------------------------
// Talos' tables (in the data file) give these documents a disk selector and a min size; without
// them ProvisioningSpec.Validate(required=true, ...) (volume_config.go) reports both first, and
// container.Validate prefixes "<Kind>/<name>: ".

class VolumeEncryptionCases : public ::testing::TestWithParam<const char*> {
 protected:
  std::string expect(const std::string& errors) const {
    return std::string(GetParam()) +
           "/v1: disk selector is required\nmin size or max size is required\n" + errors;
  }
};

TEST_P(VolumeEncryptionCases, NoEncryptionProvider) {
  auto cfg = volume(GetParam(), "v1", "encryption:\n  keys:\n    - slot: 0\n      tpm: {}\n");
  EXPECT_EQ(joined(validate_text(cfg)), expect("unsupported encryption provider: none"));
}

TEST_P(VolumeEncryptionCases, NoEncryptionKeys) {
  auto cfg = volume(GetParam(), "v1", "encryption:\n  provider: luks2\n");
  EXPECT_EQ(joined(validate_text(cfg)), expect("encryption keys are required"));
}

TEST_P(VolumeEncryptionCases, InvalidEncryptionKeySlots) {
  auto cfg = volume(GetParam(), "v1",
                    "encryption:\n  provider: luks2\n  keys:\n    - slot: 1\n      tpm: {}\n"
                    "    - slot: 0\n    - slot: 1\n      tpm: {}\n");
  EXPECT_EQ(joined(validate_text(cfg)),
            expect("at least one encryption key type must be specified for slot 0\n"
                   "duplicate key slot 1"));
}

INSTANTIATE_TEST_SUITE_P(Talos, VolumeEncryptionCases,
                         ::testing::Values("UserVolumeConfig", "RawVolumeConfig",
                                           "SwapVolumeConfig"));

TEST(VolumeTestdata, EncryptedDocumentsAreValid) {
  for (const char* f : {"uservolumeconfig_encrypted.yaml", "swapvolumeconfig_encrypted.yaml",
                        "volumeconfig_state.yaml"}) {
    auto cfg = MachineConfig::parse(data(f));
    EXPECT_TRUE(cfg.validate().empty()) << f << ": " << joined(cfg.validate());
  }
  // allowDiscards exists from 1.14 on (encryption.go, release-1.14): at 1.12 it is an unknown key.
  auto raw = MachineConfig::parse(data("rawvolumeconfig_encrypted.yaml"), kV114);
  EXPECT_TRUE(raw.validate().empty()) << joined(raw.validate());
  EXPECT_EQ(parse_error(data("rawvolumeconfig_encrypted.yaml"), kV112),
            "error decoding document v1alpha1/RawVolumeConfig/ceph-data (line 1): unknown keys "
            "found during decoding:\nencryption:\n    allowDiscards: true\n");
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
  // A UserVolumeConfig needs a disk selector and a size (user_volume_config.go): the document's
  // example has neither.
  EXPECT_EQ(validate_text(data("seed_user_volume_nodeid.yaml")),
            std::vector<std::string>{"UserVolumeConfig/my-user-volume: disk selector is required\n"
                                     "min size or max size is required"});
  // The key examples are patches without `provider`: alone, Talos rejects them.
  EXPECT_EQ(validate_text(data("seed_state_slot1_ephemeral_static_locked.yaml")),
            (std::vector<std::string>{"VolumeConfig/STATE: unsupported encryption provider: none",
                                      "VolumeConfig/EPHEMERAL: unsupported encryption provider: "
                                      "none"}));
  for (const char* f : {"seed_rotation_step1.yaml", "seed_rotation_step2.yaml"}) {
    EXPECT_EQ(validate_text(data(f)),
              std::vector<std::string>{"VolumeConfig/EPHEMERAL: unsupported encryption provider: "
                                       "none"})
        << f;
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
                                      data("swapvolumeconfig_encrypted.yaml"),
                                  kV114);
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
  // go-yaml's scanner (internal/libyaml/scanner.go) on an unterminated quoted scalar: "found
  // unexpected end of stream", on the line of the opening quote (ContextMark + 1).
  EXPECT_EQ(
      parse_error("apiVersion: v1alpha1\nkind: VolumeConfig\nname: STATE\nencryption:\n  keys:\n"
                  "    - slot: \"0"),
      "decode error: yaml: line 6: found unexpected end of stream");
}

// yaml_v4_decoder (pkg/machinery/config/configloader/internal/decoder/decoder.go, 92eeaa482 in
// 1.12.0): before, a fork of gopkg.in/yaml.v3. Where the two libraries answer differently: the
// scanner's spelling of a bad \x escape, and the tag of a plain "-0" (resolve.go).
TEST(YamlLibrary, V3ForkBefore112AndV4From112) {
  const auto v1116 = versions::Version::parse("1.11.6");
  const auto v1120 = versions::Version::parse("1.12.0");
  const std::string escape =
      "apiVersion: v1alpha1\nkind: VolumeConfig\nname: EPHEMERAL\nencryption:\n  keys:\n"
      "    - slot: 0\n      static:\n        passphrase: \"a\\xZZ\"\n";
  EXPECT_EQ(parse_error(escape, v1120),
            "decode error: yaml: line 8: did not find expected hexadecimal number");
  EXPECT_EQ(parse_error(escape, v1116),
            "decode error: yaml: line 8: did not find expected hexdecimal number");
  EXPECT_EQ(parse_error("a: \"\\q\"\n", v1120),
            "decode error: yaml: found unknown escape character");
  EXPECT_EQ(parse_error("a: 1\nb: \"\\uD800\"\n", v1120),
            "decode error: yaml: line 2: found invalid Unicode character escape code");

  const std::string minus_zero =
      "apiVersion: v1alpha1\nkind: VolumeConfig\nname: EPHEMERAL\nencryption:\n  provider: luks2\n"
      "  keys:\n    - slot: 0\n      nodeID: {}\n      lockToState: -0\n";
  const std::string v4 = parse_error(minus_zero, v1120);
  const std::string v3 = parse_error(minus_zero, v1116);
  EXPECT_NE(v4.find("line 9: cannot unmarshal !!float `-0` into bool"), std::string::npos) << v4;
  EXPECT_NE(v3.find("line 9: cannot unmarshal !!int `-0` into bool"), std::string::npos) << v3;
}

// user_volume_type (user_volume_config.go, f3df0f80b/308c6bc41 in 1.12.0): volumeType is an
// unknown key of UserVolumeConfig before 1.12.
TEST(UserVolumeType, UnknownKeyBefore112) {
  const std::string dir = volume("UserVolumeConfig", "cache", "volumeType: directory\n");
  EXPECT_EQ(parse_error(dir, versions::Version::parse("1.11.6")),
            "error decoding document v1alpha1/UserVolumeConfig/cache (line 1): unknown keys "
            "found during decoding:\nvolumeType: directory\n");
  EXPECT_TRUE(MachineConfig::parse(dir, versions::Version::parse("1.12.0")).validate().empty());
}

TEST(BadInput, Huge) {
  std::string huge(10 << 20, ' ');
  EXPECT_EQ(parse_error(huge),
            "machine config: too large: 10485760 bytes (the limit is 4194304 bytes)");
}

namespace {

// a0 is 10 scalars, a1 ten aliases of a0, ... a8 expands to 10^9 nodes.
std::string alias_bomb(const std::string& indent) {
  std::string y = indent + "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n";
  for (int i = 1; i < 9; ++i) {
    const std::string prev = "*a" + std::to_string(i - 1);
    y += indent + "a" + std::to_string(i) + ": &a" + std::to_string(i) + " [" + prev;
    for (int k = 1; k < 10; ++k) y += ", " + prev;
    y += "]\n";
  }
  return y;
}

const char* kTooComplex =
    "machine config: too complex: more than 250000 YAML nodes to walk (aliases?)";

}  // namespace

TEST(BadInput, AliasBombWithoutKindIsMissingKind) {
  // decoder.go decode(): no apiVersion, no kind, no v1alpha1 key: Talos stops before any walk.
  EXPECT_EQ(parse_error(alias_bomb("")),
            "error decoding document /v1alpha1/ (line 1): missing kind");
  EXPECT_EQ(parse_error("foo: bar\n"), "error decoding document /v1alpha1/ (line 1): missing kind");
}

TEST(BadInput, AliasBombInUnknownKeys) {
  // The unknown-keys summary would print the expanded bomb (go-yaml prints the aliases).
  EXPECT_EQ(parse_error(volume("VolumeConfig", "EPHEMERAL", "bomb:\n" + alias_bomb("  "))),
            kTooComplex);
}

TEST(BadInput, AliasBombInDecodedFields) {
  // 300 keys aliasing one whose PCR list holds 1000 aliases: 300,000 decoded values.
  std::string y =
      "encryption:\n  provider: luks2\n  keys:\n    - &k\n      slot: 0\n      tpm:\n"
      "        options:\n          pcrs: [&i 1";
  for (int i = 0; i < 1000; ++i) y += ", *i";
  y += "]\n";
  for (int i = 0; i < 300; ++i) y += "    - *k\n";
  EXPECT_EQ(parse_error(volume("VolumeConfig", "EPHEMERAL", y)), kTooComplex);
}

TEST(BadInput, DeepNesting) {
  // yaml-cpp stops at 500 levels (go-yaml at 10000: "exceeded max depth of 10000").
  EXPECT_EQ(parse_error(std::string(100000, '[')),
            "machine config: too deeply nested: more than 500 levels (line 1)");
  EXPECT_EQ(parse_error(volume("VolumeConfig", "EPHEMERAL",
                               "x: " + std::string(600, '[') + std::string(600, ']') + "\n")),
            "machine config: too deeply nested: more than 500 levels (line 4)");
}

// --- the seed's lockToSTATE spelling -------------------------------------------------------------

TEST(SeedSpelling, LockToSTATEIsAnUnknownKeyWithAHint) {
  // The seed document writes `lockToSTATE`; Talos' field is `lockToState` (encryption.go) and
  // xyaml.CheckUnknownKeys rejects the other spelling.
  const std::string seed = volume("VolumeConfig", "EPHEMERAL",
                                  "encryption:\n  provider: luks2\n  keys:\n    - slot: 0\n"
                                  "      static:\n        passphrase: supersecret\n"
                                  "      lockToSTATE: true\n");
  const std::string talos =
      "error decoding document v1alpha1/VolumeConfig/EPHEMERAL (line 1): unknown keys found "
      "during decoding:\nencryption:\n    keys:\n        - lockToSTATE: true\n";
  EXPECT_EQ(parse_error(seed), talos);
  const Report r = check(seed, versions::default_version());
  EXPECT_EQ(r.errors, std::vector<std::string>{talos});
  ASSERT_EQ(r.hints.size(), 1u);
  EXPECT_NE(r.hints[0].find("lockToState"), std::string::npos) << r.hints[0];
  EXPECT_TRUE(r.warnings.empty());

  // The spelling a real node accepts.
  std::string fixed = seed;
  fixed.replace(fixed.find("lockToSTATE"), 11, "lockToState");
  const Report ok = check(fixed, versions::default_version());
  EXPECT_TRUE(ok.errors.empty()) << joined(ok.errors);
  EXPECT_TRUE(ok.hints.empty());
  EXPECT_TRUE(MachineConfig::parse(fixed).encryption_for("EPHEMERAL")->keys[0].locked_to_state());
}

// --- cryptnode's warnings: configs Talos accepts that a real node mishandles (lint.cpp) ----------

namespace {

Report check_keys(const std::string& keys) {
  return check(
      volume("VolumeConfig", "EPHEMERAL", "encryption:\n  provider: luks2\n  keys:\n" + keys),
      versions::default_version());
}

}  // namespace

TEST(Lint, SlotMinusOneAloneLosesTheVolume) {
  const Report r = check_keys("    - slot: -1\n      nodeID: {}\n");
  EXPECT_TRUE(r.errors.empty()) << joined(r.errors);  // Talos accepts it
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_EQ(r.warnings[0].rfind("VolumeConfig/EPHEMERAL key slot -1: ", 0), 0u) << r.warnings[0];
  EXPECT_NE(r.warnings[0].find("No usable keyslot is available."), std::string::npos);
}

TEST(Lint, SlotMinusOneWithOtherKeysFailsItsSync) {
  const Report r = check_keys("    - slot: -1\n      nodeID: {}\n    - slot: 1\n      tpm: {}\n");
  EXPECT_TRUE(r.errors.empty()) << joined(r.errors);
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_NE(r.warnings[0].find("error removing key slot 0: encryption key rejected"),
            std::string::npos)
      << r.warnings[0];
}

TEST(Lint, SlotOutOfRangeQuotesCryptsetup) {
  const Report r = check_keys("    - slot: 32\n      nodeID: {}\n    - slot: -2\n      tpm: {}\n");
  EXPECT_TRUE(r.errors.empty()) << joined(r.errors);
  ASSERT_EQ(r.warnings.size(), 2u);
  EXPECT_NE(r.warnings[0].find("\"Key slot 32 is invalid, please select between 0 and 31.\""),
            std::string::npos)
      << r.warnings[0];
  EXPECT_NE(r.warnings[1].find("\"Key slot is invalid.\""), std::string::npos) << r.warnings[1];
}

TEST(Lint, EmptyStaticPassphrase) {
  const Report r = check_keys("    - slot: 0\n      static:\n        passphrase: \"\"\n");
  EXPECT_TRUE(r.errors.empty()) << joined(r.errors);
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_NE(r.warnings[0].find("\"Nothing to read on input.\""), std::string::npos)
      << r.warnings[0];
  // The same in the legacy v1alpha1 section.
  const Report legacy = check(
      "version: v1alpha1\nmachine:\n  systemDiskEncryption:\n    state:\n      keys:\n"
      "        - slot: 0\n          static:\n            passphrase: \"\"\n",
      versions::default_version());
  ASSERT_EQ(legacy.warnings.size(), 1u);
  EXPECT_EQ(legacy.warnings[0].rfind("v1alpha1 systemDiskEncryption.state key slot 0: ", 0), 0u);
}

TEST(Lint, OrdinaryKeysAreQuiet) {
  EXPECT_TRUE(check_keys("    - slot: 0\n      nodeID: {}\n    - slot: 31\n      static:\n"
                         "        passphrase: x\n")
                  .warnings.empty());
}

TEST(LegacyV1Alpha1, ProviderIsCaseInsensitive) {
  // v1alpha1_provider.go Provider(): EncryptionProviderTypeString matches case-insensitively.
  auto cfg = MachineConfig::parse(
      "version: v1alpha1\nmachine:\n  systemDiskEncryption:\n    state:\n      provider: LUKS2\n"
      "      keys:\n        - nodeID: {}\n");
  EXPECT_TRUE(cfg.encryption_for("STATE"));
}

TEST(StrategicMerge, DocumentsMatchByKindAndNameListsConcatenateDeleteRemoves) {
  const std::string base = gen_config() +
                           "---\napiVersion: v1alpha1\nkind: VolumeConfig\nname: EPHEMERAL\n"
                           "encryption:\n  provider: luks2\n  keys:\n    - slot: 0\n"
                           "      nodeID: {}\n";
  // Adding a key appends it (Talos' merge concatenates slices).
  std::string merged = strategic_merge(
      base,
      "apiVersion: v1alpha1\nkind: VolumeConfig\nname: EPHEMERAL\nencryption:\n  keys:\n"
      "    - slot: 1\n      static:\n        passphrase: added\n");
  auto cfg = MachineConfig::parse(merged);
  ASSERT_TRUE(cfg.v1alpha1());
  auto enc = cfg.encryption_for("EPHEMERAL");
  ASSERT_TRUE(enc);
  ASSERT_EQ(enc->keys.size(), 2u);
  EXPECT_EQ(enc->keys[1].slot, 1);
  EXPECT_EQ(enc->provider, "luks2");  // kept from the base
  // `$patch: delete` removes the keys; a new document is appended; the v1alpha1 one merges.
  merged = strategic_merge(
      merged,
      "apiVersion: v1alpha1\nkind: VolumeConfig\nname: EPHEMERAL\nencryption:\n  keys:\n"
      "    $patch: delete\n---\nmachine:\n  network:\n    hostname: n1\nversion: v1alpha1\n---\n"
      "apiVersion: v1alpha1\nkind: VolumeConfig\nname: STATE\nencryption:\n  provider: luks2\n"
      "  keys:\n    - slot: 0\n      nodeID: {}\n");
  cfg = MachineConfig::parse(merged);
  auto eph = cfg.encryption_for("EPHEMERAL");
  ASSERT_TRUE(eph);
  EXPECT_TRUE(eph->keys.empty());  // a rotation then sets the new keys with a second patch
  EXPECT_TRUE(cfg.encryption_for("STATE"));
  EXPECT_NE(merged.find("hostname: n1"), std::string::npos);
  EXPECT_NE(merged.find("type: worker"), std::string::npos);
  // A whole document deleted.
  merged = strategic_merge(
      merged, "apiVersion: v1alpha1\nkind: VolumeConfig\nname: STATE\n$patch: delete\n");
  EXPECT_EQ(MachineConfig::parse(merged).find(DocumentKind::kVolumeConfig, "STATE"), nullptr);
  EXPECT_THROW(strategic_merge(base, "a: [1"), Error);
}

TEST(GenConfig, IsAWholeMachineConfig) {
  auto cfg = MachineConfig::parse(gen_config());
  ASSERT_TRUE(cfg.v1alpha1());
  EXPECT_TRUE(cfg.validate().empty());
  EXPECT_THROW(gen_config("router"), Error);
}

// pkg/machinery/config/configpatcher/apply_test.go TestApplyMultiDocDelete (testdata/patchdelete
// config.yaml + strategic1.yaml -> expected.yaml), compared field by field: Talos re-marshals Go
// structs (type: "", cluster: null), cryptnode the YAML tree.
TEST(StrategicMerge, TalosApplyMultiDocDelete) {
  const std::string config =
      "version: v1alpha1\nmachine:\n  network:\n    hostname: hostname1\n    interfaces:\n"
      "      - interface: eth0\n        dhcp: true\n      - interface: eth1\n"
      "        addresses: [10.3.5.4/32]\n---\napiVersion: v1alpha1\nkind: SideroLinkConfig\n"
      "apiUrl: https://siderolink.api/join?jointoken=secret&user=alice\n---\n"
      "apiVersion: v1alpha1\nkind: ExtensionServiceConfig\nname: foo\nconfigFiles:\n"
      "    - content: hello\n      mountPath: /etc/foo\nenvironment:\n    - FOO=BAR\n";
  const std::string patch =
      "apiVersion: v1alpha1\nkind: SideroLinkConfig\n$patch: delete\n---\n"
      "apiVersion: v1alpha1\nkind: ExtensionServiceConfig\nname: foo\nconfigFiles:\n"
      "  - content: hello\n    $patch: delete\n  - content: hello2\n    mountPath: /etc/foo2\n"
      "---\nversion: v1alpha1\nmachine:\n  network:\n    hostname:\n      $patch: delete\n"
      "    interfaces:\n      - interface: eth0\n        $patch: delete\n"
      "      - interface: eth1\n        addresses: [10.3.5.5/32]\n"
      "      - interface: eth0\n        dummy: true\n";
  const std::string merged = strategic_merge(config, patch);
  std::vector<YAML::Node> docs = YAML::LoadAll(merged);
  ASSERT_EQ(docs.size(), 2u) << merged;
  const YAML::Node net = docs[0]["machine"]["network"];
  EXPECT_FALSE(net["hostname"]);
  ASSERT_EQ(net["interfaces"].size(), 2u) << merged;
  EXPECT_EQ(net["interfaces"][0]["interface"].as<std::string>(), "eth1");
  ASSERT_EQ(net["interfaces"][0]["addresses"].size(), 2u);
  EXPECT_EQ(net["interfaces"][0]["addresses"][1].as<std::string>(), "10.3.5.5/32");
  EXPECT_EQ(net["interfaces"][1]["interface"].as<std::string>(), "eth0");
  EXPECT_TRUE(net["interfaces"][1]["dummy"].as<bool>());
  EXPECT_FALSE(net["interfaces"][1]["dhcp"]);
  EXPECT_EQ(docs[1]["kind"].as<std::string>(), "ExtensionServiceConfig");
  ASSERT_EQ(docs[1]["configFiles"].size(), 1u);
  EXPECT_EQ(docs[1]["configFiles"][0]["content"].as<std::string>(), "hello2");
  EXPECT_EQ(docs[1]["environment"][0].as<std::string>(), "FOO=BAR");
}

// TestPatchDeleteMissing: the exact error of a delete whose path does not exist.
TEST(StrategicMerge, TalosPatchDeleteMissing) {
  try {
    strategic_merge("version: v1alpha1\nmachine: {}\n",
                    "machine:\n  network:\n    hostname:\n      $patch: delete\n");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(),
                 "patch delete: path 'machine.network.hostname' in document '/v1alpha1': failed "
                 "to delete path 'machine.network.hostname': lookup failed");
  }
}

// merge:"replace" lists, the keyed lists of v1alpha1 and the zero-value rule (merge.go).
TEST(StrategicMerge, ReplaceAndKeyedListsAndZeroValues) {
  const std::string base =
      "version: v1alpha1\ndebug: true\nmachine:\n  type: worker\ncluster:\n  network:\n"
      "    podSubnets: [10.244.0.0/16]\n  apiServer:\n    admissionControl:\n"
      "      - name: PodSecurity\n        configuration: {a: 1}\n";
  const std::string merged = strategic_merge(
      base,
      "version: v1alpha1\ndebug: false\nmachine:\n  type: ''\ncluster:\n  network:\n"
      "    podSubnets: [10.10.0.0/16]\n  apiServer:\n    admissionControl:\n"
      "      - name: PodSecurity\n        configuration: {b: 2}\n");
  YAML::Node d = YAML::Load(merged);
  ASSERT_EQ(d["cluster"]["network"]["podSubnets"].size(), 1u);
  EXPECT_EQ(d["cluster"]["network"]["podSubnets"][0].as<std::string>(), "10.10.0.0/16");
  ASSERT_EQ(d["cluster"]["apiServer"]["admissionControl"].size(), 1u);
  EXPECT_EQ(d["cluster"]["apiServer"]["admissionControl"][0]["configuration"]["a"].as<int>(), 1);
  EXPECT_EQ(d["cluster"]["apiServer"]["admissionControl"][0]["configuration"]["b"].as<int>(), 2);
  EXPECT_EQ(d["machine"]["type"].as<std::string>(), "worker");  // "" does not overwrite
  EXPECT_FALSE(d["debug"].as<bool>());                          // false does
}

// Only a string field selects a list item: an int field reads "<int Value>" in Talos.
TEST(StrategicMerge, ListItemDeleteBySlotIsALookupFailure) {
  const std::string base = gen_config() +
                           "---\napiVersion: v1alpha1\nkind: VolumeConfig\nname: EPHEMERAL\n"
                           "encryption:\n  provider: luks2\n  keys:\n    - slot: 0\n"
                           "      nodeID: {}\n";
  try {
    strategic_merge(base,
                    "apiVersion: v1alpha1\nkind: VolumeConfig\nname: EPHEMERAL\nencryption:\n"
                    "  keys:\n    - slot: 0\n      $patch: delete\n");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(),
                 "named patch delete: document v1alpha1/VolumeConfig: failed to delete path "
                 "'encryption.keys.[0]': lookup failed");
  }
}
