// libcryptsetup's imports redirected (engine/src/luks2/import_table.h): its /dev/urandom reads
// served from a getrandom pool (random_pool.h) and its digests fetched once (digest_cache.h). Both
// in effect for the engine's libcryptsetup only; what it writes still opens with the cryptsetup
// CLI; a forked child never hands out the bytes its parent's pool held.
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstring>
#include <functional>

#include "../src/luks2/digest_cache.h"
#include "../src/luks2/random_pool.h"
#include "cryptnode/engine/luks2.h"
#include "support/scratch.h"

using namespace cryptnode;
using namespace cryptnode::luks2;
using cryptnode::testing::cli_opens;
using cryptnode::testing::ScratchFile;
using cryptnode::testing::ScratchLoop;

namespace {

constexpr const char* kAsShipped =
    " (another libcryptsetup build, or CRYPTNODE_LIBCRYPTSETUP_AS_IS=1 in the environment)";

Secret S(const char* s) {
  return Secret(std::string_view(s));
}

// How much `counter` grows while libcryptsetup writes one keyslot (AF split of 3999 random
// stripes of 64 bytes, two SHA-256 blocks each); the CLI must open both keyslots after.
unsigned long growth_over_one_keyslot_add(const std::function<unsigned long()>& counter) {
  ScratchFile img(32 << 20);
  ScratchLoop loop(img.path());
  Device d = Device::format(loop.path(), 0, S("first"), {}, Env::posix());
  const unsigned long before = counter();
  d.add_key(1, S("first"), S("second"), Pbkdf::kFast);
  const unsigned long grown = counter() - before;
  EXPECT_TRUE(cli_opens(loop.path(), 1, "second"));
  EXPECT_TRUE(cli_opens(loop.path(), 0, "first"));
  EXPECT_FALSE(d.check_key(1, S("wrong")));
  return grown;
}

void install_both() {
  ScratchFile img(32 << 20);
  Device::format(img.path(), 0, S("pw"), {}, Env::posix());  // the engine's first libcryptsetup use
}

}  // namespace

TEST(RandomPool, ServesLibcryptsetupsStripesAndTheHeaderStillOpens) {
  install_both();
  ASSERT_TRUE(random_pool_installed()) << "open/close/read not redirected" << kAsShipped;
  EXPECT_GE(growth_over_one_keyslot_add(random_pool_reads), 3999u);
}

TEST(RandomPool, AForkedChildDrawsOtherBytesThanItsParent) {
  install_both();
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
  install_both();
  ASSERT_TRUE(random_pool_installed());
  std::array<unsigned char, 64> a{}, b{}, zero{};
  ASSERT_TRUE(random_pool_draw(a.data(), a.size()));
  ASSERT_TRUE(random_pool_draw(b.data(), b.size()));
  EXPECT_NE(std::memcmp(a.data(), b.data(), a.size()), 0);
  EXPECT_NE(std::memcmp(a.data(), zero.data(), a.size()), 0);
}

TEST(DigestCache, AnswersLibcryptsetupsFetchesAndTheHeaderStillOpens) {
  install_both();
  ASSERT_TRUE(digest_cache_installed()) << "EVP_MD_fetch not redirected" << kAsShipped;
  EXPECT_GE(growth_over_one_keyslot_add(digest_cache_hits), 2u * 3999u);
}

TEST(DigestCache, OtherCallersFetchFromOpenSSLAsBefore) {
  install_both();
  ASSERT_TRUE(digest_cache_installed());
  const unsigned long before = digest_cache_hits();
  for (int i = 0; i < 3; ++i) {
    EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    ASSERT_NE(md, nullptr);
    EXPECT_EQ(EVP_MD_get_size(md), 32);
    EVP_MD_free(md);
  }
  EXPECT_EQ(digest_cache_hits(), before);
}
