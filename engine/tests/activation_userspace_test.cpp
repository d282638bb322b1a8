// The userspace activation backend on real loop devices: bytes written through it read back after
// close/reopen, match what cryptsetup's own offline decryption produces (so dm-crypt reads them),
// also for writes that cut sectors and FUSE requests, survive mkfs.xfs + mount, and teardown leaves
// no loop device and no FUSE mount. Every case runs with each XTS implementation the CPU has.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

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

// pwrite/pread on the FUSE file itself: unaligned requests reach the server as they are (the
// loop device above would only ever send whole sectors).
void pwrite_all(int fd, const std::string& data, uint64_t off) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n =
        ::pwrite(fd, data.data() + done, data.size() - done, static_cast<off_t>(off + done));
    ASSERT_GT(n, 0) << "pwrite at " << off + done << ": " << std::strerror(errno);
    done += static_cast<size_t>(n);
  }
}
std::string pread_all(int fd, uint64_t off, size_t len) {
  std::string s(len, '\0');
  size_t done = 0;
  while (done < len) {
    ssize_t n = ::pread(fd, s.data() + done, len - done, static_cast<off_t>(off + done));
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  s.resize(done);
  return s;
}

// File descriptors of this process open on `path`.
int fds_on(const std::string& path) {
  int n = 0;
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) {
    std::error_code ec;
    if (std::filesystem::read_symlink(e.path(), ec) == path) ++n;
  }
  return n;
}

bool fuse_mounted_under(const std::string& dir) {
  std::ifstream m("/proc/mounts");
  std::string line;
  while (std::getline(m, line))
    if (line.find(dir) != std::string::npos) return true;
  return false;
}

// cryptsetup's offline decryption of a copy of the device (detached header): the plaintext moves
// to the start of the copy, so plaintext byte b of the segment is byte b of the result.
std::string cryptsetup_plaintext(const ScratchFile& img, uint64_t off, size_t len) {
  const std::string copy = img.dir() + "/copy.img", hdr = img.dir() + "/copy.hdr";
  std::filesystem::copy_file(img.path(), copy);
  auto r = run({"cryptsetup", "reencrypt", "--decrypt", "--batch-mode", "--force-offline-reencrypt",
                "--key-file", "-", "--header", hdr, copy},
               "pw");
  std::string out = r.status == 0 ? read_dev(copy, off, len) : "cryptsetup failed: " + r.output;
  std::filesystem::remove(copy);
  std::filesystem::remove(hdr);
  return out;
}

struct Param {
  uint32_t sector;
  XtsImpl xts;
};
std::string param_name(const ::testing::TestParamInfo<Param>& p) {
  return std::to_string(p.param.sector) + "_" + std::string(xts_impl_name(p.param.xts));
}
std::vector<Param> params() {
  std::vector<Param> out;
  for (uint32_t s : {512u, 4096u})
    for (XtsImpl i : {XtsImpl::kOpenssl, XtsImpl::kAesni, XtsImpl::kVaes})
      if (xts_impl_available(i)) out.push_back({s, i});
  return out;
}

struct UserspaceTest : ::testing::TestWithParam<Param> {
  ScratchFile img{kSize};
  std::unique_ptr<cryptnode::testing::ScratchLoop> disk;
  std::string runtime;
  OpenOptions opts;
  void SetUp() override {
    disk = std::make_unique<cryptnode::testing::ScratchLoop>(img.path());
    runtime = img.dir() + "/run";
    luks2::FormatOptions o;
    o.sector_size = GetParam().sector;
    luks2::Device::format(disk->path(), 0, S("pw"), o, Env::posix());
    opts.xts = GetParam().xts;
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
  const std::string data = pattern(1 << 20, GetParam().sector);
  const int fds = fds_on(disk->path());  // the scratch loop device's own
  {
    auto b = make_activation_backend("userspace", runtime, Env::posix());
    std::string mapped = b->open(disk->path(), 0, S("pw"), "luks2-EPHEMERAL", opts);
    EXPECT_EQ(mapped.rfind("/dev/loop", 0), 0u);
    EXPECT_TRUE(b->is_open("luks2-EPHEMERAL"));
    write_dev(mapped, 4096, data);
    write_dev(mapped, 4096 * 300 + 100, "unaligned");  // the page cache above reads the sector
    EXPECT_EQ(fds_on(disk->path()), fds + 1);          // the backend's
    b->close("luks2-EPHEMERAL");
    EXPECT_FALSE(b->is_open("luks2-EPHEMERAL"));
    EXPECT_EQ(fds_on(disk->path()), fds);  // let go at luksClose, not when FUSE releases its handle
  }
  EXPECT_FALSE(fuse_mounted_under(runtime));
  {
    auto b = make_activation_backend("userspace", runtime, Env::posix());
    std::string mapped = b->open(disk->path(), 0, S("pw"), "luks2-EPHEMERAL", opts);
    EXPECT_TRUE(read_dev(mapped, 4096, data.size()) == data);
    EXPECT_EQ(read_dev(mapped, 4096 * 300 + 100, 9), "unaligned");
    b->close("luks2-EPHEMERAL");
  }
  const std::string plain = cryptsetup_plaintext(img, 4096, data.size());
  EXPECT_TRUE(plain == data) << plain.substr(0, 200);
  EXPECT_EQ(cryptsetup_plaintext(img, 4096 * 300 + 100, 9), "unaligned");
}

TEST_P(UserspaceTest, WritesAcrossSectorAndRequestBoundariesMatchCryptsetup) {
  const uint32_t ss = GetParam().sector;
  const size_t span = 6 << 20;  // the region the writes touch
  std::string model;
  {
    auto b = make_activation_backend("userspace", runtime, Env::posix());
    b->open(disk->path(), 0, S("pw"), "luks2-x", opts);
    int fd = ::open((runtime + "/mapper/luks2-x").c_str(), O_RDWR | O_CLOEXEC);
    ASSERT_GE(fd, 0) << std::strerror(errno);
    model = pread_all(fd, 0, span);  // whatever the zeroed ciphertext decrypts to
    ASSERT_EQ(model.size(), span);
    auto put = [&](uint64_t off, const std::string& d) {
      pwrite_all(fd, d, off);
      model.replace(off, d.size(), d);
    };
    // 3 MiB + 777 bytes from 300 bytes before 1 MiB: the kernel cuts it into 1 MiB requests, each
    // starting and ending inside a sector.
    put((1 << 20) - 300, pattern((3 << 20) + 777, 1));
    // Both ends partial, across one sector boundary; inside one sector; a sector's last byte.
    for (uint64_t k = 0; k < 8; ++k) put(ss * (5 + 2 * k) + 1, pattern(2 * ss - 2, 10 + k));
    put(ss * 40 + 17, pattern(100, 30));
    put(ss * 41 - 1, "Z");
    // Threads cutting the same sectors in 100-byte strips: a read-modify-write must not put back
    // a stale copy of a strip another thread wrote.
    std::vector<std::thread> threads;
    const uint64_t base = 5 << 20;
    for (int t = 0; t < 4; ++t)
      threads.emplace_back([&, t] {
        for (uint64_t k = 0; k < 64; ++k) {
          const std::string strip(100, static_cast<char>('a' + t));
          pwrite_all(fd, strip, base + k * 400 + t * 100);
        }
      });
    for (auto& th : threads) th.join();
    for (int t = 0; t < 4; ++t)
      for (uint64_t k = 0; k < 64; ++k)
        model.replace(base + k * 400 + t * 100, 100, std::string(100, static_cast<char>('a' + t)));
    // Unaligned reads see the same bytes.
    EXPECT_TRUE(pread_all(fd, (1 << 20) - 301, 5000) == model.substr((1 << 20) - 301, 5000));
    EXPECT_TRUE(pread_all(fd, ss * 41 - 3, 5) == model.substr(ss * 41 - 3, 5));
    ::close(fd);
    b->close("luks2-x");
  }
  {
    auto b = make_activation_backend("userspace", runtime, Env::posix());
    std::string mapped = b->open(disk->path(), 0, S("pw"), "luks2-x", opts);
    EXPECT_TRUE(read_dev(mapped, 0, span) == model);
    b->close("luks2-x");
  }
  const std::string plain = cryptsetup_plaintext(img, 0, span);
  ASSERT_EQ(plain.size(), span) << plain.substr(0, 300);
  for (size_t i = 0; i < span; i += ss)
    ASSERT_TRUE(plain.compare(i, ss, model, i, ss) == 0) << "sector at byte " << i;
}

TEST_P(UserspaceTest, XfsThroughTheBackend) {
  const std::string mnt = img.dir() + "/mnt";
  std::filesystem::create_directories(mnt);
  const std::string data = pattern(300000, 7);
  {
    auto b = make_activation_backend("userspace", runtime, Env::posix());
    std::string mapped = b->open(disk->path(), 0, S("pw"), "luks2-u-data", opts);
    auto mk = run({"mkfs.xfs", "-q", "--unsupported", mapped});
    ASSERT_EQ(mk.status, 0) << mk.output;
    ASSERT_EQ(::mount(mapped.c_str(), mnt.c_str(), "xfs", 0, nullptr), 0);
    { std::ofstream(mnt + "/file.bin", std::ios::binary) << data; }
    try {
      b->close("luks2-u-data");  // still mounted: refused, as dm-crypt refuses
      ADD_FAILURE() << "closed a mounted volume";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), Code::kDeviceBusy);
    }
    EXPECT_TRUE(b->is_open("luks2-u-data"));
    ASSERT_EQ(::umount(mnt.c_str()), 0);
    b->close("luks2-u-data");
  }
  {
    auto b = make_activation_backend("userspace", runtime, Env::posix());
    std::string mapped = b->open(disk->path(), 0, S("pw"), "luks2-u-data", opts);
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
    b->open(disk->path(), 0, S("nope"), "luks2-X", opts);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Code::kKeyRejected);
  }
  EXPECT_FALSE(fuse_mounted_under(runtime));  // nothing was mounted for it
  b->open(disk->path(), 0, S("pw"), "luks2-X", opts);
  try {
    b->open(disk->path(), 0, S("pw"), "luks2-X", opts);
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "mapped device is still in use");
  }
  // Destroying the backend with a volume still open tears everything down.
}

INSTANTIATE_TEST_SUITE_P(SectorSizes, UserspaceTest, ::testing::ValuesIn(params()), param_name);

TEST(ActivationBackend, AutoPicksUserspaceWithoutDeviceMapper) {
  if (device_mapper_available(Env::posix())) GTEST_SKIP() << "this host has device-mapper";
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

// Counts the syncs that reach the LUKS2 device under the FUSE server.
struct CountingEnv : EnvWrapper {
  using EnvWrapper::EnvWrapper;
  struct Device : BlockDevice {
    std::unique_ptr<BlockDevice> d;
    std::atomic<int>& syncs;
    Device(std::unique_ptr<BlockDevice> dev, std::atomic<int>& n) : d(std::move(dev)), syncs(n) {}
    const std::string& path() const override { return d->path(); }
    uint64_t size() const override { return d->size(); }
    void read_at(uint64_t o, void* b, size_t n) override { d->read_at(o, b, n); }
    void write_at(uint64_t o, const void* b, size_t n) override { d->write_at(o, b, n); }
    void sync() override {
      ++syncs;
      d->sync();
    }
  };
  std::unique_ptr<BlockDevice> open_block(const std::string& path, bool writable) override {
    return std::make_unique<Device>(EnvWrapper::open_block(path, writable), syncs);
  }
  std::atomic<int> syncs{0};
};

void fsync_dev(const std::string& dev) {
  int fd = ::open(dev.c_str(), O_RDWR | O_CLOEXEC);
  ASSERT_GE(fd, 0) << dev;
  EXPECT_EQ(::fsync(fd), 0);
  ::close(fd);
}

TEST(ActivationBackend, SyncReachesTheDeviceOnlyAfterAWrite) {
  // A flush of the mapped device (XFS' mount and unmount, a close, the loop detach) syncs the LUKS2
  // device when something was written through the mapping since the last sync, and only then.
  ScratchFile img(kSize);
  luks2::Device::format(img.path(), 0, S("pw"), {}, Env::posix());
  CountingEnv env(Env::posix());
  auto b = make_activation_backend("userspace", img.dir() + "/run", env);
  const std::string mapped = b->open(img.path(), 0, S("pw"), "luks2-sync", {});
  fsync_dev(mapped);
  const int clean = env.syncs;
  fsync_dev(mapped);
  EXPECT_EQ(env.syncs, clean);
  write_dev(mapped, 4096, pattern(8192, 3));
  fsync_dev(mapped);
  EXPECT_GT(env.syncs, clean);
  const int synced = env.syncs;
  fsync_dev(mapped);
  EXPECT_EQ(env.syncs, synced);
  b->close("luks2-sync");
  auto again = make_activation_backend("userspace", img.dir() + "/run", Env::posix());
  const std::string back = again->open(img.path(), 0, S("pw"), "luks2-sync", {});
  EXPECT_EQ(read_dev(back, 4096, 8192), pattern(8192, 3));
  again->close("luks2-sync");
}

TEST(ActivationBackend, MappedLoopDeviceTakesRequestsInFlight) {
  // Direct I/O: the loop device hands the FUSE file asynchronous requests, many at once (buffered,
  // it sends one at a time and the server's threads take turns); a readahead of several FUSE
  // requests keeps a sequential read's requests in flight too.
  ScratchFile img(kSize);
  luks2::FormatOptions o;
  o.sector_size = 4096;
  luks2::Device::format(img.path(), 0, S("pw"), o, Env::posix());
  auto b = make_activation_backend("userspace", img.dir() + "/run", Env::posix());
  const std::string mapped = b->open(img.path(), 0, S("pw"), "luks2-q", {});
  const std::string sys = "/sys/block/" + mapped.substr(mapped.rfind('/') + 1);
  auto sysfs = [&](const std::string& f) {
    std::string v;
    std::ifstream(sys + f) >> v;
    return v;
  };
  EXPECT_EQ(sysfs("/loop/dio"), "1");
  EXPECT_EQ(sysfs("/queue/read_ahead_kb"), "4096");
  EXPECT_EQ(sysfs("/queue/logical_block_size"), "4096");
  const std::string data = pattern(3 << 20, 5);
  write_dev(mapped, 8192, data);
  b->close("luks2-q");
  const std::string back = [&] {
    auto again = make_activation_backend("userspace", img.dir() + "/run", Env::posix());
    std::string dev = again->open(img.path(), 0, S("pw"), "luks2-q", {});
    std::string s = read_dev(dev, 8192, data.size());
    again->close("luks2-q");
    return s;
  }();
  EXPECT_TRUE(back == data);
}
