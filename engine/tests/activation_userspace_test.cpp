// The userspace activation backend on real loop devices: bytes written through it read back after
// close/reopen, match what cryptsetup's own offline decryption produces, survive mkfs.xfs + mount,
// and teardown leaves no loop device and no FUSE mount.
#include <gtest/gtest.h>
#include <sys/mount.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "cryptnode/engine/activation/backend.h"
#include "cryptnode/engine/error.h"
#include "cryptnode/engine/luks2.h"
#include "support/scratch.h"

using namespace cryptnode;
using namespace cryptnode::activation;
using cryptnode::testing::run;
using cryptnode::testing::ScratchFile;

namespace {

constexpr uint64_t kSize = 64 << 20;
Secret S(const char* s) {
  return Secret(std::string_view(s));
}

std::string pattern(size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

void write_dev(const std::string& dev, uint64_t off, const std::string& data) {
  std::fstream f(dev, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(static_cast<std::streamoff>(off));
  f.write(data.data(), static_cast<std::streamsize>(data.size()));
  f.flush();
  ASSERT_TRUE(f.good());
}

std::string read_dev(const std::string& dev, uint64_t off, size_t n) {
  std::ifstream f(dev, std::ios::binary);
  f.seekg(static_cast<std::streamoff>(off));
  std::string s(n, '\0');
  f.read(s.data(), static_cast<std::streamsize>(n));
  return s;
}

bool fuse_mounted_under(const std::string& dir) {
  std::ifstream m("/proc/mounts");
  std::string line;
  while (std::getline(m, line))
    if (line.find(dir) != std::string::npos) return true;
  return false;
}

struct UserspaceTest : ::testing::TestWithParam<uint32_t> {
  ScratchFile img{kSize};
  std::unique_ptr<cryptnode::testing::ScratchLoop> disk;
  std::string runtime;
  void SetUp() override {
    disk = std::make_unique<cryptnode::testing::ScratchLoop>(img.path());
    runtime = img.dir() + "/run";
    luks2::FormatOptions o;
    o.sector_size = GetParam();
    luks2::Device::format(disk->path(), 0, S("pw"), o, Env::posix());
  }
  void TearDown() override {
    disk.reset();
    EXPECT_TRUE(Env::posix().loops_backed_under(img.dir()).empty());
    EXPECT_FALSE(fuse_mounted_under(img.dir()));
    std::filesystem::remove_all(runtime);
  }
};

}  // namespace

TEST_P(UserspaceTest, BytesSurviveCloseAndReopenAndMatchCryptsetup) {
  const std::string data = pattern(1 << 20, GetParam());
  {
    auto b = make_activation_backend("userspace", runtime, Env::posix());
    std::string mapped = b->open(disk->path(), 0, S("pw"), "luks2-EPHEMERAL", {});
    EXPECT_EQ(mapped.rfind("/dev/loop", 0), 0u);
    EXPECT_TRUE(b->is_open("luks2-EPHEMERAL"));
    write_dev(mapped, 4096, data);
    write_dev(mapped, 4096 * 300 + 100, "unaligned");  // read-modify-write inside sectors
    b->close("luks2-EPHEMERAL");
    EXPECT_FALSE(b->is_open("luks2-EPHEMERAL"));
  }
  EXPECT_FALSE(fuse_mounted_under(runtime));
  {
    auto b = make_activation_backend("userspace", runtime, Env::posix());
    std::string mapped = b->open(disk->path(), 0, S("pw"), "luks2-EPHEMERAL", {});
    EXPECT_TRUE(read_dev(mapped, 4096, data.size()) == data);
    EXPECT_EQ(read_dev(mapped, 4096 * 300 + 100, 9), "unaligned");
    b->close("luks2-EPHEMERAL");
  }
  // Independent reader: cryptsetup's offline decryption of a copy of the device with a detached
  // header, which moves the plaintext to the start of the device.
  const std::string copy = img.dir() + "/copy.img";
  std::filesystem::copy_file(img.path(), copy);
  auto r = run({"cryptsetup", "reencrypt", "--decrypt", "--batch-mode", "--force-offline-reencrypt",
                "--key-file", "-", "--header", img.dir() + "/copy.hdr", copy},
               "pw");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_TRUE(read_dev(copy, 4096, data.size()) == data);
  EXPECT_EQ(read_dev(copy, 4096 * 300 + 100, 9), "unaligned");
  std::filesystem::remove(copy);
  std::filesystem::remove(img.dir() + "/copy.hdr");
}

TEST_P(UserspaceTest, XfsThroughTheBackend) {
  const std::string mnt = img.dir() + "/mnt";
  std::filesystem::create_directories(mnt);
  const std::string data = pattern(300000, 7);
  {
    auto b = make_activation_backend("userspace", runtime, Env::posix());
    std::string mapped = b->open(disk->path(), 0, S("pw"), "luks2-u-data", {});
    auto mk = run({"mkfs.xfs", "-q", "--unsupported", mapped});
    ASSERT_EQ(mk.status, 0) << mk.output;
    ASSERT_EQ(::mount(mapped.c_str(), mnt.c_str(), "xfs", 0, nullptr), 0);
    { std::ofstream(mnt + "/file.bin", std::ios::binary) << data; }
    ASSERT_EQ(::umount(mnt.c_str()), 0);
    b->close("luks2-u-data");
  }
  {
    auto b = make_activation_backend("userspace", runtime, Env::posix());
    std::string mapped = b->open(disk->path(), 0, S("pw"), "luks2-u-data", {});
    ASSERT_EQ(::mount(mapped.c_str(), mnt.c_str(), "xfs", MS_RDONLY, nullptr), 0);
    std::string back;
    {
      std::ifstream f(mnt + "/file.bin", std::ios::binary);
      back.assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
    }
    EXPECT_EQ(::umount(mnt.c_str()), 0);
    EXPECT_TRUE(back == data) << back.size() << " bytes read back";
  }
}

TEST_P(UserspaceTest, WrongPassphraseAndBusyName) {
  auto b = make_activation_backend("userspace", runtime, Env::posix());
  try {
    b->open(disk->path(), 0, S("nope"), "luks2-X", {});
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Code::kKeyRejected);
  }
  b->open(disk->path(), 0, S("pw"), "luks2-X", {});
  try {
    b->open(disk->path(), 0, S("pw"), "luks2-X", {});
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "mapped device is still in use");
  }
  // Destroying the backend with a volume still open tears everything down.
}

INSTANTIATE_TEST_SUITE_P(SectorSizes, UserspaceTest, ::testing::Values(512u, 4096u));

TEST(ActivationBackend, AutoPicksUserspaceWithoutDeviceMapper) {
  if (device_mapper_available()) GTEST_SKIP() << "this host has device-mapper";
  ScratchFile img(1 << 20);
  EXPECT_EQ(make_activation_backend("auto", img.dir() + "/run", Env::posix())->kind(), "userspace");
  try {
    make_activation_backend("kernel", img.dir() + "/run", Env::posix());
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Code::kUnsupported);
    EXPECT_NE(std::string(e.what()).find("device-mapper"), std::string::npos);
  }
  EXPECT_THROW(make_activation_backend("gpu", img.dir(), Env::posix()), Error);
}
