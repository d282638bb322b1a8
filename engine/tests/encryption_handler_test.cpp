// The encryption handler (docs/talos/encryption-handler.md): FormatAndEncrypt, Open in slot order
// with each key only against its own slot, syncKeys (update/add/remove, non-fatal failures with
// Talos' texts), and the five key sets of Talos' TestApplyConfigRotateEncryptionSecrets.
#include "cryptnode/engine/encryption_handler.h"

#include <gtest/gtest.h>

#include "cryptnode/engine/error.h"
#include "support/scratch.h"

using namespace cryptnode;
using namespace cryptnode::encryption;
using cryptnode::testing::cli_opens;
using cryptnode::testing::ScratchFile;
using cryptnode::testing::ScratchLoop;

namespace {

constexpr const char* kUUID = "8f0e1c2a-3b4d-4e5f-9a6b-7c8d9e0f1a2b";
constexpr uint64_t kSize = 32 << 20;

config::EncryptionSpec spec(const std::string& keys_yaml) {
  auto cfg = config::MachineConfig::parse(
      "apiVersion: v1alpha1\nkind: VolumeConfig\nname: EPHEMERAL\nencryption:\n  provider: luks2\n"
      "  keys:\n" +
      keys_yaml);
  return *cfg.encryption_for("EPHEMERAL");
}

std::string nodeid(int slot, bool lock = false) {
  return "    - slot: " + std::to_string(slot) + "\n      nodeID: {}\n" +
         (lock ? "      lockToState: true\n" : "");
}
std::string static_key(int slot, const std::string& p) {
  return "    - slot: " + std::to_string(slot) + "\n      static:\n        passphrase: " + p + "\n";
}

KeySources sources(const std::string* salt = nullptr) {
  KeySources s;
  s.uuid = [] { return std::string(kUUID); };
  s.salt = [salt]() -> Secret {
    if (!salt) throw Error(Code::kFailedPrecondition, "encryption salt not available", true);
    return Secret(*salt);
  };
  return s;
}

std::map<int, luks2::KeyslotInfo> slots(const std::string& dev) {
  return luks2::Device::load(dev).keyslots();
}

std::string nodeid_passphrase() {
  return std::string(kUUID) + "EPHEMERAL";
}

}  // namespace

TEST(EncryptionHandler, FormatAndOpenOnALoopDevice) {
  ScratchFile img(kSize);
  ScratchLoop loop(img.path());
  Handler h(spec(nodeid(0) + static_key(1, "second")), "EPHEMERAL", sources(), luks2::Pbkdf::kFast,
            Env::posix());
  h.format_and_encrypt(loop.path());
  EXPECT_EQ(slots(loop.path()).size(), 2u);
  EXPECT_TRUE(cli_opens(loop.path(), 0, nodeid_passphrase()));
  EXPECT_TRUE(cli_opens(loop.path(), 1, "second"));
  OpenResult r = h.open(loop.path());
  EXPECT_EQ(r.slot, 0);
  EXPECT_TRUE(r.failed_syncs.empty());
  EXPECT_EQ(r.configured_keys, (std::vector<std::string>{"nodeID", "static"}));
  EXPECT_FALSE(r.locked_to_state);
}

TEST(EncryptionHandler, HandlersAreSortedBySlot) {
  Handler h(spec(static_key(5, "five") + nodeid(2) + static_key(0, "zero")), "EPHEMERAL", sources(),
            luks2::Pbkdf::kFast, Env::posix());
  std::vector<int> order;
  for (const auto& k : h.handlers()) order.push_back(k->slot());
  EXPECT_EQ(order, (std::vector<int>{0, 2, 5}));
}

TEST(EncryptionHandler, EachKeyOnlyAgainstItsOwnSlot) {
  ScratchFile img(kSize);
  Handler h(spec(static_key(0, "s")), "EPHEMERAL", sources(), luks2::Pbkdf::kFast, Env::posix());
  h.format_and_encrypt(img.path());
  // The same secret configured in slot 2 does not unlock slot 0.
  Handler moved(spec(static_key(2, "s")), "EPHEMERAL", sources(), luks2::Pbkdf::kFast,
                Env::posix());
  try {
    moved.open(img.path());
    FAIL();
  } catch (const Error& e) {
    // HandleEncryption adds "error opening encrypted volume: " and the Retryable tag.
    EXPECT_EQ(e.code(), Code::kKeyRejected);
    EXPECT_STREQ(e.what(),
                 "no handlers available to get encryption keys from: 1 error occurred:\n\t* "
                 "encryption key rejected\n\n");
  }
}

TEST(EncryptionHandler, LockToStateKeysNeedTheSalt) {
  ScratchFile img(kSize);
  std::string salt(32, '\x0a');
  Handler h(spec(nodeid(0, true)), "EPHEMERAL", sources(&salt), luks2::Pbkdf::kFast, Env::posix());
  h.format_and_encrypt(img.path());
  EXPECT_TRUE(cli_opens(img.path(), 0, nodeid_passphrase() + salt));
  EXPECT_TRUE(h.open(img.path()).locked_to_state);
  std::string other(32, 'x');  // STATE was wiped: a new salt
  Handler after_wipe(spec(nodeid(0, true)), "EPHEMERAL", sources(&other), luks2::Pbkdf::kFast,
                     Env::posix());
  try {
    after_wipe.open(img.path());
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("encryption key rejected"), std::string::npos);
  }
  Handler no_salt(spec(nodeid(0, true)), "EPHEMERAL", sources(nullptr), luks2::Pbkdf::kFast,
                  Env::posix());
  try {
    no_salt.open(img.path());
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(
                  "failed to get disk encryption key salt: encryption salt not available"),
              std::string::npos);
  }
}

TEST(EncryptionHandler, SyncRemovesManuallyAddedKeyslots) {
  ScratchFile img(kSize);
  Handler h(spec(static_key(0, "a")), "EPHEMERAL", sources(), luks2::Pbkdf::kFast, Env::posix());
  h.format_and_encrypt(img.path());
  // #13343: a keyslot added by hand with the cryptsetup CLI.
  const std::string keyfile = img.dir() + "/manual.key";
  FILE* f = std::fopen(keyfile.c_str(), "w");
  std::fputs("manual", f);
  std::fclose(f);
  auto r =
      cryptnode::testing::run({"cryptsetup", "luksAddKey", "--batch-mode", "--pbkdf", "argon2id",
                               "--pbkdf-force-iterations", "4", "--pbkdf-memory", "32",
                               "--key-slot", "7", "--key-file", "-", img.path(), keyfile},
                              "a");
  std::remove(keyfile.c_str());
  ASSERT_EQ(r.status, 0) << r.output;
  ASSERT_EQ(slots(img.path()).size(), 2u);
  EXPECT_TRUE(h.open(img.path()).failed_syncs.empty());
  EXPECT_EQ(slots(img.path()).count(7), 0u);  // #13343: by design
}

TEST(EncryptionHandler, FailedSyncsAreNonFatalWithTalosTexts) {
  ScratchFile img(kSize);
  Handler h(spec(static_key(0, "a")), "EPHEMERAL", sources(), luks2::Pbkdf::kFast, Env::posix());
  h.format_and_encrypt(img.path());
  // Slot 1: a KMS key whose server is down; slot 2: a TPM key on a node without TPM.
  KeySources s = sources();
  s.kms = [](const config::EncryptionKey& k) -> std::unique_ptr<keys::KeyHandler> {
    struct Down : keys::KeyHandler {
      int slot_;
      explicit Down(int s) : slot_(s) {}
      int slot() const override { return slot_; }
      config::KeyType type() const override { return config::KeyType::kKMS; }
      std::string go_type() const override { return "*keys.KMSKeyHandler"; }
      keys::NewKey new_key() override {
        throw Error(Code::kUnavailable, "failed to seal KMS passphrase, slot " +
                                            std::to_string(slot_) + ": connection refused");
      }
      Secret get_key(const std::optional<std::string>&) override {
        throw Error(Code::kUnavailable, "unreachable");
      }
    };
    return std::make_unique<Down>(k.slot);
  };
  Handler with_kms(spec(static_key(0, "a") +
                        "    - slot: 1\n      kms:\n        endpoint: grpc://127.0.0.1:1\n"),
                   "EPHEMERAL", s, luks2::Pbkdf::kFast, Env::posix());
  OpenResult r = with_kms.open(img.path());
  EXPECT_EQ(r.slot, 0);
  ASSERT_EQ(r.failed_syncs.size(), 1u);
  // Talos' addKey returns NewKey's error unwrapped: only a failed luksAddKey is wrapped.
  EXPECT_EQ(r.failed_syncs[0],
            "error adding key slot 1 *keys.KMSKeyHandler: failed to seal KMS passphrase, slot 1: "
            "connection refused");
  EXPECT_EQ(r.configured_keys, (std::vector<std::string>{"kms", "static"}));
}

TEST(EncryptionHandler, ChangedValueInASlotIsReplaced) {
  ScratchFile img(kSize);
  Handler h(spec(static_key(0, "keep") + static_key(1, "old")), "EPHEMERAL", sources(),
            luks2::Pbkdf::kFast, Env::posix());
  h.format_and_encrypt(img.path());
  Handler changed(spec(static_key(0, "keep") + static_key(1, "new")), "EPHEMERAL", sources(),
                  luks2::Pbkdf::kFast, Env::posix());
  EXPECT_TRUE(changed.open(img.path()).failed_syncs.empty());
  EXPECT_TRUE(cli_opens(img.path(), 1, "new"));
  EXPECT_FALSE(cli_opens(img.path(), 1, "old"));
}

TEST(EncryptionHandler, UnknownTokenTypeIsAnErrorForThatKey) {
  ScratchFile img(kSize);
  Handler h(spec(static_key(0, "a")), "EPHEMERAL", sources(), luks2::Pbkdf::kFast, Env::posix());
  h.format_and_encrypt(img.path());
  luks2::Device::load(img.path()).set_token(0, R"({"type":"unknown-kind","keyslots":[]})");
  try {
    h.open(img.path());
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("unknown token type unknown-kind"), std::string::npos);
  }
  EXPECT_TRUE(cli_opens(img.path(), 0, "a"));  // the keyslot itself is untouched
}

TEST(EncryptionHandler, FormatAbortsWhenAnAddFails) {
  ScratchFile img(kSize);
  Handler h(spec(static_key(0, "a") + "    - slot: 1\n      tpm: {}\n"), "EPHEMERAL", sources(),
            luks2::Pbkdf::kFast, Env::posix());
  try {
    h.format_and_encrypt(img.path());
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "TPM is not available on this node");
  }
  // Slot 0 was written; the next pass opens with it and records the TPM add as a failed sync.
  EXPECT_TRUE(cli_opens(img.path(), 0, "a"));
  OpenResult r = h.open(img.path());
  ASSERT_EQ(r.failed_syncs.size(), 1u);
  EXPECT_EQ(r.failed_syncs[0],
            "error adding key slot 1 *keys.TPMKeyHandler: TPM is not available on this node");
}

TEST(EncryptionHandler, BadCipherAndPerfOptions) {
  auto s = spec(static_key(0, "a"));
  s.cipher = "aes-cbc-essiv:sha256";
  try {
    Handler(s, "EPHEMERAL", sources(), luks2::Pbkdf::kFast, Env::posix());
    FAIL();
  } catch (const Error& e) {
    // The controller adds "failed to create encryption handler: ".
    EXPECT_STREQ(e.what(), "failed to parse cipher kind: unknown cipher kind aes-cbc-essiv:sha256");
  }
  s = spec(static_key(0, "a"));
  s.perf_options = {"no_read_workqueue", "fast_please"};
  try {
    Handler(s, "EPHEMERAL", sources(), luks2::Pbkdf::kFast, Env::posix());
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "invalid luks performance options: invalid perf option fast_please");
  }
}

// api.ApplyConfigSuite.TestApplyConfigRotateEncryptionSecrets at the handler level: each key set
// opens the volume and syncs with no failed syncs.
TEST(EncryptionHandler, RotateEncryptionSecretsKeySets) {
  ScratchFile img(kSize);
  ScratchLoop loop(img.path());
  const std::string secret = "AlO93jayutOpsDxDS=-";
  Handler(spec(nodeid(0)), "EPHEMERAL", sources(), luks2::Pbkdf::kFast, Env::posix())
      .format_and_encrypt(loop.path());
  struct Step {
    std::string keys;
    std::vector<int> slots;
    int used;
  } steps[] = {
      {nodeid(0) + static_key(1, secret), {0, 1}, 0},  // (a) add
      {static_key(1, secret), {1}, 1},                 // (b) remove the original
      {nodeid(0) + static_key(1, secret), {0, 1}, 1},  // (c) re-add: opened by slot 1
      {nodeid(0) + nodeid(1), {0, 1}, 0},              // (d) kind change in the same slot
      {nodeid(1), {1}, 1},                             // (e) nodeID in the new slot only
  };
  for (size_t i = 0; i < std::size(steps); ++i) {
    Handler h(spec(steps[i].keys), "EPHEMERAL", sources(), luks2::Pbkdf::kFast, Env::posix());
    OpenResult r = h.open(loop.path());
    EXPECT_TRUE(r.failed_syncs.empty()) << "step " << i;
    EXPECT_EQ(r.slot, steps[i].used) << "step " << i;
    std::vector<int> got;
    for (const auto& [n, info] : slots(loop.path())) got.push_back(n);
    EXPECT_EQ(got, steps[i].slots) << "step " << i;
  }
  EXPECT_TRUE(cli_opens(loop.path(), 1, nodeid_passphrase()));
}

namespace {
struct Crash {};  // not an Error: escapes every handler like a power cut
struct CrashEnv : EnvWrapper {
  CrashEnv() : EnvWrapper(Env::posix()) {}
  std::string at;
  void on_fault_point(std::string_view name) override {
    if (name == at) throw Crash{};
  }
};
}  // namespace

TEST(EncryptionHandler, CutBetweenKillAndAddRecoversAtTheNextOpen) {
  ScratchFile img(kSize);
  Handler(spec(static_key(0, "keep") + static_key(1, "old")), "EPHEMERAL", sources(),
          luks2::Pbkdf::kFast, Env::posix())
      .format_and_encrypt(img.path());
  CrashEnv env;
  env.at = "encryption.between_kill_and_add";
  const auto changed = spec(static_key(0, "keep") + static_key(1, "new"));
  EXPECT_THROW(Handler(changed, "EPHEMERAL", sources(), luks2::Pbkdf::kFast, env).open(img.path()),
               Crash);
  EXPECT_EQ(slots(img.path()).count(1), 0u);  // killed, not yet re-added
  EXPECT_TRUE(cli_opens(img.path(), 0, "keep"));
  OpenResult r =
      Handler(changed, "EPHEMERAL", sources(), luks2::Pbkdf::kFast, Env::posix()).open(img.path());
  EXPECT_TRUE(r.failed_syncs.empty());
  EXPECT_TRUE(cli_opens(img.path(), 1, "new"));
}

TEST(EncryptionHandler, CutAfterFormatLeavesTheFirstKeyslotThatOpensAtTheNextBoot) {
  ScratchFile img(kSize);
  CrashEnv env;
  env.at = "luks2.after_format";
  const auto s = spec(static_key(0, "a") + static_key(1, "b"));
  EXPECT_THROW(
      Handler(s, "EPHEMERAL", sources(), luks2::Pbkdf::kFast, env).format_and_encrypt(img.path()),
      Crash);
  // Talos' luksFormat is one command: the header and the first keyslot, nothing else. Talos'
  // probe then says "luks": the next boot opens with slot 0 and syncKeys adds slot 1.
  EXPECT_EQ(slots(img.path()).size(), 1u);
  OpenResult r =
      Handler(s, "EPHEMERAL", sources(), luks2::Pbkdf::kFast, Env::posix()).open(img.path());
  EXPECT_EQ(r.slot, 0);
  EXPECT_TRUE(r.failed_syncs.empty());
  EXPECT_TRUE(cli_opens(img.path(), 1, "b"));
}

namespace {

// A KMS key handler whose transport is fine but never consulted for a foreign token.
KeySources sources_with_kms() {
  KeySources s = sources();
  s.kms = [](const config::EncryptionKey& k) -> std::unique_ptr<keys::KeyHandler> {
    struct Kms : keys::KeyHandler {
      int slot_;
      explicit Kms(int slot) : slot_(slot) {}
      int slot() const override { return slot_; }
      config::KeyType type() const override { return config::KeyType::kKMS; }
      std::string go_type() const override { return "*keys.KMSKeyHandler"; }
      keys::NewKey new_key() override {
        return {
            Secret(std::string_view("kms-key")),
            std::string(R"({"UserData":{"sealedData":"AAAA"},"type":"sideroKMS","keyslots":[]})")};
      }
      Secret get_key(const std::optional<std::string>& token) override {
        if (!token) throw Error(Code::kTokenInvalid, "invalid token");
        return Secret(std::string_view("kms-key"));
      }
    };
    return std::make_unique<Kms>(k.slot);
  };
  return s;
}

const std::string kKmsSlot1 = "    - slot: 1\n      kms:\n        endpoint: grpc://127.0.0.1:1\n";

}  // namespace

TEST(EncryptionHandler, UnknownTokenTypeInAConfiguredSlotIsAFailedSyncAndTheSlotStays) {
  ScratchFile img(kSize);
  const auto s = spec(static_key(0, "a") + kKmsSlot1);
  Handler(s, "EPHEMERAL", sources_with_kms(), luks2::Pbkdf::kFast, Env::posix())
      .format_and_encrypt(img.path());
  luks2::Device::load(img.path()).set_token(1, R"({"type":"vendor-x","keyslots":[]})");
  OpenResult r = Handler(s, "EPHEMERAL", sources_with_kms(), luks2::Pbkdf::kFast, Env::posix())
                     .open(img.path());
  ASSERT_EQ(r.failed_syncs.size(), 1u);
  EXPECT_EQ(r.failed_syncs[0],
            "error updating key slot 1 *keys.KMSKeyHandler: unknown token type vendor-x");
  EXPECT_TRUE(cli_opens(img.path(), 1, "kms-key"));  // not replaced
  EXPECT_NE(luks2::Device::load(img.path()).token(1)->find("vendor-x"), std::string::npos);
}

TEST(EncryptionHandler, MalformedKmsTokenIsAFailedSyncNotAReplacement) {
  ScratchFile img(kSize);
  const auto s = spec(static_key(0, "a") + kKmsSlot1);
  Handler(s, "EPHEMERAL", sources_with_kms(), luks2::Pbkdf::kFast, Env::posix())
      .format_and_encrypt(img.path());
  luks2::Device::load(img.path())
      .set_token(1, R"({"UserData":{"sealedData":"%%%"},"type":"sideroKMS","keyslots":[]})");
  OpenResult r = Handler(s, "EPHEMERAL", sources_with_kms(), luks2::Pbkdf::kFast, Env::posix())
                     .open(img.path());
  ASSERT_EQ(r.failed_syncs.size(), 1u);
  EXPECT_EQ(r.failed_syncs[0].rfind("error updating key slot 1 *keys.KMSKeyHandler: ", 0), 0u)
      << r.failed_syncs[0];
  EXPECT_TRUE(cli_opens(img.path(), 1, "kms-key"));
}

TEST(EncryptionHandler, UpdateWhoseAddFailsCarriesThePrefixTwice) {
  ScratchFile img(kSize);
  Handler(spec(static_key(0, "keep") + static_key(1, "old")), "EPHEMERAL", sources(),
          luks2::Pbkdf::kFast, Env::posix())
      .format_and_encrypt(img.path());
  // luksAddKey fails when the authorising key no longer opens any slot: simulate it by killing
  // slot 0 after the open (the used key) through a crash-free Env that removes it at the point
  // between the kill of slot 1 and its re-add.
  struct KillUsed : EnvWrapper {
    std::string dev;
    KillUsed() : EnvWrapper(Env::posix()) {}
    void on_fault_point(std::string_view name) override {
      if (name == "encryption.between_kill_and_add") luks2::Device::load(dev).kill_slot(0);
    }
  } env;
  env.dev = img.path();
  OpenResult r = Handler(spec(static_key(0, "keep") + static_key(1, "new")), "EPHEMERAL", sources(),
                         luks2::Pbkdf::kFast, env)
                     .open(img.path());
  ASSERT_EQ(r.failed_syncs.size(), 1u);
  EXPECT_EQ(r.failed_syncs[0].rfind("error updating key slot 1 *keys.StaticKeyHandler: failed to "
                                    "add new key during key update failed to add new key during "
                                    "key update ",
                                    0),
            0u)
      << r.failed_syncs[0];
}

TEST(EncryptionHandler, HeaderValidationFromTalos1127RejectsPbkdf2Keyslots) {
  ScratchFile img(kSize);
  const auto s = spec(static_key(0, "a"));
  Handler(s, "EPHEMERAL", sources(), luks2::Pbkdf::kFast, Env::posix())
      .format_and_encrypt(img.path());
  // Rewrite the volume with a pbkdf2 keyslot 0 (same passphrase), as an old tool would.
  auto add = cryptnode::testing::run(
      {"cryptsetup", "luksFormat", "--type", "luks2", "--pbkdf", "pbkdf2",
       "--pbkdf-force-iterations", "1000", "--key-slot", "0", "-q", "--key-file", "-", img.path()},
      "a");
  ASSERT_EQ(add.status, 0) << add.output;
  const auto v1126 = versions::Version::parse("1.12.6");
  EXPECT_EQ(Handler(s, "EPHEMERAL", sources(), luks2::Pbkdf::kFast, Env::posix(), v1126)
                .open(img.path())
                .slot,
            0);
  try {
    Handler(s, "EPHEMERAL", sources(), luks2::Pbkdf::kFast, Env::posix(),
            versions::Version::parse("1.12.7"))
        .open(img.path());
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(
                  "LUKS2 header validation error: keyslot 0 has unexpected KDF type \"pbkdf2\""),
              std::string::npos)
        << e.what();
  }
}

TEST(EncryptionHandler, Argon2iKeyslotsRejectedOnlyIn1127To1128) {
  ScratchFile img(kSize);
  const auto s = spec(static_key(0, "a"));
  auto fmt = cryptnode::testing::run({"cryptsetup", "luksFormat", "--type", "luks2", "--pbkdf",
                                      "argon2i", "--pbkdf-force-iterations", "4", "--pbkdf-memory",
                                      "32", "--key-slot", "0", "-q", "--key-file", "-", img.path()},
                                     "a");
  ASSERT_EQ(fmt.status, 0) << fmt.output;
  auto open_on = [&](const char* v) {
    return Handler(s, "EPHEMERAL", sources(), luks2::Pbkdf::kFast, Env::posix(),
                   versions::Version::parse(v))
        .open(img.path())
        .slot;
  };
  EXPECT_EQ(open_on("1.12.6"), 0);
  EXPECT_THROW(open_on("1.12.7"), Error);
  EXPECT_THROW(open_on("1.12.8"), Error);
  EXPECT_EQ(open_on("1.12.9"), 0);
}

TEST(EncryptionHandler, BeforeTalos19AFailedSyncFailsTheOpen) {
  ScratchFile img(kSize);
  Handler(spec(static_key(0, "a")), "EPHEMERAL", sources(), luks2::Pbkdf::kFast, Env::posix())
      .format_and_encrypt(img.path());
  const auto with_tpm = spec(static_key(0, "a") + "    - slot: 1\n      tpm: {}\n");
  EXPECT_EQ(Handler(with_tpm, "EPHEMERAL", sources(), luks2::Pbkdf::kFast, Env::posix(),
                    versions::Version::parse("1.9.0"))
                .open(img.path())
                .failed_syncs.size(),
            1u);
  try {
    Handler(with_tpm, "EPHEMERAL", sources(), luks2::Pbkdf::kFast, Env::posix(),
            versions::Version::parse("1.8.4"))
        .open(img.path());
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(),
                 "error adding key slot 1 *keys.TPMKeyHandler: TPM is not available on this node");
  }
}

TEST(EncryptionHandler, RejectedKeyFallsBackOn180AndFrom190Only) {
  // open_tries_every_keyslot: 1.8.0 ran luksOpen inside tryHandlers, 1.8.1 moved it out (the
  // first key a handler returns is used), 1.9.0 tries every key again (talos#8100).
  const auto on_disk = spec(static_key(0, "old") + static_key(1, "fallback"));
  const auto configured = spec(static_key(0, "new") + static_key(1, "fallback"));
  auto open_on = [&](const char* v) {
    ScratchFile img(kSize);
    Handler(on_disk, "EPHEMERAL", sources(), luks2::Pbkdf::kFast, Env::posix())
        .format_and_encrypt(img.path());
    return Handler(configured, "EPHEMERAL", sources(), luks2::Pbkdf::kFast, Env::posix(),
                   versions::Version::parse(v))
        .open(img.path())
        .slot;
  };
  EXPECT_EQ(open_on("1.8.0"), 1);
  for (const char* v : {"1.8.1", "1.8.4"}) {
    try {
      open_on(v);
      ADD_FAILURE() << v;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), Code::kKeyRejected) << v;
      EXPECT_NE(std::string(e.what()).find("encryption key rejected"), std::string::npos)
          << v << ": " << e.what();
    }
  }
  EXPECT_EQ(open_on("1.9.0"), 1);
}

// keyHandlerTimeout (talos#13056): a slow TPM against the virtual clock. The fake TPM handler
// stands for the PCR-11-locked seal/unseal: it answers `latency_ms` of the clock later.
namespace {

class ClockEnv final : public EnvWrapper {
 public:
  ClockEnv() : EnvWrapper(Env::posix()) {}
  Clock& clock() override { return clock_; }
  VirtualClock clock_;
};

class SlowTpm final : public keys::KeyHandler {
 public:
  SlowTpm(int slot, VirtualClock& clock, const int64_t& latency_ms)
      : slot_(slot), clock_(clock), latency_ms_(latency_ms) {}
  int slot() const override { return slot_; }
  config::KeyType type() const override { return config::KeyType::kTPM; }
  std::string go_type() const override { return "*keys.TPMKeyHandler"; }
  keys::NewKey new_key() override {
    clock_.advance_ms(latency_ms_);
    return {Secret(std::string("sealed-by-the-tpm")), std::nullopt};
  }
  Secret get_key(const std::optional<std::string>&) override {
    clock_.advance_ms(latency_ms_);
    return Secret(std::string("sealed-by-the-tpm"));
  }

 private:
  int slot_;
  VirtualClock& clock_;
  const int64_t& latency_ms_;
};

struct SlowTpmCase {
  ClockEnv env;
  int64_t latency_ms = 0;
  KeySources src = sources();
  SlowTpmCase() {
    src.tpm = [this](const config::EncryptionKey& k) {
      return std::make_unique<SlowTpm>(k.slot, env.clock_, latency_ms);
    };
  }
  Handler handler(const std::string& keys, const char* version) {
    return Handler(spec(keys), "EPHEMERAL", src, luks2::Pbkdf::kFast, env,
                   versions::Version::parse(version));
  }
};

std::string tpm_key(int slot) {
  return "    - slot: " + std::to_string(slot) + "\n      tpm: {}\n";
}

constexpr const char* kUnlockPcr11 =
    "failed to unlock PCR 11: remove finalizer rate limited: context deadline exceeded";

std::string no_handlers(const std::string& err) {
  return "no handlers available to get encryption keys from: 1 error occurred:\n\t* " + err +
         "\n\n";
}

}  // namespace

TEST(EncryptionHandler, SlowTpmUnsealBefore1127FailsOnThePcrUnlock) {
  ScratchFile img(kSize);
  SlowTpmCase c;
  c.handler(tpm_key(0), "1.12.6").format_and_encrypt(img.path());
  c.latency_ms = 9999;  // within 10 s: fine
  EXPECT_EQ(c.handler(tpm_key(0), "1.12.6").open(img.path()).slot, 0);
  c.latency_ms = 15000;
  try {
    c.handler(tpm_key(0), "1.12.6").open(img.path());
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Code::kKeyRejected);
    EXPECT_EQ(std::string(e.what()), no_handlers(kUnlockPcr11));
  }
  // The next key opens it (tryHandlers goes on; each key has its own deadline).
  ScratchFile two(kSize);
  c.latency_ms = 0;
  c.handler(tpm_key(0) + static_key(1, "s"), "1.12.6").format_and_encrypt(two.path());
  c.latency_ms = 15000;
  OpenResult r = c.handler(tpm_key(0) + static_key(1, "s"), "1.12.6").open(two.path());
  EXPECT_EQ(r.slot, 1);
  // syncKeys runs without the per-key deadline: the TPM slot is valid and left alone.
  EXPECT_TRUE(r.failed_syncs.empty());
}

TEST(EncryptionHandler, SlowTpmUnsealFrom1127Has20Seconds) {
  ScratchFile img(kSize);
  SlowTpmCase c;
  c.handler(tpm_key(0), "1.12.7").format_and_encrypt(img.path());
  c.latency_ms = 15000;
  EXPECT_EQ(c.handler(tpm_key(0), "1.12.7").open(img.path()).slot, 0);
  EXPECT_EQ(c.handler(tpm_key(0), "1.14.0").open(img.path()).slot, 0);
  // Past 20 s the finalizer is still removed (detached), but luksOpen runs under the expired
  // context.
  c.latency_ms = 20000;
  try {
    c.handler(tpm_key(0), "1.12.7").open(img.path());
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()),
              no_handlers("failed to call cryptsetup: context deadline exceeded"));
  }
}

TEST(EncryptionHandler, SlowTpmSealBefore1127FailsTheFormat) {
  ScratchFile img(kSize);
  SlowTpmCase c;
  c.latency_ms = 12000;
  try {
    c.handler(tpm_key(0), "1.12.6").format_and_encrypt(img.path());
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), no_handlers(kUnlockPcr11));
  }
  // From 1.12.7 nothing after the seal runs under the key's context.
  c.latency_ms = 25000;
  c.handler(tpm_key(0), "1.12.7").format_and_encrypt(img.path());
  c.latency_ms = 0;
  EXPECT_EQ(c.handler(tpm_key(0), "1.12.7").open(img.path()).slot, 0);
}
