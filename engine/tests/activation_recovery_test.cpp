// Crash recovery of the userspace backend: a process that owned the FUSE server dies with a volume
// open and a filesystem mounted on it (a power cut); recover_userspace_backend then leaves no
// mount, no FUSE connection and no loop device behind, and the volume opens again.
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>

#include "cryptnode/engine/activation/backend.h"
#include "cryptnode/engine/luks2.h"
#include "support/scratch.h"

using namespace cryptnode;
using namespace cryptnode::activation;
using cryptnode::testing::run;
using cryptnode::testing::ScratchFile;

namespace {

bool mounted_under(const std::string& dir) {
  for (const auto& m : Env::posix().mounts())
    if (m.target.rfind(dir, 0) == 0) return true;
  return false;
}

}  // namespace

TEST(UserspaceRecovery, AfterTheOwnerDied) {
  ScratchFile img(64 << 20);
  const std::string runtime = img.dir() + "/run";
  const Secret pw(std::string_view("pw"));
  luks2::Device::format(img.path(), 0, pw, {}, Env::posix());
  {
    auto b = make_activation_backend("userspace", runtime, Env::posix());
    std::string dev = b->open(img.path(), 0, pw, "luks2-crash", {});
    ASSERT_EQ(run({"mkfs.xfs", "-q", "--unsupported", dev}).status, 0);
    b->close("luks2-crash");
  }
  pid_t pid = ::fork();
  if (pid == 0) {
    // The owner: opens, mounts, and dies without any cleanup.
    try {
      auto b = make_activation_backend("userspace", runtime, Env::posix());
      std::string dev = b->open(img.path(), 0, pw, "luks2-crash", {});
      std::filesystem::create_directories(runtime + "/mnt");
      if (::mount(dev.c_str(), (runtime + "/mnt").c_str(), "xfs", 0, nullptr) != 0) ::_exit(2);
      b.release();  // never destroyed
      ::_exit(0);
    } catch (...) {
      ::_exit(1);
    }
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  EXPECT_TRUE(mounted_under(runtime + "/mapper"));
  EXPECT_EQ(Env::posix().loops_backed_under(runtime + "/mapper/").size(), 1u);

  recover_userspace_backend(runtime, Env::posix());
  EXPECT_FALSE(mounted_under(runtime));
  EXPECT_TRUE(Env::posix().loops_backed_under(runtime + "/").empty());
  recover_userspace_backend(runtime, Env::posix());  // nothing left: a no-op

  auto b = make_activation_backend("userspace", runtime, Env::posix());
  std::string dev = b->open(img.path(), 0, pw, "luks2-crash", {});
  // XFS as the power cut left it: the mount replays its log.
  std::filesystem::create_directories(runtime + "/mnt");
  EXPECT_EQ(::mount(dev.c_str(), (runtime + "/mnt").c_str(), "xfs", 0, nullptr), 0);
  EXPECT_EQ(::umount((runtime + "/mnt").c_str()), 0);
  b->close("luks2-crash");
  EXPECT_FALSE(mounted_under(runtime));
  EXPECT_TRUE(Env::posix().loops_backed_under(img.dir()).empty());
  std::filesystem::remove_all(runtime);
}
