// Disks of the simulated node: Talos' GPT layout (read back by sfdisk as an independent reader),
// loop devices with BLKPG partitions, partition numbers kept across delete/add, Talos' blkid
// semantics (LUKS1 is "nothing"), and the reset wipe.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "../../engine/tests/support/scratch.h"
#include "cryptnode/sim/disk.h"

using namespace cryptnode;
using namespace cryptnode::sim;
using cryptnode::testing::run;
using cryptnode::testing::ScratchFile;

namespace {
constexpr uint64_t kMiB = 1 << 20;

void layout(const std::string& image) {
  auto dev = Env::posix().open_block(image, true);
  Gpt g = Gpt::create(dev->size(), Env::posix().random());
  g.add("EFI", 8 * kMiB, kTypeEFI, Env::posix().random());
  g.add("META", kMiB, kTypeLinuxData, Env::posix().random());
  g.write(*dev);
}
}  // namespace

TEST(Gpt, TalosLayoutReadBySfdisk) {
  ScratchFile img(256 * kMiB);
  layout(img.path());
  auto r = run({"sfdisk", "--json", img.path()});
  ASSERT_EQ(r.status, 0) << r.output;
  auto j = nlohmann::json::parse(r.output)["partitiontable"];
  EXPECT_EQ(j["label"], "gpt");
  EXPECT_EQ(j["firstlba"], 2048);  // aligned first usable LBA, as go-blockdevice writes it
  ASSERT_EQ(j["partitions"].size(), 2u);
  EXPECT_EQ(j["partitions"][0]["name"], "EFI");
  EXPECT_EQ(j["partitions"][0]["start"], 2048);
  EXPECT_EQ(j["partitions"][0]["type"], "C12A7328-F81F-11D2-BA4B-00A0C93EC93B");
  EXPECT_EQ(j["partitions"][1]["name"], "META");
  EXPECT_EQ(j["partitions"][1]["size"], 2048);  // exactly 1 MiB
  EXPECT_EQ(j["partitions"][1]["start"], 2048 + 8 * 2048);
}

TEST(AttachedDisk, PartitionsAppearAndKeepTheirNumbers) {
  ScratchFile img(256 * kMiB);
  layout(img.path());
  std::string loop;
  {
    AttachedDisk d("system", img.path(), Env::posix());
    loop = d.device();
    EXPECT_EQ(::access(d.partition_device(2).c_str(), F_OK), 0);
    GptPartition state = d.add_partition("STATE", 100 * kMiB, kTypeLinuxData);
    EXPECT_EQ(state.index, 3);
    GptPartition eph = d.add_partition("EPHEMERAL", 0, kTypeLinuxData);
    EXPECT_EQ(eph.index, 4);
    std::ifstream sz("/sys/class/block/" + d.partition_device(3).substr(5) + "/size");
    uint64_t sectors = 0;
    sz >> sectors;
    EXPECT_EQ(sectors * 512, 100 * kMiB);
    // Bytes written through the partition land at its offset in the image.
    {
      std::ofstream p(d.partition_device(3), std::ios::binary | std::ios::in | std::ios::out);
      p << "cryptnode-marker";
    }
    std::ifstream raw(img.path(), std::ios::binary);
    raw.seekg(static_cast<std::streamoff>(state.offset()));
    char buf[16];
    raw.read(buf, 16);
    EXPECT_EQ(std::string(buf, 16), "cryptnode-marker");
    // Reset: wipe + delete STATE; EPHEMERAL keeps number 4; a new STATE reuses slot 3.
    d.wipe_and_delete(3);
    EXPECT_NE(::access(d.partition_device(3).c_str(), F_OK), 0);
    EXPECT_EQ(d.read_gpt().find("EPHEMERAL")->index, 4);
    EXPECT_EQ(d.add_partition("STATE", 100 * kMiB, kTypeLinuxData).index, 3);
    EXPECT_EQ(probe(d.partition_device(3), Env::posix()), "");  // wiped on creation
  }
  EXPECT_TRUE(Env::posix().loops_backed_under(img.dir()).empty()) << loop;
}

// Partitions added with BLKPG outlive LOOP_CLR_FD (the simulation binds loop devices without
// LO_FLAGS_PARTSCAN, and only then does the kernel drop them): recovery's detach_loop drops a
// crashed owner's first, and an attach drops what an earlier user of the device left, so that
// user's partitions never make the next BLKPG add fail with EBUSY.
TEST(AttachedDisk, PartitionsOfAnEarlierUserOfTheLoopDeviceAreDropped) {
  ScratchFile img(64 * kMiB);
  Env& env = Env::posix();
  auto parts = [](const std::string& loop) {
    const std::string base = loop.substr(5);
    int n = 0;
    for (const auto& name : Env::posix().list_dir("/sys/block/" + base))
      n += name.rfind(base + "p", 0) == 0;
    return n;
  };
  {  // recovery of a crashed owner's device
    auto loop = env.attach_loop(img.path(), 512, false, false);
    env.add_partition(loop->path(), 1, kMiB, 8 * kMiB);
    env.add_partition(loop->path(), 2, 9 * kMiB, 8 * kMiB);
    ASSERT_EQ(parts(loop->path()), 2);
    env.detach_loop(loop->path());
    EXPECT_EQ(parts(loop->path()), 0);
  }
  auto first = env.attach_loop(img.path(), 512, false, false);
  const std::string path = first->path();
  env.add_partition(path, 1, kMiB, 8 * kMiB);
  env.add_partition(path, 2, 9 * kMiB, 8 * kMiB);
  first->detach();  // LOOP_CLR_FD alone, as an owner killed before its deletes
  ASSERT_EQ(parts(path), 2) << "the kernel dropped them itself: nothing left to test";
  std::vector<std::unique_ptr<LoopDevice>> held;  // until the device is handed out again
  while (held.size() < 32 && (held.empty() || held.back()->path() != path))
    held.push_back(env.attach_loop(img.path(), 512, false, false));
  if (held.back()->path() == path) {
    EXPECT_EQ(parts(path), 0);
    env.add_partition(path, 1, 4 * kMiB, 16 * kMiB);  // overlaps both stale ones
    EXPECT_EQ(parts(path), 1);
    env.delete_partition(path, 1);
  }
  held.clear();
  for (int i : {1, 2}) env.delete_partition(path, i);  // if another process took it first
}

TEST(Probe, TalosBlkidSemantics) {
  ScratchFile img(64 * kMiB);
  EXPECT_EQ(probe(img.path(), Env::posix()), "");
  auto r = run({"cryptsetup", "luksFormat", "--batch-mode", "--type", "luks1", "--key-file", "-",
                "--pbkdf-force-iterations", "1000", img.path()},
               "k");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(probe(img.path(), Env::posix()), "");  // LUKS1 counts as empty
  r = run({"cryptsetup", "luksFormat", "--batch-mode", "--type", "luks2", "--pbkdf", "argon2id",
           "--pbkdf-force-iterations", "4", "--pbkdf-memory", "32", "--key-file", "-", img.path()},
          "k");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(probe(img.path(), Env::posix()), "luks");
  fast_wipe(img.path(), Env::posix());
  EXPECT_EQ(probe(img.path(), Env::posix()), "");
  r = run({"mkfs.xfs", "-q", "-f", "--unsupported", img.path()});
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(probe(img.path(), Env::posix()), "xfs");
}

TEST(Probe, TalosMetaMagics) {
  // go-blockdevice dispatches on magic1 at offset 0, then accepts either 256 KiB copy that starts
  // with magic1 and ends with magic2 (blkid/internal/filesystems/talosmeta).
  ScratchFile img(kMiB);
  const unsigned char m1[] = {0x5a, 0x4b, 0x3c, 0x2d}, m2[] = {0xa5, 0xb4, 0xc3, 0xd2};
  auto put = [&](uint64_t at, const unsigned char* m) {
    std::fstream f(img.path(), std::ios::binary | std::ios::in | std::ios::out);
    f.seekp(static_cast<std::streamoff>(at));
    f.write(reinterpret_cast<const char*>(m), 4);
  };
  put(256 * 1024, m1);  // only the second copy is whole, and nothing at 0 to dispatch on
  put(512 * 1024 - 4, m2);
  EXPECT_EQ(probe(img.path(), Env::posix()), "");
  put(0, m1);  // magic1 at 0 (the first copy is torn: no magic2 at its end)
  EXPECT_EQ(probe(img.path(), Env::posix()), "talosmeta");
}
