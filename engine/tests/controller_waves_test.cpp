// The volume manager's pass over every VolumeConfig (engine/src/controller/machine.cpp) and the
// live META UUID override (node_meta.cpp), on a machine without hardware (support/fake_machine.h).
#include <gtest/gtest.h>

#include "cryptnode/engine/controller/machine.h"
#include "cryptnode/engine/error.h"
#include "cryptnode/engine/meta.h"
#include "support/fake_machine.h"

namespace cryptnode::controller {
namespace {

using testing::ClockEnv;
using testing::FakeMachine;

constexpr const char* kSmbiosUuid = "8c6a1f0e-2b7d-4e39-a5c4-1d2f3b4a5c6d";
constexpr const char* kOverride = "3f9d2c71-5a4e-4b8c-9e1f-7d6a0b2c4e8f";

std::string volume(const std::string& kind, const std::string& name, const std::string& key,
                   const std::string& extra = "") {
  return "---\napiVersion: v1alpha1\nkind: " + kind + "\nname: " + name + "\n" + extra +
         "encryption:\n  provider: luks2\n  keys:\n    - slot: 0\n" + key;
}

const std::string kNodeID = "      nodeID: {}\n";
const std::string kLocked = "      nodeID: {}\n      lockToState: true\n";
const std::string kKms = "      kms:\n        endpoint: grpc://127.0.0.1:1\n";
const std::string kUser =
    "provisioning:\n  diskSelector:\n    match: '!system_disk'\n  minSize: 10MiB\n";
const std::string kBase = "version: v1alpha1\nmachine:\n  type: worker\n";

struct WavesTest : ::testing::Test {
  ClockEnv env;
  FakeMachine host;
  EventLog log{env};
  std::unique_ptr<Machine> machine;

  Machine& reboot() {
    if (machine) machine->shutdown();
    machine.reset();
    MachineSettings s;
    s.uuid = kSmbiosUuid;
    machine = std::make_unique<Machine>(s, host, env, log);
    return *machine;
  }
  const volume::VolumeStatus& st(const std::string& id) { return machine->statuses().at(id); }
  bool logged(const std::string& step, const std::string& text) {
    for (const auto& e : log.events())
      if (e.step == step && e.message.find(text) != std::string::npos) return true;
    return false;
  }
};

// Talos reconciles every VolumeConfig in each pass: EPHEMERAL exists, so it is opened while STATE
// (KMS-keyed, the KMS unreachable) is still failing, and its lockToSTATE key has no salt yet.
TEST_F(WavesTest, ExistingVolumeIsOpenedWhileStateIsPendingAndWaitsForTheSalt) {
  reboot().boot(kBase + volume("VolumeConfig", "STATE", kNodeID) +
                volume("VolumeConfig", "EPHEMERAL", kLocked));
  ASSERT_TRUE(machine->running());
  machine->reset({"STATE"}, true, true);
  const std::string kms_state =
      kBase + volume("VolumeConfig", "STATE", kKms) + volume("VolumeConfig", "EPHEMERAL", kLocked);
  reboot().boot(kms_state);  // STATE missing: the offered config is used
  EXPECT_EQ(st("STATE").phase, volume::Phase::kFailed);  // no KMS transport on this machine
  EXPECT_EQ(st("EPHEMERAL").phase, volume::Phase::kFailed);
  EXPECT_NE(st("EPHEMERAL").error_message.find("encryption salt not available"), std::string::npos)
      << st("EPHEMERAL").error_message;
  EXPECT_TRUE(st("EPHEMERAL").retryable);
  EXPECT_TRUE(logged("EPHEMERAL", "encryption salt not available"));
  EXPECT_FALSE(machine->running());
}

// A volume that does not exist yet waits (phase waiting) for the earlier wave to be ready:
// PreviousWaveProvisioned in Talos' provisionNewVolume.
TEST_F(WavesTest, NewVolumesOfALaterWaveWaitForTheEarlierWave) {
  reboot().boot(kBase + volume("VolumeConfig", "STATE", kKms) +
                volume("UserVolumeConfig", "data", kNodeID, kUser));
  EXPECT_EQ(st("STATE").phase, volume::Phase::kFailed);
  EXPECT_EQ(st("EPHEMERAL").phase, volume::Phase::kWaiting);
  EXPECT_EQ(st("u-data").phase, volume::Phase::kWaiting);
  EXPECT_FALSE(env.exists(host.part("u-data")));
}

// `talosctl meta write 0x0f` acts at once (SystemInformation follows the MetaKey): a volume
// formatted after it derives its nodeID key from the override; one enrolled before does not
// open at the next boot. Deleting the tag goes back to the SMBIOS UUID, also at once.
TEST_F(WavesTest, UuidOverrideAppliesLive) {
  const std::string base = kBase + volume("VolumeConfig", "EPHEMERAL", kNodeID);
  reboot().boot(base);
  ASSERT_TRUE(machine->running());
  machine->meta_write(meta::kUUIDOverride, kOverride);
  EXPECT_TRUE(logged("system-information", "using UUID rewrite from META"));
  std::string applied;
  machine->apply_config(base + volume("UserVolumeConfig", "data", kNodeID, kUser), "no-reboot",
                        false, &applied);
  ASSERT_EQ(st("u-data").phase, volume::Phase::kReady) << st("u-data").error_message;
  reboot().boot(std::nullopt);
  EXPECT_EQ(st("u-data").phase, volume::Phase::kReady) << st("u-data").error_message;
  EXPECT_EQ(st("EPHEMERAL").phase, volume::Phase::kFailed);
  EXPECT_NE(st("EPHEMERAL").error_message.find("encryption key rejected"), std::string::npos);
  machine->meta_delete(meta::kUUIDOverride);
  EXPECT_TRUE(logged("system-information", "SMBIOS UUID in use"));
  env.virtual_clock().advance_ms(30'000);
  machine->run_due_timers();  // the retry tick opens EPHEMERAL with the SMBIOS UUID again
  EXPECT_EQ(st("EPHEMERAL").phase, volume::Phase::kReady) << st("EPHEMERAL").error_message;
}

}  // namespace
}  // namespace cryptnode::controller
