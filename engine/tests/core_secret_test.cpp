// Secret wipes what it held (engine/include/cryptnode/engine/secret.h): on destruction, clear(),
// reassignment (copy and move) and growth by append. The destructor case is observed through
// this test program's own operator delete, which records whether the freed buffer still held the
// secret's bytes at the moment it was freed.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <new>
#include <string>

#include "cryptnode/engine/secret.h"

namespace {

const void* g_watched = nullptr;  // the allocation whose release is observed
size_t g_watched_size = 0;
bool g_released = false;
bool g_released_wiped = false;

bool all_zero(const void* p, size_t n) {
  const auto* b = static_cast<const unsigned char*>(p);
  for (size_t i = 0; i < n; ++i)
    if (b[i]) return false;
  return true;
}

void observe(void* p) {
  if (p && p == g_watched) {
    g_released = true;
    g_released_wiped = all_zero(p, g_watched_size);
    g_watched = nullptr;
  }
}

void watch(const void* p, size_t n) {
  g_watched = p;
  g_watched_size = n;
  g_released = g_released_wiped = false;
}

const std::string kPass = "correct horse battery staple, 32B";

}  // namespace

void operator delete(void* p) noexcept {
  observe(p);
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  observe(p);
  std::free(p);
}

namespace cryptnode {
namespace {

TEST(Secret, DestructionWipesTheBufferBeforeItIsFreed) {
  {
    Secret s(kPass);
    ASSERT_EQ(s.view(), kPass);
    watch(s.data(), s.size());
  }
  EXPECT_TRUE(g_released);
  EXPECT_TRUE(g_released_wiped);
}

TEST(Secret, ClearWipesTheWholeAllocation) {
  Secret s(kPass);
  const uint8_t* p = s.data();
  s.clear();
  EXPECT_TRUE(s.empty());
  // clear() keeps the allocation (a vector keeps its capacity), so its bytes can be read here.
  EXPECT_EQ(s.data(), p);
  EXPECT_TRUE(all_zero(p, kPass.size()));
}

TEST(Secret, CopyAndMoveAssignmentWipeTheOldContents) {
  Secret s(kPass);
  watch(s.data(), s.size());
  s = Secret(std::string_view("other"));
  EXPECT_TRUE(g_released);
  EXPECT_TRUE(g_released_wiped);

  Secret t(kPass);
  const Secret u(std::string_view("x"));
  watch(t.data(), t.size());
  t = u;
  EXPECT_EQ(t.view(), "x");
  if (g_released)
    EXPECT_TRUE(g_released_wiped);
  else
    EXPECT_TRUE(all_zero(t.data() + 1, kPass.size() - 1));  // the buffer was reused
}

TEST(Secret, MovedFromIsEmptyAndAppendWipesTheOutgrownBuffer) {
  Secret a(kPass);
  Secret b(std::move(a));
  EXPECT_TRUE(a.empty());  // NOLINT(bugprone-use-after-move): the moved-from state is specified
  EXPECT_EQ(b.view(), kPass);

  watch(b.data(), b.size());
  b.append(reinterpret_cast<const uint8_t*>("more"), 4);
  EXPECT_EQ(b.view(), kPass + "more");
  EXPECT_TRUE(g_released);
  EXPECT_TRUE(g_released_wiped);
}

TEST(Secret, EqualityComparesBytes) {
  EXPECT_TRUE(Secret(kPass) == Secret(kPass));
  EXPECT_FALSE(Secret(kPass) == Secret(std::string_view("correct horse")));
  EXPECT_FALSE(Secret(std::string_view("abc")) == Secret(std::string_view("abd")));
}

}  // namespace
}  // namespace cryptnode
