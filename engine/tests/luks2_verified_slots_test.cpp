// The verified-keyslot cache (engine/src/luks2/verified_slots.h) and adds by volume key: a
// keyslot checked again answers without its KDF only while nothing that decides the answer
// changed; a tampered keyslot, another passphrase or another volume key miss and get the real
// check's answer, which the cryptsetup CLI confirms.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "../src/luks2/verified_slots.h"
#include "cryptnode/engine/error.h"
#include "cryptnode/engine/luks2.h"
#include "support/scratch.h"
#include "support/tamper.h"

using namespace cryptnode;
using namespace cryptnode::luks2;
using cryptnode::testing::cli_opens;
using cryptnode::testing::flip_byte;
using cryptnode::testing::run;
using cryptnode::testing::ScratchFile;

namespace {

constexpr uint64_t kSize = 32 << 20;
Secret S(const char* s) {
  return Secret(std::string_view(s));
}

// A volume with "zero" in slot 0, "one" in slot 1 and "five" in slot 5, formatted (and the
// others added, slot 5 after slot 1) by the engine.
void format_two(const std::string& path) {
  Device d = Device::format(path, 0, S("zero"), {}, Env::posix());
  d.add_key(1, S("zero"), S("one"), Pbkdf::kFast);
  d.add_key(5, S("zero"), S("five"), Pbkdf::kFast);
}

// Offset of keyslot `slot`'s key material, from the LUKS2 JSON.
uint64_t area_offset(const std::string& path, int slot) {
  Device d = Device::load(path);
  auto j = nlohmann::json::parse(d.header_json());
  return std::stoull(j["keyslots"][std::to_string(slot)]["area"]["offset"].get<std::string>());
}

class VerifiedSlotsTest : public ::testing::Test {
 protected:
  void SetUp() override { VerifiedSlots::clear(); }
  void TearDown() override { VerifiedSlots::clear(); }
  static uint64_t hits() { return VerifiedSlots::stats().hits; }
  static uint64_t misses() { return VerifiedSlots::stats().misses; }
};

}  // namespace

TEST_F(VerifiedSlotsTest, AnUnchangedKeyslotAnswersFromTheCache) {
  ScratchFile img(kSize);
  format_two(img.path());
  Device d = Device::load(img.path());
  d.unlock(0, S("zero"));
  EXPECT_TRUE(d.check_key(1, S("one")));  // keyslots added or removed since do not matter
  EXPECT_TRUE(d.check_key(5, S("five")));
  d.kill_slot(5);
  d.add_key(6, S("zero"), S("six"), Pbkdf::kFast);
  EXPECT_TRUE(d.check_key(1, S("one")));
  EXPECT_EQ(hits(), 3u);
  EXPECT_EQ(misses(), 0u);
  EXPECT_TRUE(cli_opens(img.path(), 1, "one"));
}

TEST_F(VerifiedSlotsTest, AWrongPassphraseMissesAndIsRejected) {
  ScratchFile img(kSize);
  format_two(img.path());
  Device d = Device::load(img.path());
  d.unlock(0, S("zero"));
  EXPECT_FALSE(d.check_key(1, S("zero")));
  EXPECT_FALSE(d.check_key(1, S("one ")));
  EXPECT_EQ(hits(), 0u);
  EXPECT_EQ(misses(), 2u);
  EXPECT_THROW(d.test_key(1, S("two")), Error);
}

TEST_F(VerifiedSlotsTest, ATamperedKeyAreaMissesAndNoLongerOpens) {
  ScratchFile img(kSize);
  format_two(img.path());
  flip_byte(img.path(), area_offset(img.path(), 1) + 100);
  ASSERT_FALSE(cli_opens(img.path(), 1, "one"));  // the CLI: slot 1 is broken
  Device d = Device::load(img.path());
  d.unlock(0, S("zero"));
  EXPECT_FALSE(d.check_key(1, S("one")));  // as the CLI says, not as the record said
  EXPECT_EQ(hits(), 0u);
  EXPECT_EQ(misses(), 1u);
}

TEST_F(VerifiedSlotsTest, AChangedPassphraseMisses) {
  ScratchFile img(kSize);
  format_two(img.path());
  // Another process (the CLI) replaces slot 1's passphrase.
  auto r = run({"cryptsetup", "luksChangeKey", img.path(), "--key-slot=1", "--pbkdf", "argon2id",
                "--pbkdf-force-iterations", "4", "--pbkdf-memory", "32", "--pbkdf-parallel", "1",
                "--key-file=-", "--keyfile-size=3"},
               "onetwo");
  ASSERT_EQ(r.status, 0) << r.output;
  Device d = Device::load(img.path());
  d.unlock(0, S("zero"));
  EXPECT_FALSE(d.check_key(1, S("one")));
  EXPECT_TRUE(d.check_key(1, S("two")));
  EXPECT_EQ(hits(), 0u);
  EXPECT_TRUE(d.check_key(1, S("two")));  // now verified: the second check is a hit
  EXPECT_EQ(hits(), 1u);
}

TEST_F(VerifiedSlotsTest, ARotatedVolumeKeyMisses) {
  ScratchFile img(kSize);
  format_two(img.path());
  // Formatted again with the same UUID and passphrases: another volume key.
  auto r = run({"cryptsetup", "luksUUID", img.path()});
  ASSERT_EQ(r.status, 0);
  std::string id = r.output.substr(0, r.output.find('\n'));
  ASSERT_EQ(run({"cryptsetup", "luksFormat", "-q", "--type", "luks2", "--uuid", id, "--pbkdf",
                 "argon2id", "--pbkdf-force-iterations", "4", "--pbkdf-memory", "32",
                 "--pbkdf-parallel", "1", "--key-file=-", "--key-slot=0", img.path()},
                "zero")
                .status,
            0);
  // Slot 1 holds "one" again (written by the CLI): it opens, but nothing recorded says so.
  ASSERT_EQ(run({"cryptsetup", "luksAddKey", img.path(), "--key-slot=1", "--pbkdf", "argon2id",
                 "--pbkdf-force-iterations", "4", "--pbkdf-memory", "32", "--pbkdf-parallel", "1",
                 "--key-file=-", "--keyfile-size=4"},
                "zeroone")
                .status,
            0);
  {
    Device d = Device::load(img.path());
    d.unlock(0, S("zero"));
    EXPECT_TRUE(d.check_key(1, S("one")));
  }
  EXPECT_EQ(hits(), 0u);
  EXPECT_EQ(misses(), 1u);

  // The tag itself: everything equal but the volume key gives another tag.
  SlotTagInputs in;
  in.slot = 1;
  in.keyslot_json = R"({"type":"luks2"})";
  in.binding_json = "{}";
  const SlotTag a = slot_tag(Secret(std::string(64, 'a')), in, S("one"));
  EXPECT_NE(a, slot_tag(Secret(std::string(64, 'b')), in, S("one")));
  EXPECT_NE(a, slot_tag(Secret(std::string(64, 'a')), in, S("onf")));
  SlotTagInputs other = in;
  other.area_sha256[0] ^= 1;
  EXPECT_NE(a, slot_tag(Secret(std::string(64, 'a')), other, S("one")));
  VerifiedSlots::record("u", 1, a);
  EXPECT_TRUE(VerifiedSlots::contains("u", 1, a));
  EXPECT_FALSE(
      VerifiedSlots::contains("u", 1, slot_tag(Secret(std::string(64, 'b')), in, S("one"))));
  EXPECT_FALSE(VerifiedSlots::contains("u", 2, a));
}

TEST_F(VerifiedSlotsTest, AddsByVolumeKeyOpenWithTheCli) {
  ScratchFile img(kSize);
  format_two(img.path());
  Device d = Device::load(img.path());
  d.unlock(1, S("one"));
  d.add_key(2, S("one"), S("two"), Pbkdf::kFast);  // by volume key: authorised by "one"
  EXPECT_TRUE(cli_opens(img.path(), 2, "two"));
  EXPECT_TRUE(cli_opens(img.path(), 0, "zero"));
  // Another authorising passphrase still goes through libcryptsetup's unlock, and is rejected.
  try {
    d.add_key(3, S("nope"), S("three"), Pbkdf::kFast);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Code::kKeyRejected);
  }
}

TEST_F(VerifiedSlotsTest, KillingTheUnlockedSlotForgetsItsVolumeKey) {
  ScratchFile img(kSize);
  format_two(img.path());
  Device d = Device::load(img.path());
  d.unlock(1, S("one"));
  d.kill_slot(1);
  // luksAddKey authorised by "one" fails as on Talos: that passphrase opens no keyslot any more.
  try {
    d.add_key(2, S("one"), S("two"), Pbkdf::kFast);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Code::kKeyRejected);
    EXPECT_STREQ(e.what(), "encryption key rejected");
  }
  EXPECT_FALSE(d.check_key(1, S("one")));
}
