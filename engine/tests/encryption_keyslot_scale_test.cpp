// Keyslot scale: a volume with 32 configured keys of mixed kinds (LUKS2's 32 keyslots, every one
// used) formats, opens and syncs; a sync that rotates some of them leaves every key opening its
// own slot. Costs are in engine/bench/encryption_sync_bench.cpp.
#include <gtest/gtest.h>

#include "cryptnode/engine/encryption_handler.h"
#include "cryptnode/engine/error.h"
#include "support/scratch.h"

using namespace cryptnode;
using namespace cryptnode::encryption;
using cryptnode::testing::cli_opens;
using cryptnode::testing::ScratchFile;

namespace {

constexpr const char* kUUID = "8f0e1c2a-3b4d-4e5f-9a6b-7c8d9e0f1a2b";
constexpr const char* kSalt = "0123456789abcdef0123456789abcdef";

std::string kms_passphrase(int slot) {
  return "kms-passphrase-" + std::to_string(slot);
}

KeySources sources() {
  KeySources s;
  s.uuid = [] { return std::string(kUUID); };
  s.salt = [] { return Secret(std::string(kSalt)); };
  s.kms = [](const config::EncryptionKey& k) -> std::unique_ptr<keys::KeyHandler> {
    struct Kms : keys::KeyHandler {
      int slot_;
      explicit Kms(int slot) : slot_(slot) {}
      int slot() const override { return slot_; }
      config::KeyType type() const override { return config::KeyType::kKMS; }
      std::string go_type() const override { return "*keys.KMSKeyHandler"; }
      keys::NewKey new_key() override {
        return {
            Secret(kms_passphrase(slot_)),
            std::string(R"({"UserData":{"sealedData":"AAAA"},"type":"sideroKMS","keyslots":[]})")};
      }
      Secret get_key(const std::optional<std::string>& token) override {
        if (!token) throw Error(Code::kTokenInvalid, "invalid token");
        return Secret(kms_passphrase(slot_));
      }
    };
    return std::make_unique<Kms>(k.slot);
  };
  return s;
}

// 32 keys: nodeID in slot 0, then KMS, static, lockToSTATE static in turn. `rotated`: the last
// `rotated` static-kind keys get a new passphrase.
struct Keys {
  std::string yaml;
  std::map<int, std::string> passphrases;
};
Keys keys32(int rotated) {
  Keys k;
  k.yaml =
      "apiVersion: v1alpha1\nkind: VolumeConfig\nname: EPHEMERAL\nencryption:\n"
      "  provider: luks2\n  keys:\n";
  for (int s = 0; s < 32; ++s) {
    const bool rotate = s >= 32 - rotated;
    const std::string p = (rotate ? "rotated-" : "key-") + std::to_string(s);
    k.yaml += "    - slot: " + std::to_string(s) + "\n";
    if (s == 0) {
      k.yaml += "      nodeID: {}\n";
      k.passphrases[s] = std::string(kUUID) + "EPHEMERAL";
    } else if (s % 3 == 1 && !rotate) {
      k.yaml += "      kms:\n        endpoint: grpc://127.0.0.1:1\n";
      k.passphrases[s] = kms_passphrase(s);
    } else if (s % 3 == 0 && !rotate) {
      k.yaml += "      static:\n        passphrase: " + p + "\n      lockToState: true\n";
      k.passphrases[s] = p + kSalt;
    } else {
      k.yaml += "      static:\n        passphrase: " + p + "\n";
      k.passphrases[s] = p;
    }
  }
  return k;
}

Handler handler(const Keys& k) {
  return Handler(*config::MachineConfig::parse(k.yaml).encryption_for("EPHEMERAL"), "EPHEMERAL",
                 sources(), luks2::Pbkdf::kFast, Env::posix());
}

}  // namespace

TEST(KeyslotScale, ThirtyTwoMixedKeysFormatOpenAndSync) {
  ScratchFile img(64 << 20);
  const Keys before = keys32(0);
  handler(before).format_and_encrypt(img.path());
  EXPECT_EQ(luks2::Device::load(img.path()).keyslots().size(), 32u);
  EXPECT_EQ(luks2::Device::load(img.path()).tokens().size(), 11u);  // the KMS keys' tokens

  OpenResult unchanged = handler(before).open(img.path());
  EXPECT_EQ(unchanged.slot, 0);
  EXPECT_TRUE(unchanged.failed_syncs.empty());
  EXPECT_EQ(unchanged.configured_keys, (std::vector<std::string>{"kms", "nodeID", "static"}));

  const Keys after = keys32(5);  // five rotated, among them KMS and lockToSTATE ones
  OpenResult synced = handler(after).open(img.path());
  EXPECT_TRUE(synced.failed_syncs.empty());
  EXPECT_EQ(luks2::Device::load(img.path()).keyslots().size(), 32u);
  for (const auto& [slot, passphrase] : after.passphrases)
    EXPECT_TRUE(cli_opens(img.path(), slot, passphrase)) << "slot " << slot;
  EXPECT_FALSE(cli_opens(img.path(), 31, before.passphrases.at(31)));
  // The rotated KMS slot lost its token with its keyslot (Talos' RemoveKey).
  EXPECT_FALSE(luks2::Device::load(img.path()).token(28).has_value());
}
