// The machine-wide argon2 cap (engine/src/luks2/kdf_slots.h): slots are shared by every process on
// the machine, a dead holder frees its slot, a bad CRYPTNODE_ARGON2_JOBS is named in the error.
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

#include "../src/luks2/kdf_slots.h"
#include "cryptnode/engine/error.h"

namespace cryptnode::luks2 {
namespace {

class KdfSlots : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/cryptnode-kdf-slots-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    ::setenv("CRYPTNODE_KDF_SLOTS_DIR", dir_.c_str(), 1);
    ::setenv("CRYPTNODE_ARGON2_JOBS", "2", 1);
  }
  void TearDown() override {
    ::unsetenv("CRYPTNODE_KDF_SLOTS_DIR");
    ::unsetenv("CRYPTNODE_ARGON2_JOBS");
    for (int i = 0; i < 2; ++i) ::unlink((dir_ + "/argon2." + std::to_string(i)).c_str());
    ::rmdir(dir_.c_str());
  }
  std::string dir_;
};

TEST_F(KdfSlots, TwoJobsHoldBothSlotsAndAThirdWaits) {
  auto a = KdfSlot::acquire();
  auto b = KdfSlot::acquire();
  EXPECT_NE(a.index(), b.index());
  EXPECT_FALSE(KdfSlot::try_acquire().has_value());
  {
    auto moved = std::move(a);  // a moved slot stays held
    EXPECT_FALSE(KdfSlot::try_acquire().has_value());
  }
  auto c = KdfSlot::try_acquire();
  ASSERT_TRUE(c.has_value());
}

TEST_F(KdfSlots, AnotherProcessHoldsSlotsUntilItDies) {
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto a = KdfSlot::acquire();
    auto b = KdfSlot::acquire();
    char c = 'x';
    if (::write(ready[1], &c, 1) != 1) ::_exit(2);
    ::pause();  // holds both slots until killed
    ::_exit(0);
  }
  ::close(ready[1]);
  char c;
  ASSERT_EQ(::read(ready[0], &c, 1), 1);
  ::close(ready[0]);
  EXPECT_FALSE(KdfSlot::try_acquire().has_value());
  ::kill(child, SIGKILL);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  auto s = KdfSlot::acquire();  // the dead holder's slots are free
  EXPECT_GE(s.index(), 0);
}

TEST_F(KdfSlots, OneJobMeansOneSlot) {
  ::setenv("CRYPTNODE_ARGON2_JOBS", "1", 1);
  auto a = KdfSlot::acquire();
  EXPECT_EQ(a.index(), 0);
  EXPECT_FALSE(KdfSlot::try_acquire().has_value());
}

TEST_F(KdfSlots, ABadJobCountIsNamed) {
  for (const char* bad : {"0", "-1", "two", "65", "2x"}) {
    ::setenv("CRYPTNODE_ARGON2_JOBS", bad, 1);
    try {
      KdfSlot::acquire();
      ADD_FAILURE() << bad << " accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("CRYPTNODE_ARGON2_JOBS=\"" + std::string(bad) + "\""),
                std::string::npos)
          << e.what();
    }
  }
}

TEST_F(KdfSlots, AnUnusableDirectoryIsNamed) {
  ::setenv("CRYPTNODE_KDF_SLOTS_DIR", "/proc/no-such-dir/slots", 1);
  try {
    KdfSlot::acquire();
    ADD_FAILURE() << "acquired a slot in /proc";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/proc/no-such-dir/slots"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace cryptnode::luks2
