// The block.Disk facts of simulated disks (sim/src/node/disk_facts.cpp) and diskSelector
// expressions evaluated against them the way findCandidateDisks does (Talos' locate.go).
#include <gtest/gtest.h>

#include "../src/node/disk_facts.h"
#include "cryptnode/engine/cel.h"
#include "cryptnode/engine/error.h"

using namespace cryptnode;

namespace {

constexpr uint64_t kMiB = 1ULL << 20;

bool selects(const std::string& expr, size_t index, uint64_t size = 512 * kMiB) {
  const cel::Program p = cel::Program::compile(expr, cel::Environment::kDiskLocator);
  return p.evaluate(cel::DiskActivation{sim::simulated_disk_facts(index, size), index == 0});
}

TEST(DiskFacts, PrettySizeIsGoHumanizeBytes) {
  EXPECT_EQ(sim::pretty_size(0), "0 B");
  EXPECT_EQ(sim::pretty_size(9), "9 B");
  EXPECT_EQ(sim::pretty_size(1024), "1.0 kB");
  EXPECT_EQ(sim::pretty_size(512 * kMiB), "537 MB");
  EXPECT_EQ(sim::pretty_size(1024 * kMiB), "1.1 GB");
  EXPECT_EQ(sim::pretty_size(10ULL * 1000 * 1000 * 1000), "10 GB");
}

TEST(DiskFacts, QemuVirtioScsiDisks) {
  const cel::DiskFacts sys = sim::simulated_disk_facts(0, 1024 * kMiB);
  EXPECT_EQ(sys.dev_path, "/dev/sda");
  EXPECT_EQ(sys.model, "QEMU HARDDISK");
  EXPECT_EQ(sys.transport, "virtio");
  EXPECT_EQ(sys.serial, "QM00001");
  EXPECT_EQ(sys.pretty_size, "1.1 GB");
  EXPECT_TRUE(sys.rotational);
  EXPECT_FALSE(sys.readonly);
  const cel::DiskFacts second = sim::simulated_disk_facts(1, 512 * kMiB);
  EXPECT_EQ(second.dev_path, "/dev/sdb");
  EXPECT_NE(second.serial, sys.serial);
  EXPECT_NE(second.wwid, sys.wwid);
  ASSERT_EQ(second.symlinks.size(), 3u);
  EXPECT_EQ(second.symlinks[1], "/dev/disk/by-id/scsi-0QEMU_QEMU_HARDDISK_QM00002");
}

TEST(DiskFacts, SelectorsTalosUsersWrite) {
  EXPECT_TRUE(selects("system_disk", 0));
  EXPECT_FALSE(selects("system_disk", 1));
  EXPECT_TRUE(selects("!system_disk", 1));
  EXPECT_TRUE(selects("disk.transport == 'virtio' && !system_disk", 2));
  EXPECT_TRUE(selects("disk.model == 'QEMU HARDDISK'", 1));
  EXPECT_TRUE(selects("disk.dev_path == '/dev/sdc'", 2));
  EXPECT_FALSE(selects("disk.dev_path == '/dev/sdc'", 1));
  EXPECT_TRUE(selects("disk.size >= 500u * MiB", 1));
  EXPECT_FALSE(selects("disk.size > 1u * GiB", 1));
  EXPECT_TRUE(selects("disk.rotational && !disk.readonly", 1));
  EXPECT_TRUE(selects("disk.serial == 'QM00002'", 1));
  EXPECT_TRUE(selects("'/dev/disk/by-id/scsi-0QEMU_QEMU_HARDDISK_QM00003' in disk.symlinks", 2));
  EXPECT_TRUE(selects("glob('/dev/sd*', disk.dev_path)", 1));
  EXPECT_FALSE(selects("disk.transport == 'nvme'", 1));
}

TEST(DiskFacts, EvaluationErrorIsCelGosText) {
  const cel::Program p =
      cel::Program::compile("disk.size / 0u > 1u", cel::Environment::kDiskLocator);
  try {
    p.evaluate(cel::DiskActivation{sim::simulated_disk_facts(1, 512 * kMiB), false});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "division by zero");
  }
}

}  // namespace
