// The ESYS connection: connecting (bounded retries), PCR read/extend, validatePCRBanks, leftovers
// of a crashed process, a swtpm that dies mid-use, and the one connection per process.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <tss2/tss2_esys.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <thread>
#include <vector>

#include "../src/tpm/tcti_shared_socket.h"
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

// One connection per swtpm socket and process (engine/src/tpm/tcti_shared_socket.h): every command
// of every Tpm alive at once goes over it, nested Tpm objects do not wait on each other, threads
// take turns per command, and once the last Tpm is gone swtpm serves another client.
TEST(TpmSharedConnection, ManyCommandsAndNestedTpmsShareOneConnection) {
  TestSwtpm swtpm;
  const unsigned long before = detail::shared_socket_connections();
  {
    auto outer = swtpm.connect();
    for (int i = 0; i < 5; ++i) outer->pcr_extend_data(16, "x");
    auto inner = swtpm.connect();  // while `outer` holds the connection
    EXPECT_EQ(inner->pcr_read(16), outer->pcr_read(16));
  }
  EXPECT_EQ(detail::shared_socket_connections() - before, 1u)
      << "a connection per command or per Tpm: the shared TCTI is not in use";
}

TEST(TpmSharedConnection, ThreadsTakeTurnsCommandByCommand) {
  TestSwtpm swtpm;
  swtpm.connect()->pcr_extend_data(16, "base");
  const Digest want = swtpm.connect()->pcr_read(16);
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t)
    threads.emplace_back([&] {
      auto tpm = swtpm.connect();
      for (int i = 0; i < 20; ++i)
        if (tpm->pcr_read(16) != want) ++wrong;
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong.load(), 0);
}

// Another client of the socket (tpm2-tools, another process) is served once no Tpm of this
// process is alive: the raw TPM2_GetRandom below gets its answer.
TEST(TpmSharedConnection, TheConnectionClosesWithTheLastTpm) {
  TestSwtpm swtpm;
  swtpm.connect()->pcr_read(0);
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, swtpm.socket().c_str(), sizeof(addr.sun_path) - 1);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  const uint8_t get_random[] = {0x80, 0x01, 0, 0, 0, 12, 0, 0, 0x01, 0x7b, 0, 8};
  ASSERT_EQ(::write(fd, get_random, sizeof(get_random)), static_cast<ssize_t>(sizeof(get_random)));
  pollfd pfd{fd, POLLIN, 0};
  ASSERT_EQ(::poll(&pfd, 1, 10000), 1) << "swtpm did not serve a second client";
  uint8_t header[10];
  EXPECT_EQ(::read(fd, header, sizeof(header)), 10);
  EXPECT_EQ(header[6] | header[7] | header[8] | header[9], 0);  // TPM_RC_SUCCESS
  ::close(fd);
}

TEST(TpmSharedConnection, ASwtpmRestartedBetweenTpmsIsReachedAgain) {
  TestSwtpm swtpm;
  auto t = swtpm.connect();
  t->pcr_extend_data(16, "x");
  t.reset();
  swtpm.restart();
  EXPECT_EQ(swtpm.connect()->pcr_read(16), Digest{});
}
