// syncKeys with the verified-keyslot cache (docs/performance.md#verified-keyslot-cache): a key
// whose keyslot no longer opens is still found invalid, removed and re-added as Talos' updateKey
// does, whatever was verified before; unchanged keys stay as they are.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "cryptnode/engine/encryption_handler.h"
#include "support/scratch.h"
#include "support/tamper.h"

using namespace cryptnode;
using namespace cryptnode::encryption;
using cryptnode::testing::cli_opens;
using cryptnode::testing::flip_byte;
using cryptnode::testing::ScratchFile;

namespace {

constexpr const char* kKeys =
    "apiVersion: v1alpha1\nkind: VolumeConfig\nname: EPHEMERAL\nencryption:\n  provider: luks2\n"
    "  keys:\n    - slot: 0\n      static:\n        passphrase: zero\n"
    "    - slot: 1\n      static:\n        passphrase: one\n"
    "    - slot: 2\n      static:\n        passphrase: two\n";

Handler handler() {
  KeySources s;
  s.uuid = [] { return std::string("8f0e1c2a-3b4d-4e5f-9a6b-7c8d9e0f1a2b"); };
  return Handler(*config::MachineConfig::parse(kKeys).encryption_for("EPHEMERAL"), "EPHEMERAL", s,
                 luks2::Pbkdf::kFast, Env::posix());
}

std::string keyslot_json(const std::string& path, int slot) {
  auto j = nlohmann::json::parse(luks2::Device::load(path).header_json());
  return j["keyslots"][std::to_string(slot)].dump();
}

// Flips a byte of keyslot `slot`'s key material: the keyslot no longer opens with any passphrase.
void break_keyslot(const std::string& path, int slot) {
  auto j = nlohmann::json::parse(luks2::Device::load(path).header_json());
  const uint64_t off =
      std::stoull(j["keyslots"][std::to_string(slot)]["area"]["offset"].get<std::string>()) + 64;
  flip_byte(path, off);
}

}  // namespace

TEST(VerifiedSync, ABrokenKeyslotIsReAddedEvenAfterItWasVerified) {
  ScratchFile img(32 << 20);
  handler().format_and_encrypt(img.path());  // every slot verified as it was written
  EXPECT_TRUE(handler().open(img.path()).failed_syncs.empty());
  const std::string slot1 = keyslot_json(img.path(), 1), slot2 = keyslot_json(img.path(), 2);

  break_keyslot(img.path(), 2);
  ASSERT_FALSE(cli_opens(img.path(), 2, "two"));
  OpenResult r = handler().open(img.path());
  EXPECT_EQ(r.slot, 0);
  EXPECT_TRUE(r.failed_syncs.empty());
  EXPECT_TRUE(cli_opens(img.path(), 2, "two"));   // updateKey: removed and re-added
  EXPECT_NE(keyslot_json(img.path(), 2), slot2);  // a new keyslot (new salt)
  EXPECT_EQ(keyslot_json(img.path(), 1), slot1);  // the valid one left alone
  EXPECT_TRUE(cli_opens(img.path(), 1, "one"));
}
