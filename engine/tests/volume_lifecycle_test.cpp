// The volume manager pass (engine/src/volume/lifecycle.cpp) against a scripted host: phases,
// Talos' mismatch errors (docs/talos/volume-lifecycle.md#mismatches), failed/preFailPhase/retry.
#include <gtest/gtest.h>

#include <map>

#include "cryptnode/engine/error.h"
#include "cryptnode/engine/volume.h"

using namespace cryptnode;
using namespace cryptnode::volume;

namespace {

class FakeHost : public VolumeHost {
 public:
  std::map<std::string, std::string> content;  // device -> probe answer
  bool partition_exists = true;
  bool can_provision = true;
  int mkfs_calls = 0;

  std::optional<Located> locate(const VolumeSpec& spec) override {
    if (!partition_exists) return std::nullopt;
    return Located{"/dev/p-" + spec.id, "/dev/disk", 5, 100 << 20};
  }
  std::optional<Located> provision(const VolumeSpec& spec) override {
    if (!can_provision) return std::nullopt;
    partition_exists = true;
    content["/dev/p-" + spec.id] = "";
    return locate(spec);
  }
  std::string probe(const std::string& device) override { return content[device]; }
  void make_filesystem(const std::string& device, const VolumeSpec& spec) override {
    ++mkfs_calls;
    content[device] = spec.fs_type;
  }
};

class FakeEncryption : public VolumeEncryption {
 public:
  FakeHost* host = nullptr;
  std::optional<Error> open_error;
  int formats = 0, opens = 0, closes = 0;

  std::string format_and_open(const VolumeSpec& spec, const Located& where,
                              VolumeStatus& status) override {
    ++formats;
    host->content[where.location] = "luks";
    return open(spec, where, status);
  }
  std::string open(const VolumeSpec& spec, const Located& where, VolumeStatus& status) override {
    if (open_error) throw *open_error;
    ++opens;
    status.encryption_provider = "luks2";
    status.encryption_slot = 0;
    return "/dev/mapper/luks2-" + spec.id;
  }
  void close(const VolumeSpec&, VolumeStatus&) override { ++closes; }
};

VolumeSpec spec(const std::string& id, bool encrypted) {
  VolumeSpec s;
  s.id = s.label = id;
  s.provision = true;
  s.fs_type = "xfs";
  if (encrypted) {
    config::EncryptionSpec e;
    e.provider = "luks2";
    s.encryption = e;
  }
  return s;
}

struct LifecycleTest : ::testing::Test {
  FakeHost host;
  FakeEncryption enc;
  VolumeStatus st;
  void SetUp() override { enc.host = &host; }
};

}  // namespace

TEST_F(LifecycleTest, EmptyPartitionUnencryptedGetsFilesystem) {
  host.content["/dev/p-EPHEMERAL"] = "";
  reconcile(spec("EPHEMERAL", false), st, host, enc);
  EXPECT_EQ(st.phase, Phase::kReady);
  EXPECT_EQ(host.mkfs_calls, 1);
  EXPECT_EQ(st.mount_location, "/dev/p-EPHEMERAL");
  EXPECT_EQ(st.filesystem, "xfs");
}

TEST_F(LifecycleTest, EmptyPartitionEncryptedIsFormattedThenFilesystem) {
  host.content["/dev/p-EPHEMERAL"] = "";
  reconcile(spec("EPHEMERAL", true), st, host, enc);
  EXPECT_EQ(st.phase, Phase::kReady);
  EXPECT_EQ(enc.formats, 1);
  EXPECT_EQ(st.mount_location, "/dev/mapper/luks2-EPHEMERAL");
  EXPECT_EQ(host.content["/dev/mapper/luks2-EPHEMERAL"], "xfs");
}

TEST_F(LifecycleTest, PlainFilesystemWithEncryptedConfigIsBlockDevTypeMismatch) {
  host.content["/dev/p-EPHEMERAL"] = "xfs";
  reconcile(spec("EPHEMERAL", true), st, host, enc);
  EXPECT_EQ(st.phase, Phase::kFailed);
  EXPECT_EQ(st.pre_fail_phase, Phase::kProvisioned);
  EXPECT_EQ(st.error_message, "block dev type mismatch: xfs != luks");
  EXPECT_FALSE(st.retryable);
  EXPECT_EQ(enc.formats, 0);
}

TEST_F(LifecycleTest, LuksWithUnencryptedConfigIsFilesystemTypeMismatch) {
  host.content["/dev/p-EPHEMERAL"] = "luks";
  reconcile(spec("EPHEMERAL", false), st, host, enc);
  EXPECT_EQ(st.phase, Phase::kFailed);
  EXPECT_EQ(st.pre_fail_phase, Phase::kPrepared);
  EXPECT_EQ(st.error_message, "filesystem type mismatch: luks != xfs");
}

TEST_F(LifecycleTest, StateFromMetaWithoutEncryptionOnLuksGoesBackToProvisioned) {
  host.content["/dev/p-STATE"] = "luks";
  VolumeSpec s = spec("STATE", false);
  s.provision = false;
  s.locate_requires_content = true;
  reconcile(s, st, host, enc);
  EXPECT_EQ(st.phase, Phase::kFailed);
  EXPECT_EQ(st.pre_fail_phase, Phase::kProvisioned);
  EXPECT_EQ(st.error_message, "volume is encrypted, but no encryption config provided");
}

TEST_F(LifecycleTest, StateWithoutConfigIsMissingWhenEmpty) {
  host.content["/dev/p-STATE"] = "";
  VolumeSpec s = spec("STATE", true);
  s.provision = false;
  s.locate_requires_content = true;
  reconcile(s, st, host, enc);
  EXPECT_EQ(st.phase, Phase::kMissing);
  EXPECT_EQ(enc.formats, 0);
}

TEST_F(LifecycleTest, MissingPartitionIsProvisioned) {
  host.partition_exists = false;
  reconcile(spec("u-data", true), st, host, enc);
  EXPECT_EQ(st.phase, Phase::kReady);
  EXPECT_EQ(st.location, "/dev/p-u-data");
}

TEST_F(LifecycleTest, NoDiskToProvisionOnIsWaiting) {
  host.partition_exists = false;
  host.can_provision = false;
  reconcile(spec("u-data", true), st, host, enc);
  EXPECT_EQ(st.phase, Phase::kWaiting);
}

TEST_F(LifecycleTest, RetryableOpenFailureIsRetriedFromPreFailPhase) {
  host.content["/dev/p-EPHEMERAL"] = "luks";
  enc.open_error = Error(Code::kUnavailable, "no handlers available to get encryption keys from",
                         /*retryable=*/true);
  reconcile(spec("EPHEMERAL", true), st, host, enc);
  ASSERT_EQ(st.phase, Phase::kFailed);
  EXPECT_TRUE(st.retryable);
  EXPECT_EQ(st.pre_fail_phase, Phase::kProvisioned);

  enc.open_error.reset();
  reconcile(spec("EPHEMERAL", true), st, host, enc);
  EXPECT_EQ(st.phase, Phase::kReady);
  EXPECT_EQ(st.error_message, "");
  EXPECT_FALSE(st.pre_fail_phase.has_value());
}

TEST_F(LifecycleTest, ReadyVolumeIgnoresConfigChangesUntilNextBoot) {
  host.content["/dev/p-EPHEMERAL"] = "";
  reconcile(spec("EPHEMERAL", false), st, host, enc);
  ASSERT_EQ(st.phase, Phase::kReady);
  reconcile(spec("EPHEMERAL", true), st, host, enc);  // encryption added to a ready volume
  EXPECT_EQ(st.phase, Phase::kReady);
  EXPECT_EQ(enc.formats, 0);
  EXPECT_EQ(st.encryption_provider, "");
}

TEST_F(LifecycleTest, CloseClosesTheMappingOnce) {
  host.content["/dev/p-EPHEMERAL"] = "";
  VolumeSpec s = spec("EPHEMERAL", true);
  reconcile(s, st, host, enc);
  close(s, st, enc);
  EXPECT_EQ(st.phase, Phase::kClosed);
  EXPECT_EQ(enc.closes, 1);
}
