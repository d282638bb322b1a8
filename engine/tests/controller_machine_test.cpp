// Talos' controllers (engine/src/controller) on a machine without hardware (support/
// fake_machine.h): the boot order, config acquisition and maintenance, every apply-config mode on
// 1.12 and 1.14, try and its rollback on the virtual clock, reset's label rules, the free-running
// 30 s retry ticker. No root needed: partitions are files, mounts are directories.
#include <gtest/gtest.h>

#include <algorithm>

#include "cryptnode/engine/controller/apply_config.h"
#include "cryptnode/engine/controller/machine.h"
#include "cryptnode/engine/controller/volume_config.h"
#include "cryptnode/engine/error.h"
#include "cryptnode/engine/meta.h"
#include "support/fake_machine.h"

using namespace cryptnode;
using namespace cryptnode::controller;
using cryptnode::testing::ClockEnv;
using cryptnode::testing::FakeMachine;

namespace {

const char* kUUID = "8c6a1f0e-2b7d-4e39-a5c4-1d2f3b4a5c6d";

std::string v1alpha1(const std::string& extra = "") {
  return "version: v1alpha1\nmachine:\n  type: worker\n" + extra;
}

std::string volume(const std::string& name, const std::string& keys) {
  return "---\napiVersion: v1alpha1\nkind: VolumeConfig\nname: " + name +
         "\nencryption:\n  provider: luks2\n  keys:\n" + keys;
}

std::string node_id(int slot, bool lock = false) {
  return "    - slot: " + std::to_string(slot) + "\n      nodeID: {}\n" +
         (lock ? "      lockToState: true\n" : "");
}

std::string static_key(int slot, const std::string& pass) {
  return "    - slot: " + std::to_string(slot) + "\n      static:\n        passphrase: " + pass +
         "\n";
}

const std::string kConfig =
    v1alpha1() + volume("STATE", node_id(0)) + volume("EPHEMERAL", node_id(0, true));

struct MachineTest : ::testing::Test {
  ClockEnv env;
  FakeMachine host;
  EventLog log{env};
  std::unique_ptr<Machine> machine;
  std::string version = "1.12";

  Machine& power_on() {
    MachineSettings s;
    s.uuid = kUUID;
    s.talos_version = version;
    machine = std::make_unique<Machine>(s, host, env, log);
    return *machine;
  }
  Machine& reboot() {
    if (machine) machine->shutdown();
    machine.reset();
    return power_on();
  }
  const volume::VolumeStatus& st(const std::string& id) { return machine->statuses().at(id); }
  std::vector<std::string> steps() {
    std::vector<std::string> out;
    for (const auto& e : log.events())
      if (out.empty() || out.back() != e.step) out.push_back(e.step);
    return out;
  }
  std::string meta_tag(uint8_t tag) {
    auto dev = env.open_block(host.meta_device(), false);
    return meta::Meta::load(*dev).adv.get(tag).value_or("<absent>");
  }
};

TEST_F(MachineTest, FirstBootRunsTalosOrder) {
  power_on().boot(kConfig);
  EXPECT_TRUE(machine->running());
  EXPECT_FALSE(machine->maintenance());
  EXPECT_EQ(st("STATE").phase, volume::Phase::kReady);
  EXPECT_EQ(st("EPHEMERAL").phase, volume::Phase::kReady);
  EXPECT_TRUE(st("EPHEMERAL").encryption_locked_to_state);
  // META first, STATE before the config is active, the salt before EPHEMERAL (lockToState).
  auto s = steps();
  auto pos = [&](const std::string& step) {
    return std::find(s.begin(), s.end(), step) - s.begin();
  };
  EXPECT_LT(pos("meta"), pos("STATE"));
  EXPECT_LT(pos("STATE"), pos("salt"));
  EXPECT_LT(pos("salt"), pos("EPHEMERAL"));
  EXPECT_LT(pos("EPHEMERAL"), pos("running"));
  EXPECT_EQ(host.phases, (std::vector<std::string>{"enter-machined", "start-the-world"}));
  // Persisted config and salt in STATE, META 0x09 written from the active config.
  EXPECT_EQ(env.read_file(st("STATE").mount_point + "/config.yaml"), kConfig);
  EXPECT_TRUE(env.exists(st("STATE").mount_point + "/encryption-salt.yaml"));
  EXPECT_NE(meta_tag(meta::kStateEncryptionConfig).find("\"KeyNodeID\":{}"), std::string::npos);
}

TEST_F(MachineTest, SecondBootOpensStateWithMetaAndReadsItsConfig) {
  power_on().boot(kConfig);
  reboot().boot(std::nullopt);
  EXPECT_TRUE(machine->running());
  EXPECT_EQ(machine->active_config(), kConfig);
  EXPECT_EQ(st("STATE").encryption_slot, 0);
  EXPECT_EQ(st("EPHEMERAL").phase, volume::Phase::kReady);
}

TEST_F(MachineTest, NoConfigMeansMaintenanceUntilAnInsecureApply) {
  power_on().boot(std::nullopt);
  EXPECT_TRUE(machine->maintenance());
  EXPECT_FALSE(machine->running());
  std::string applied;
  try {
    machine->apply_config(kConfig, "auto", false, &applied);
    FAIL() << "a secure apply-config is refused in maintenance mode";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Code::kFailedPrecondition);
  }
  EXPECT_EQ(machine->apply_config(kConfig, "auto", true, &applied), Action::kNone);
  EXPECT_EQ(applied, "no-reboot");
  EXPECT_TRUE(machine->running());
}

TEST_F(MachineTest, MaintenanceOn112AcceptsOnlyTryRebootAuto) {
  power_on().boot(std::nullopt);
  std::string applied;
  try {
    machine->apply_config(kConfig, "staged", true, &applied);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Code::kUnsupported);
    EXPECT_STREQ(e.what(),
                 "apply configuration --mode='staged' is not supported in maintenance mode");
  }
  // 1.12's maintenance server wraps validation errors its own way.
  try {
    machine->apply_config(v1alpha1() + volume("STATE", node_id(0) + node_id(0)), "auto", true,
                          &applied);
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(),
                 "configuration validation failed: 1 error occurred:\n\t* VolumeConfig/STATE: "
                 "duplicate key slot 0\n\n");
  }
}

TEST_F(MachineTest, OutsideMaintenanceAConfigWithoutV1Alpha1IsRefused) {
  power_on().boot(kConfig);
  std::string applied;
  try {
    machine->apply_config(volume("EPHEMERAL", node_id(0)).substr(4), "auto", false, &applied);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Code::kInvalidArgument);
    EXPECT_STREQ(e.what(),
                 "the applied machine configuration doesn't contain v1alpha1 config, did you mean "
                 "to patch the machine config instead?");
  }
}

TEST_F(MachineTest, ImmediateModeRefusalCarriesAUnifiedDiff) {
  power_on().boot(kConfig);
  const std::string changed =
      v1alpha1(
          "  network:\n    hostname: allowed\n  systemDiskEncryption:\n    ephemeral:\n"
          "      provider: luks2\n      keys:\n        - slot: 0\n          nodeID: {}\n") +
      volume("STATE", node_id(0));
  std::string applied;
  try {
    machine->apply_config(changed, "no-reboot", false, &applied);
    FAIL();
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_EQ(m.rfind("this config change can't be applied in immediate mode\ndiff:\n--- a\n+++ "
                      "b\n@@ ",
                      0),
              0u)
        << m;
    EXPECT_NE(m.find("\n+  systemDiskEncryption:\n"), std::string::npos) << m;
    EXPECT_EQ(m.find("hostname"), std::string::npos) << m;  // an allowed path is not in the diff
  }
}

TEST_F(MachineTest, AutoOn112AppliesVolumeConfigChangesWithoutReboot) {
  power_on().boot(kConfig);
  const std::string changed = v1alpha1() + volume("STATE", node_id(0)) +
                              volume("EPHEMERAL", node_id(0, true) + static_key(1, "added"));
  std::string applied;
  EXPECT_EQ(machine->apply_config(changed, "auto", false, &applied), Action::kNone);
  EXPECT_EQ(applied, "no-reboot");
  EXPECT_EQ(machine->active_config(), changed);
  // A ready volume keeps its keys until the next boot.
  EXPECT_EQ(st("EPHEMERAL").configured_encryption_keys, std::vector<std::string>{"nodeID"});
  reboot().boot(std::nullopt);
  EXPECT_EQ(st("EPHEMERAL").configured_encryption_keys,
            (std::vector<std::string>{"nodeID", "static"}));
}

TEST_F(MachineTest, AutoOn112RebootsForSystemDiskEncryptionChanges) {
  power_on().boot(kConfig);
  const std::string legacy = v1alpha1(
                                 "  systemDiskEncryption:\n    ephemeral:\n      provider: luks2\n"
                                 "      keys:\n        - slot: 0\n          nodeID: {}\n") +
                             volume("STATE", node_id(0));
  std::string applied;
  EXPECT_EQ(machine->apply_config(legacy, "auto", false, &applied), Action::kReboot);
  EXPECT_EQ(applied, "reboot");
  // Persisted, not activated before the reboot.
  EXPECT_EQ(machine->active_config(), kConfig);
  EXPECT_EQ(env.read_file(st("STATE").mount_point + "/config.yaml"), legacy);
  try {
    machine->apply_config(legacy, "no-reboot", false, &applied);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Code::kInvalidArgument);
    EXPECT_EQ(
        std::string(e.what()).rfind("this config change can't be applied in immediate mode", 0), 0u)
        << e.what();
  }
}

TEST_F(MachineTest, StagedPersistsForTheNextBootOnly) {
  power_on().boot(kConfig);
  const std::string staged =
      v1alpha1() + volume("STATE", node_id(0)) + volume("EPHEMERAL", node_id(0));
  std::string applied;
  EXPECT_EQ(machine->apply_config(staged, "staged", false, &applied), Action::kNone);
  EXPECT_EQ(machine->active_config(), kConfig);
  reboot().boot(std::nullopt);
  EXPECT_EQ(machine->active_config(), staged);
}

TEST_F(MachineTest, TryRollsBackAfterSixtySecondsOfTheVirtualClock) {
  power_on().boot(kConfig);
  const std::string tried =
      v1alpha1() + volume("STATE", node_id(0)) + volume("EPHEMERAL", node_id(0));
  std::string applied;
  machine->apply_config(tried, "try", false, &applied);
  EXPECT_EQ(applied, "try");
  EXPECT_EQ(machine->active_config(), tried);
  EXPECT_EQ(env.read_file(st("STATE").mount_point + "/config.yaml"), kConfig);  // not persisted
  ASSERT_EQ(machine->next_deadline_ms(), env.clock().now_ms() + 60'000);
  env.virtual_clock().advance_ms(59'999);
  machine->run_due_timers();
  EXPECT_EQ(machine->active_config(), tried);
  env.virtual_clock().advance_ms(1);
  machine->run_due_timers();
  EXPECT_EQ(machine->active_config(), kConfig);
  EXPECT_FALSE(machine->next_deadline_ms());
}

TEST_F(MachineTest, Talos114RemovedRebootModeAndAutoMeansNoReboot) {
  version = "1.14";
  power_on().boot(kConfig);
  std::string applied;
  try {
    machine->apply_config(kConfig, "reboot", false, &applied);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Code::kUnsupported);
    EXPECT_STREQ(e.what(),
                 "the REBOOT mode is not supported, please use AUTO or NO_REBOOT modes instead");
  }
  const std::string legacy = v1alpha1(
                                 "  systemDiskEncryption:\n    ephemeral:\n      provider: luks2\n"
                                 "      keys:\n        - slot: 0\n          nodeID: {}\n") +
                             volume("STATE", node_id(0));
  EXPECT_EQ(machine->apply_config(legacy, "auto", false, &applied), Action::kNone);
  EXPECT_EQ(applied, "no-reboot");
}

TEST_F(MachineTest, InvalidConfigChangesNothing) {
  power_on().boot(kConfig);
  std::string applied;
  const std::string bad = v1alpha1() + volume("STATE", node_id(0) + node_id(0));
  try {
    machine->apply_config(bad, "auto", false, &applied);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Code::kConfigInvalid);
    EXPECT_NE(std::string(e.what()).find("duplicate key slot 0"), std::string::npos) << e.what();
  }
  EXPECT_EQ(machine->active_config(), kConfig);
  EXPECT_EQ(env.read_file(st("STATE").mount_point + "/config.yaml"), kConfig);
}

TEST_F(MachineTest, ResetResolvesEveryLabelFirst) {
  power_on().boot(kConfig);
  try {
    machine->reset({"EPHEMERAL", "NOPE"}, false, true);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Code::kNotFound);
    EXPECT_STREQ(e.what(), "failed to get volume status with label \"NOPE\"");
  }
  EXPECT_TRUE(host.wiped.empty());
  EXPECT_TRUE(machine->running());
}

TEST_F(MachineTest, ResetResolvesMetaAndAnEmptyListWipesTheSystemDisk) {
  power_on().boot(kConfig);
  EXPECT_EQ(machine->reset({"META"}, false, true), Action::kPowerOff);
  EXPECT_EQ(host.wiped, std::vector<std::string>{"META"});
  reboot().boot(kConfig);
  EXPECT_EQ(machine->reset({}, false, true), Action::kPowerOff);
  EXPECT_EQ(host.wiped.back(), "*");
  reboot().boot(std::nullopt);
  EXPECT_TRUE(machine->maintenance());
  try {
    machine->reset({"EPHEMERAL"}, false, true);
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(),
                 "system partitions to wipe params is not supported in the maintenance mode");
  }
}

TEST_F(MachineTest, ResettingStateDeletesTheMetaTagAndLosesTheSalt) {
  power_on().boot(kConfig);
  EXPECT_EQ(machine->reset({"STATE"}, true, true), Action::kReboot);
  EXPECT_EQ(host.wiped, std::vector<std::string>{"STATE"});
  EXPECT_EQ(meta_tag(meta::kStateEncryptionConfig), "<absent>");
  // Next boot: no STATE, no config => maintenance; with the config re-applied, a new salt means
  // the lockToState EPHEMERAL no longer opens (Talos' ResetSuite expectation).
  reboot().boot(std::nullopt);
  EXPECT_TRUE(machine->maintenance());
  std::string applied;
  machine->apply_config(kConfig, "auto", true, &applied);
  EXPECT_EQ(st("EPHEMERAL").phase, volume::Phase::kFailed);
  EXPECT_NE(st("EPHEMERAL").error_message.find("encryption key rejected"), std::string::npos)
      << st("EPHEMERAL").error_message;
  EXPECT_TRUE(st("EPHEMERAL").retryable);
  EXPECT_EQ(machine->reset({"EPHEMERAL"}, true, false), Action::kReboot);
  reboot().boot(std::nullopt);
  EXPECT_TRUE(machine->running());
}

TEST_F(MachineTest, RetryTickerIsFreeRunning) {
  power_on().boot(kConfig);
  const int64_t origin = env.clock().now_ms();
  // Rotate EPHEMERAL to a key that is not on disk: every open fails, retryable.
  const std::string wrong =
      v1alpha1() + volume("STATE", node_id(0)) + volume("EPHEMERAL", static_key(0, "nope"));
  std::string applied;
  machine->apply_config(wrong, "no-reboot", false, &applied);
  env.virtual_clock().advance_ms(45'000);  // the reboot happens 45 s after the ticker started
  reboot();
  const int64_t started = env.clock().now_ms();
  machine->boot(std::nullopt);
  ASSERT_EQ(st("EPHEMERAL").phase, volume::Phase::kFailed);
  // The ticker started with this controller (at `started`); the first tick is 30 s later, not
  // 30 s after the failure, and ticks keep their period.
  ASSERT_EQ(machine->next_deadline_ms(), started + 30'000);
  env.virtual_clock().set_ms(started + 30'000);
  machine->run_due_timers();
  EXPECT_EQ(st("EPHEMERAL").phase, volume::Phase::kFailed);
  EXPECT_EQ(machine->next_deadline_ms(), started + 60'000);
  (void)origin;
  const auto retries = std::count_if(log.events().begin(), log.events().end(),
                                     [](const Event& e) { return e.step == "retry"; });
  EXPECT_EQ(retries, 1);
}

TEST_F(MachineTest, RemovedUserVolumeDocumentClosesWithoutWiping) {
  const std::string with_user =
      kConfig +
      "---\napiVersion: v1alpha1\nkind: UserVolumeConfig\nname: data\nprovisioning:\n"
      "  diskSelector:\n    match: \"!system_disk\"\n  minSize: 10MiB\n"
      "encryption:\n  provider: luks2\n  keys:\n" +
      static_key(0, "userpass");
  power_on().boot(with_user);
  ASSERT_EQ(st("u-data").phase, volume::Phase::kReady) << st("u-data").error_message;
  std::string applied;
  machine->apply_config(kConfig, "no-reboot", false, &applied);
  EXPECT_EQ(machine->statuses().count("u-data"), 0u);
  EXPECT_FALSE(host.activation().is_open("luks2-u-data"));
  EXPECT_TRUE(env.exists(host.part("u-data")));  // not wiped
}

TEST_F(MachineTest, CrashAtAFaultPointStopsTheOperationThere) {
  power_on().boot(kConfig);
  env.crash_at = "apply_config.after_persist";
  const std::string next =
      v1alpha1() + volume("STATE", node_id(0)) + volume("EPHEMERAL", node_id(0));
  std::string applied;
  EXPECT_THROW(machine->apply_config(next, "no-reboot", false, &applied), ClockEnv::Crash);
  // Persisted, never activated: the next boot picks it up.
  EXPECT_EQ(machine->active_config(), kConfig);
  machine.reset();  // power cut: no teardown
  host.power_cut();
  power_on().boot(std::nullopt);
  EXPECT_EQ(machine->active_config(), next);
}

// machine.systemDiskEncryption without `provider` (an empty provider means luks2), as a config
// written before 1.11 has it.
const std::string kLegacyConfig = v1alpha1(
    "  systemDiskEncryption:\n"
    "    state:\n      keys:\n        - slot: 0\n          nodeID: {}\n"
    "    ephemeral:\n      keys:\n        - slot: 0\n          nodeID: {}\n");

// talos#10653: EPHEMERAL stuck after it was switched to encrypted (here: its partition holds XFS
// where a LUKS2 header is expected). Before 1.9.6 reset refuses a volume that is not ready.
TEST_F(MachineTest, ResetOfAVolumeThatIsNotReadyPerVersion) {
  for (const char* v : {"1.9.5", "1.9.6", "1.10.0"}) {
    SCOPED_TRACE(v);
    version = v;
    power_on().boot(kLegacyConfig);
    ASSERT_TRUE(machine->running());
    machine->shutdown();
    host.make_filesystem(host.part("EPHEMERAL"), volume::VolumeSpec{});
    reboot().boot(std::nullopt);
    ASSERT_EQ(st("EPHEMERAL").phase, volume::Phase::kFailed);
    EXPECT_EQ(st("EPHEMERAL").error_message, "block dev type mismatch: xfs != luks");
    if (std::string(v) == "1.9.5") {
      try {
        machine->reset({"EPHEMERAL"}, true, true);
        FAIL() << "1.9.5 refuses to reset a volume that is not ready";
      } catch (const Error& e) {
        EXPECT_EQ(e.code(), Code::kFailedPrecondition);
        EXPECT_STREQ(e.what(), "failed to reset: volume \"EPHEMERAL\" is not ready");
      }
      EXPECT_TRUE(host.wiped.empty());
    } else {
      EXPECT_EQ(machine->reset({"EPHEMERAL"}, true, true), Action::kReboot);
      EXPECT_EQ(host.wiped.back(), "EPHEMERAL");
      reboot().boot(std::nullopt);
      EXPECT_EQ(st("EPHEMERAL").phase, volume::Phase::kReady) << st("EPHEMERAL").error_message;
    }
    machine->reset({}, false, true);  // a fresh system disk for the next version
    machine.reset();
    host.wiped.clear();
  }
}

// talos#11502: v1.11.0-beta.1 read META 0x09 as block.EncryptionSpec only; the legacy JSON an
// older release wrote for a systemDiskEncryption without provider ("EncryptionProvider":"") does
// not unmarshal, so STATE never gets its VolumeConfig. beta.2 falls back to the legacy JSON.
TEST_F(MachineTest, MetaStateEncryptionReaderPerVersion) {
  version = "1.11.0-beta.0";
  power_on().boot(kLegacyConfig);
  ASSERT_TRUE(machine->running());
  EXPECT_NE(meta_tag(meta::kStateEncryptionConfig).find("{\"EncryptionProvider\":\"\","),
            std::string::npos)
      << meta_tag(meta::kStateEncryptionConfig);
  version = "1.11.0-beta.1";
  try {
    reboot().boot(std::nullopt);
    FAIL() << "v1.11.0-beta.1 cannot read the legacy META value";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Code::kCorrupt);
    EXPECT_STREQ(e.what(),
                 "error creating state volume configuration: error unmarshalling state encryption "
                 "meta key:  does not belong to EncryptionProviderType values");
  }
  machine.reset();
  host.power_cut();
  for (const char* fixed : {"1.11.0-beta.2", "1.11.0", "1.12.0", "1.10.9"}) {
    SCOPED_TRACE(fixed);
    version = fixed;
    reboot().boot(std::nullopt);
    EXPECT_TRUE(machine->running());
    EXPECT_EQ(st("STATE").encryption_slot, 0);
    EXPECT_EQ(machine->active_config(), kLegacyConfig);
  }
}

// Before v1.11.0-beta.1 META 0x09 is read into the legacy v1alpha1 struct: a value written by a
// newer release opens STATE, without what only the newer shape carries.
TEST_F(MachineTest, MetaWrittenByANewerReleaseReadsAsLegacyOnRollback) {
  power_on().boot(kConfig);  // 1.12: VolumeConfig STATE, modern JSON
  ASSERT_NE(meta_tag(meta::kStateEncryptionConfig).find("\"KeyLockToSTATE\""), std::string::npos);
  version = "1.10.9";
  reboot().boot(std::nullopt);
  EXPECT_EQ(st("STATE").phase, volume::Phase::kReady) << st("STATE").error_message;
}

TEST(ApplyConfigDiff, OnlyV1Alpha1PathsOutsideTheAllowListNeedAReboot) {
  EXPECT_TRUE(changes_needing_reboot(v1alpha1(), v1alpha1() + volume("STATE", node_id(0))).empty());
  EXPECT_TRUE(
      changes_needing_reboot(v1alpha1(), v1alpha1("  network:\n    hostname: a\n")).empty());
  EXPECT_EQ(changes_needing_reboot(v1alpha1(), v1alpha1("  systemDiskEncryption: {}\n")),
            std::vector<std::string>{"machine.systemDiskEncryption"});
}

TEST(VolumeConfigs, ProcessingOrderIsWaveThenSystemVolumesThenId) {
  auto cfg = config::MachineConfig::parse(
      kConfig +
      "---\napiVersion: v1alpha1\nkind: UserVolumeConfig\nname: b\nprovisioning:\n"
      "  diskSelector:\n    match: \"!system_disk\"\n  minSize: 10MiB\n"
      "---\napiVersion: v1alpha1\nkind: UserVolumeConfig\nname: a\nprovisioning:\n"
      "  diskSelector:\n    match: \"!system_disk\"\n  minSize: 10MiB\n");
  auto specs = volume_configs(cfg, "compact");
  EXPECT_EQ(processing_order(specs),
            (std::vector<std::string>{"STATE", "EPHEMERAL", "u-a", "u-b"}));
  EXPECT_TRUE(state_volume_config_from_meta(std::nullopt).locate_requires_content);
  EXPECT_FALSE(state_volume_config_from_meta(std::nullopt).provision);
}

}  // namespace
