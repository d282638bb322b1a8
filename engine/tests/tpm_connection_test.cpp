// The ESYS connection: connecting (bounded retries), PCR read/extend, validatePCRBanks, leftovers
// of a crashed process, and a swtpm that dies mid-use.
#include <gtest/gtest.h>
#include <tss2/tss2_esys.h>

#include "cryptnode/engine/error.h"
#include "cryptnode/engine/tpm/seal.h"
#include "tpm_test_swtpm.h"

using namespace cryptnode;
using namespace cryptnode::tpm;
using cryptnode::testing::error_of;
using cryptnode::testing::measured_boot;
using cryptnode::testing::TestSwtpm;
using cryptnode::testing::vendor_key;

namespace {

// Counts the sleeps of bounded retries instead of sleeping.
class CountingEnv final : public EnvWrapper {
 public:
  CountingEnv() : EnvWrapper(Env::posix()) {}
  void sleep_for_ms(int64_t ms) override { ++sleeps; }
  int sleeps = 0;
};

TEST(TpmConnection, NothingListeningIsUnavailableAfterBoundedRetries) {
  CountingEnv env;
  ConnectOptions o;
  o.attempts = 5;
  try {
    Tpm::connect("swtpm:path=/tmp/cn-tpm-no-such/s", env, o);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Code::kUnavailable);
    EXPECT_EQ(std::string(e.what()).rfind("swtpm:path=/tmp/cn-tpm-no-such/s: ", 0), 0u) << e.what();
  }
  EXPECT_EQ(env.sleeps, 4);
}

TEST(TpmConnection, PCRReadAndExtendMatchSoftware) {
  TestSwtpm swtpm;
  auto t = swtpm.connect();
  EXPECT_EQ(t->pcr_read(11), Digest{});
  t->pcr_extend_data(11, "enter-initrd");
  t->pcr_extend_data(11, "leave-initrd");
  EXPECT_EQ(t->pcr_read(11), pcr_extended(pcr_extended(Digest{}, "enter-initrd"), "leave-initrd"));
  const Digest d = sha256("an event");
  t->pcr_extend(16, d);
  EXPECT_EQ(t->pcr_read(16), pcr_extended_digest(Digest{}, d));
  // A reboot resets the PCRs.
  t.reset();
  swtpm.restart();
  EXPECT_EQ(swtpm.connect()->pcr_read(11), Digest{});
}

TEST(TpmConnection, ValidatePCRBanks) {
  TestSwtpm swtpm;
  auto t = swtpm.connect();
  EXPECT_EQ(error_of([&] { t->validate_pcr_banks({}); }),
            "PCR bank 11 is populated with all zeroes");
  t->pcr_extend_data(11, "x");
  EXPECT_NO_THROW(t->validate_pcr_banks({}));
  EXPECT_EQ(error_of([&] { t->validate_pcr_banks({0}); }),
            "PCR bank 0 is populated with all zeroes");
  // PCRs 17-22 start as all 0xFF (DRTM PCRs).
  EXPECT_EQ(t->pcr_read(17), [] {
    Digest d;
    d.fill(0xff);
    return d;
  }());
  EXPECT_EQ(error_of([&] { t->validate_pcr_banks({17}); }),
            "PCR bank 17 is populated with all 0xFF");
}

TEST(TpmConnection, LeftoversOfACrashedProcessAreFlushedOnConnect) {
  TestSwtpm swtpm;
  {
    auto t = swtpm.connect();
    // Fill the three object slots and never flush them (what a killed process leaves).
    for (int i = 0; i < 3; ++i) {
      TPM2B_SENSITIVE_CREATE s{};
      TPM2B_PUBLIC p{};
      p.publicArea.type = TPM2_ALG_KEYEDHASH;
      p.publicArea.nameAlg = TPM2_ALG_SHA256;
      p.publicArea.objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
                                      TPMA_OBJECT_USERWITHAUTH | TPMA_OBJECT_SENSITIVEDATAORIGIN |
                                      TPMA_OBJECT_SIGN_ENCRYPT;
      p.publicArea.parameters.keyedHashDetail.scheme.scheme = TPM2_ALG_HMAC;
      p.publicArea.parameters.keyedHashDetail.scheme.details.hmac.hashAlg = TPM2_ALG_SHA256;
      TPM2B_DATA outside{};
      TPML_PCR_SELECTION pcrs{};
      ESYS_TR h = ESYS_TR_NONE;
      ASSERT_EQ(Esys_CreatePrimary(t->esys(), ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                                   ESYS_TR_NONE, &s, &p, &outside, &pcrs, &h, nullptr, nullptr,
                                   nullptr, nullptr),
                TSS2_RC_SUCCESS);
    }
  }
  ConnectOptions keep;
  keep.flush_leftovers = false;
  auto stuck = swtpm.connect(keep);
  EXPECT_EQ(error_of([&] { stuck->srk_name(); }).rfind("tpm:", 0), 0u);  // out of object memory
  stuck.reset();

  auto t = swtpm.connect();  // flushes
  EXPECT_EQ(t->flush_all(), 0);
  EXPECT_EQ(t->srk_name().size(), 34u);
}

TEST(TpmConnection, SwtpmKilledMidUseIsAClearError) {
  TestSwtpm swtpm;
  auto t = swtpm.connect();
  UkiExtraFiles uki = measured_boot(*t, vendor_key());
  Secret key(32);
  SealedResponse r = seal(*t, key, {7}, uki);
  swtpm.kill();
  try {
    unseal(*t, r, uki);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Code::kUnavailable) << e.what();
    EXPECT_NE(std::string(e.what()).find("tcti:"), std::string::npos) << e.what();
  }
  const std::string after = error_of([&] { t->pcr_read(7); });
  // The connection is unusable after a transport failure: reconnect.
  EXPECT_EQ(after, "failed to read PCR: esapi:Function called in the wrong order");
  // A restart on the same state answers again, with the same SRK.
  t.reset();
  swtpm.start();
  auto again = swtpm.connect();
  EXPECT_EQ(Bytes(r.key_name.begin() + 2, r.key_name.end()), again->srk_name());
}

TEST(TpmConnection, OpenDeviceWithoutDevices) {
  class NoDevices final : public EnvWrapper {
   public:
    NoDevices() : EnvWrapper(Env::posix()) {}
    bool exists(const std::string&) override { return false; }
  } env;
  EXPECT_EQ(error_of([&] { Tpm::open_device(env); }), "open /dev/tpm0: no such file or directory");
}

}  // namespace
