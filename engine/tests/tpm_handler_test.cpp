// The tpm key handler (Talos' TPMKeyHandler, internal/pkg/encryption/keys/tpm2.go) against a real
// swtpm: enrolment preconditions, the PCR 11 lock, the PCR 11 window, tokens.
#include "cryptnode/engine/tpm/tpm_handler.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "cryptnode/engine/error.h"
#include "cryptnode/engine/tpm/token.h"
#include "tpm_test_swtpm.h"

using namespace cryptnode;
using namespace cryptnode::tpm;
using cryptnode::testing::error_of;
using cryptnode::testing::measured_boot;
using cryptnode::testing::TestSwtpm;
using cryptnode::testing::vendor_key;

namespace {

// An Env without TPM device nodes.
class NoDevices final : public EnvWrapper {
 public:
  NoDevices() : EnvWrapper(Env::posix()) {}
  bool exists(const std::string& path) override {
    return path.rfind("/dev/tpm", 0) == 0 ? false : EnvWrapper::exists(path);
  }
};

class HandlerTest : public ::testing::Test {
 protected:
  TestSwtpm swtpm;
  UkiExtraFiles uki;
  bool pcr_status = true;  // the PCRStatus "11" resource exists (enter-machined .. start-the-world)
  int locks = 0, unlocks = 0;
  bool secure_boot = true, setup_mode = false;

  void SetUp() override {
    auto t = swtpm.connect();
    uki = measured_boot(*t, vendor_key());
  }

  TpmContext context() {
    TpmContext c;
    c.connect = [this] { return swtpm.connect(); };
    c.with_pcr11_lock = [this](const std::function<void()>& fn) {
      if (!pcr_status)
        throw Error(Code::kFailedPrecondition,
                    "failed to lock PCR 11, as it is in the wrong state, a reboot might be "
                    "required");
      ++locks;
      try {
        fn();
      } catch (...) {
        ++unlocks;
        throw;
      }
      ++unlocks;
    };
    c.secure_boot = [this] { return secure_boot; };
    c.setup_mode = [this] { return setup_mode; };
    c.uki_files = [this] { return uki; };
    c.random = &Env::posix().random();
    return c;
  }

  static config::KeyTPM key(std::optional<std::vector<int>> pcrs = std::nullopt,
                            bool options = false, bool check_sb = false) {
    config::KeyTPM k;
    if (options || pcrs) k.options = config::KeyTPM::Options{pcrs};
    if (check_sb) k.check_secureboot_status_on_enroll = true;
    return k;
  }
};

TEST_F(HandlerTest, NewKeyThenGetKey) {
  auto h = make_tpm_handler(2, key(), context());
  EXPECT_EQ(h->slot(), 2);
  EXPECT_EQ(h->go_type(), "*keys.TPMKeyHandler");
  EXPECT_EQ(h->type(), config::KeyType::kTPM);
  keys::NewKey k = h->new_key();
  EXPECT_EQ(k.passphrase.size(), 44u);  // base64 of 32 bytes
  ASSERT_TRUE(k.token_json.has_value());
  auto j = nlohmann::json::parse(*k.token_json);
  EXPECT_EQ(j["type"], "talos-tpm2");
  EXPECT_EQ(j["keyslots"], nlohmann::json::array());
  EXPECT_EQ(j["UserData"]["keyslots"], nlohmann::json({2}));
  EXPECT_EQ(j["UserData"]["pcrs"], nlohmann::json({7}));  // no options: PCR 7
  EXPECT_EQ(j["UserData"]["pubkey_pcrs"], nlohmann::json({11}));
  EXPECT_TRUE(h->get_key(k.token_json) == k.passphrase);
  EXPECT_EQ(locks, 2);
  EXPECT_EQ(unlocks, 2);
}

TEST_F(HandlerTest, EmptyOptionsSealWithoutLiteralPCRs) {
  auto h = make_tpm_handler(0, key(std::nullopt, true), context());
  keys::NewKey k = h->new_key();
  EXPECT_EQ(nlohmann::json::parse(*k.token_json)["UserData"].contains("pcrs"), false);
  auto t = swtpm.connect();
  t->pcr_extend_data(7, "SecureBoot toggled");  // does not matter without literal PCRs
  EXPECT_TRUE(h->get_key(k.token_json) == k.passphrase);
}

TEST_F(HandlerTest, SecureBootChecksOnEnrolOnly) {
  auto plain = make_tpm_handler(0, key(), context());
  auto checked = make_tpm_handler(0, key(std::nullopt, false, true), context());
  keys::NewKey k = plain->new_key();

  secure_boot = false;
  EXPECT_EQ(error_of([&] { checked->new_key(); }),
            "failed to enroll the TPM2 key, as SecureBoot is disabled (and "
            "checkSecurebootOnEnroll is enabled)");
  EXPECT_NO_THROW(plain->new_key());                            // the flag is off: no check
  EXPECT_TRUE(checked->get_key(k.token_json) == k.passphrase);  // never checked on unlock

  secure_boot = true;
  setup_mode = true;
  EXPECT_EQ(error_of([&] { checked->new_key(); }),
            "failed to enroll the TPM2 key, as the system is in SecureBoot setup mode (and "
            "checkSecurebootOnEnroll is enabled)");
  EXPECT_EQ(locks, unlocks);
}

TEST_F(HandlerTest, PCR11LockGone) {
  auto h = make_tpm_handler(0, key(), context());
  keys::NewKey k = h->new_key();
  pcr_status = false;  // torn down before start-the-world
  const std::string lock_text =
      "failed to lock PCR 11, as it is in the wrong state, a reboot might be required";
  EXPECT_EQ(error_of([&] { h->new_key(); }), lock_text);
  EXPECT_EQ(error_of([&] { h->get_key(k.token_json); }), lock_text);
}

TEST_F(HandlerTest, PCR11WindowClosesAtStartTheWorld) {
  auto h = make_tpm_handler(0, key(), context());
  keys::NewKey k = h->new_key();
  swtpm.connect()->pcr_extend_data(11, "start-the-world");
  EXPECT_EQ(error_of([&] { h->get_key(k.token_json); }),
            "no signatures matching PCR SHA256 digest found in signature JSON");
  EXPECT_EQ(locks, unlocks);  // released on failure too
}

TEST_F(HandlerTest, MissingOrForeignTokenIsInvalidToken) {
  auto h = make_tpm_handler(0, key(), context());
  try {
    h->get_key(std::nullopt);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Code::kTokenInvalid);
    EXPECT_STREQ(e.what(), "invalid token");
  }
  EXPECT_EQ(error_of([&] {
              h->get_key(R"({"UserData":{"sealedData":"AQ=="},"type":"sideroKMS","keyslots":[]})");
            }),
            "invalid token");
  EXPECT_EQ(locks, 0);  // the token is read before the TPM is locked
}

TEST_F(HandlerTest, DamagedTokenIsItsOwnError) {
  auto h = make_tpm_handler(0, key(), context());
  keys::NewKey k = h->new_key();
  std::string bad = *k.token_json;
  bad.replace(bad.find("\"key_name\":\"") + 12, 1, "*");
  try {
    h->get_key(bad);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Code::kCorrupt);
    EXPECT_EQ(std::string(e.what()).rfind("illegal base64 data at input byte 0", 0), 0u);
  }
}

TEST_F(HandlerTest, NoTPMOnTheMachine) {
  NoDevices env;
  TpmContext c = context();
  c.connect = [&] { return Tpm::open_device(env); };
  auto h = make_tpm_handler(0, key(), c);
  try {
    h->new_key();
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Code::kUnavailable);
    EXPECT_STREQ(e.what(), "open /dev/tpm0: no such file or directory");
  }
}

TEST_F(HandlerTest, NonUkiBootCannotEnrol) {
  TestSwtpm fresh;  // nothing measured: PCR 11 is zero, no /.extra files
  TpmContext c = context();
  c.connect = [&] { return fresh.connect(); };
  c.uki_files = [] { return UkiExtraFiles{}; };
  auto h = make_tpm_handler(0, key(), c);
  EXPECT_EQ(error_of([&] { h->new_key(); }), "PCR bank 11 is populated with all zeroes");
}

TEST_F(HandlerTest, MissingLockFunction) {
  TpmContext c = context();
  c.with_pcr11_lock = nullptr;
  EXPECT_EQ(error_of([&] { make_tpm_handler(4, key(), c); }),
            "failed to create TPM key handler at slot 4: no TPM lock function");
}

}  // namespace
