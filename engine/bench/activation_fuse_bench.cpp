// Sequential write and read of a 256 MiB file on XFS through the userspace backend, encrypted vs
// the same FUSE + loop path with encryption switched off (passthrough), in the same run.
// Prints `ratio fuse_xfs_{write,read} encrypted/passthrough = X (goal >= 0.7)`.
#include <sys/mount.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>

#include "cryptnode/engine/activation/backend.h"
#include "cryptnode/engine/luks2.h"
#include "../tests/support/scratch.h"

using namespace cryptnode;
using cryptnode::testing::run;
using cryptnode::testing::ScratchFile;

namespace {

struct Result {
  double write_mbs, read_mbs;
};

double timed(const std::vector<std::string>& argv) {
  auto t0 = std::chrono::steady_clock::now();
  auto r = run(argv);
  if (r.status != 0) std::fprintf(stderr, "%s failed: %s\n", argv[0].c_str(), r.output.c_str());
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

Result measure(bool passthrough) {
  ScratchFile img(400ull << 20);
  cryptnode::testing::ScratchLoop disk(img.path());
  luks2::FormatOptions o;
  o.sector_size = 4096;
  luks2::Device::format(disk.path(), 0, Secret(std::string_view("pw")), o, Env::posix());
  auto backend = activation::make_activation_backend("userspace", img.dir() + "/run", Env::posix());
  activation::OpenOptions opts;
  opts.passthrough = passthrough;
  std::string dev = backend->open(disk.path(), 0, Secret(std::string_view("pw")), "luks2-bench", opts);
  run({"mkfs.xfs", "-q", dev});
  const std::string mnt = img.dir() + "/mnt";
  std::filesystem::create_directories(mnt);
  ::mount(dev.c_str(), mnt.c_str(), "xfs", 0, nullptr);
  const double mib = 256;
  double w = timed({"dd", "if=/dev/zero", "of=" + mnt + "/f", "bs=1M", "count=256", "conv=fsync",
                    "status=none"});
  ::umount(mnt.c_str());  // a fresh mount: the read comes from the device, not the page cache
  run({"sh", "-c", "echo 3 > /proc/sys/vm/drop_caches"});
  ::mount(dev.c_str(), mnt.c_str(), "xfs", 0, nullptr);
  double r = timed({"dd", "if=" + mnt + "/f", "of=/dev/null", "bs=1M", "status=none"});
  ::umount(mnt.c_str());
  backend->close("luks2-bench");
  return {mib * 1.048576 / w, mib * 1.048576 / r};
}

}  // namespace

int main() {
  // Alternate the two paths and keep each one's best of three runs, so that warm-up and
  // background load do not favour whichever ran second.
  Result plain{0, 0}, enc{0, 0};
  for (int i = 0; i < 3; ++i) {
    Result p = measure(true), e = measure(false);
    plain = {std::max(plain.write_mbs, p.write_mbs), std::max(plain.read_mbs, p.read_mbs)};
    enc = {std::max(enc.write_mbs, e.write_mbs), std::max(enc.read_mbs, e.read_mbs)};
  }
  std::printf("FUSE+loop+XFS passthrough: write %.0f MB/s, read %.0f MB/s\n", plain.write_mbs,
              plain.read_mbs);
  std::printf("FUSE+loop+XFS AES-XTS:     write %.0f MB/s, read %.0f MB/s\n", enc.write_mbs,
              enc.read_mbs);
  std::printf("ratio fuse_xfs_write encrypted/passthrough = %.2f (goal >= 0.7)\n",
              enc.write_mbs / plain.write_mbs);
  std::printf("ratio fuse_xfs_read encrypted/passthrough = %.2f (goal >= 0.7)\n",
              enc.read_mbs / plain.read_mbs);
  return 0;
}
