// libcryptsetup's urandom reads served from a getrandom pool (engine/src/luks2/random_pool.h):
// in effect for the engine's libcryptsetup, what it writes still opens with the cryptsetup CLI,
// and a forked child never hands out the bytes its parent's pool held.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstring>

#include "../src/luks2/random_pool.h"
#include "cryptnode/engine/luks2.h"
#include "support/scratch.h"

using namespace cryptnode;
using namespace cryptnode::luks2;
using cryptnode::testing::cli_opens;
using cryptnode::testing::ScratchFile;
using cryptnode::testing::ScratchLoop;

namespace {

Secret S(const char* s) {
  return Secret(std::string_view(s));
}

}  // namespace

// Every keyslot libcryptsetup writes takes 3999 stripes of 64 bytes (AF_split, 512-bit key): with
// the pool in effect they are served by it, not read from /dev/urandom one system call each.
TEST(RandomPool, ServesLibcryptsetupsStripesAndTheHeaderStillOpens) {
  ScratchFile img(32 << 20);
  ScratchLoop loop(img.path());
  Device d = Device::format(loop.path(), 0, S("first"), {}, Env::posix());
  ASSERT_TRUE(random_pool_installed())
      << "libcryptsetup's open/close/read imports were not redirected (another libcryptsetup "
         "build, or CRYPTNODE_LIBCRYPTSETUP_RANDOM=kernel): random_pool.cpp";
  const unsigned long before = random_pool_reads();
  d.add_key(1, S("first"), S("second"), Pbkdf::kFast);
  EXPECT_GE(random_pool_reads() - before, 3999u);
  EXPECT_TRUE(cli_opens(loop.path(), 1, "second"));
  EXPECT_TRUE(cli_opens(loop.path(), 0, "first"));
}

TEST(RandomPool, AForkedChildDrawsOtherBytesThanItsParent) {
  ScratchFile img(32 << 20);
  Device::format(img.path(), 0, S("pw"), {}, Env::posix());  // installs the pool
  ASSERT_TRUE(random_pool_installed());
  std::array<unsigned char, 32> prime{}, parent{}, child{};
  ASSERT_TRUE(random_pool_draw(prime.data(), prime.size()));  // the pool holds bytes now
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    bool ok = random_pool_draw(child.data(), child.size()) &&
              ::write(fds[1], child.data(), child.size()) == static_cast<ssize_t>(child.size());
    ::_exit(ok ? 0 : 1);
  }
  ::close(fds[1]);
  ASSERT_TRUE(random_pool_draw(parent.data(), parent.size()));
  ASSERT_EQ(::read(fds[0], child.data(), child.size()), static_cast<ssize_t>(child.size()));
  ::close(fds[0]);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  // Without MADV_WIPEONFORK the child would continue from the same pool position: equal bytes.
  EXPECT_NE(std::memcmp(parent.data(), child.data(), parent.size()), 0);
}

TEST(RandomPool, DrawsAreNeverRepeated) {
  ScratchFile img(32 << 20);
  Device::format(img.path(), 0, S("pw"), {}, Env::posix());
  ASSERT_TRUE(random_pool_installed());
  std::array<unsigned char, 64> a{}, b{};
  ASSERT_TRUE(random_pool_draw(a.data(), a.size()));
  ASSERT_TRUE(random_pool_draw(b.data(), b.size()));
  EXPECT_NE(std::memcmp(a.data(), b.data(), a.size()), 0);
  std::array<unsigned char, 64> zero{};
  EXPECT_NE(std::memcmp(a.data(), zero.data(), a.size()), 0);
}
