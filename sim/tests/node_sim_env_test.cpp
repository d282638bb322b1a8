// SimEnv's crash_at arming (docs/fault-points.md#naming-one-instance): "<point>" fires at the first
// reach, "<point>#<N>" at the Nth, counted from the arming; other points do not count; a fired
// point is disarmed; "" disarms; bad names and counts are clear errors naming the input.
#include <gtest/gtest.h>

#include "cryptnode/engine/error.h"
#include "cryptnode/sim/sim_env.h"

namespace cryptnode::sim {
namespace {

// How many reaches of `point` pass before the power is cut (-1: never within `limit`).
int reaches_before_cut(SimEnv& env, std::string_view point, int limit = 10) {
  for (int i = 0; i < limit; ++i) {
    try {
      env.fault_point(point);
    } catch (const PowerCut&) {
      return i;
    }
  }
  return -1;
}

TEST(SimEnvCrashAt, PlainNameFiresAtTheFirstReachAndOnlyOnce) {
  SimEnv env(Env::posix());
  env.arm_crash("encryption.after_add_key");
  try {
    env.fault_point("encryption.after_add_key");
    FAIL() << "no power cut";
  } catch (const PowerCut& cut) {
    EXPECT_EQ(cut.point, "encryption.after_add_key");
  }
  EXPECT_FALSE(env.armed_crash().has_value());
  EXPECT_EQ(reaches_before_cut(env, "encryption.after_add_key"), -1);
}

TEST(SimEnvCrashAt, CountedNameFiresAtTheNthReachOfThatPointOnly) {
  SimEnv env(Env::posix());
  env.arm_crash("encryption.after_add_key#3");
  env.fault_point("encryption.before_kill");  // another point does not count
  env.fault_point("encryption.after_add_key");
  env.fault_point("encryption.before_kill");
  env.fault_point("encryption.after_add_key");
  try {
    env.fault_point("encryption.after_add_key");
    FAIL() << "no power cut at the third reach";
  } catch (const PowerCut& cut) {
    EXPECT_EQ(cut.point, "encryption.after_add_key#3");  // what was armed
  }
  EXPECT_FALSE(env.armed_crash().has_value());
}

TEST(SimEnvCrashAt, RearmingRestartsTheCountAndEmptyDisarms) {
  SimEnv env(Env::posix());
  env.arm_crash("meta.between_copies#2");
  env.fault_point("meta.between_copies");
  env.arm_crash("meta.between_copies#2");
  EXPECT_EQ(reaches_before_cut(env, "meta.between_copies"), 1);
  env.arm_crash("meta.between_copies");
  env.arm_crash("");
  EXPECT_FALSE(env.armed_crash().has_value());
  EXPECT_EQ(reaches_before_cut(env, "meta.between_copies"), -1);
}

TEST(SimEnvCrashAt, BadNamesAndCountsAreRefusedNamingTheInput) {
  SimEnv env(Env::posix());
  for (const char* bad : {"no.such.point", "no.such.point#2", "meta.between_copies#0",
                          "meta.between_copies#-1", "meta.between_copies#", "meta.between_copies#x",
                          "meta.between_copies#2x", "meta.between_copies#99999999999"}) {
    try {
      env.arm_crash(bad);
      ADD_FAILURE() << bad << " was accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), Code::kInvalidArgument) << bad;
      EXPECT_NE(std::string(e.what()).find(bad), std::string::npos) << e.what();
    }
  }
  EXPECT_FALSE(env.armed_crash().has_value());
}

}  // namespace
}  // namespace cryptnode::sim
