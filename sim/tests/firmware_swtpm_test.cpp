// The node's swtpm: start/stop/cut/restart keep the state, clear changes the SRK, a swtpm left by
// a killed owner is found and stopped, a damaged state and a swtpm killed mid-use are clear
// errors. Each test starts and stops its own swtpm.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>

#include "cryptnode/engine/error.h"
#include "cryptnode/sim/swtpm.h"

using namespace cryptnode;
using namespace cryptnode::sim;

namespace {

// A node directory with a long path holding spaces and a comma; removed (after stopping whatever
// swtpm is left for it) in the destructor.
class ScratchNode {
 public:
  ScratchNode() {
    char tmpl[] = "/tmp/cryptnode-fw-test-XXXXXX";
    if (!mkdtemp(tmpl)) throw std::runtime_error("mkdtemp");
    root_ = tmpl;
    path_ = root_ +
            "/a node directory with spaces, a comma and a rather long name that would not "
            "fit in an AF_UNIX socket path/node";
    std::filesystem::create_directories(path_);
  }
  ~ScratchNode() {
    Swtpm::stop_leftover(Env::posix(), path_);
    std::error_code ec;
    std::filesystem::remove_all(root_, ec);
    std::filesystem::remove(Swtpm::run_dir_for(path_, "/run/cryptnode"), ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string root_, path_;
};

bool alive(int pid) {
  return !Env::posix().process_cmdline(pid).empty();
}

TEST(Swtpm, StartStopAndPaths) {
  ScratchNode node;
  Swtpm s(Env::posix(), node.path());
  EXPECT_EQ(s.state_dir(), node.path() + "/tpm");
  EXPECT_LT(s.socket_path().size() + 5, 107u);
  EXPECT_EQ(s.run_dir().rfind("/run/cryptnode/", 0), 0u);
  s.start();
  ASSERT_TRUE(s.running());
  const int pid = s.pid();
  EXPECT_NE(Env::posix().process_cmdline(pid).find("--tpm2"), std::string::npos);
  EXPECT_TRUE(std::filesystem::exists(s.state_dir() + "/tpm2-00.permall"));
  // The path holds a comma, which swtpm's option parser splits at: the files are still 0600.
  for (const char* f : {"/tpm2-00.permall", "/.lock"}) {
    struct stat st {};
    ASSERT_EQ(stat((s.state_dir() + f).c_str(), &st), 0) << f;
    EXPECT_EQ(st.st_mode & 07777, 0600u) << f;
  }
  EXPECT_EQ(Env::posix().read_file(s.run_dir() + "/swtpm.pid"), std::to_string(pid) + "\n");
  EXPECT_EQ(s.connect()->pcr_read(11), tpm::Digest{});
  s.stop();
  EXPECT_FALSE(s.running());
  EXPECT_FALSE(alive(pid));
  EXPECT_FALSE(std::filesystem::exists(s.run_dir()));
  EXPECT_THROW(s.connect(), Error);
  s.stop();  // idempotent
}

TEST(Swtpm, RestartAndCutKeepStateAndResetPCRs) {
  ScratchNode node;
  Swtpm s(Env::posix(), node.path());
  s.start();
  const tpm::Bytes srk = s.connect()->srk_name();
  s.connect()->pcr_extend_data(7, "x");
  s.restart();
  EXPECT_EQ(s.connect()->pcr_read(7), tpm::Digest{});
  EXPECT_EQ(s.connect()->srk_name(), srk);

  s.connect()->pcr_extend_data(7, "x");
  const int pid = s.pid();
  s.cut();
  EXPECT_FALSE(alive(pid));
  EXPECT_TRUE(std::filesystem::exists(s.socket_path()));  // a crash leaves the sockets
  s.start();
  EXPECT_EQ(s.connect()->pcr_read(7), tpm::Digest{});
  EXPECT_EQ(s.connect()->srk_name(), srk);
}

// A node closed after a power cut (crash_at, then close) powers off a swtpm that is already
// dead: the run directory the cut left goes too.
TEST(Swtpm, StopAfterACutRemovesTheRunDirectory) {
  ScratchNode node;
  Swtpm s(Env::posix(), node.path());
  s.start();
  s.cut();
  ASSERT_TRUE(std::filesystem::exists(s.run_dir()));
  s.stop();
  EXPECT_FALSE(std::filesystem::exists(s.run_dir()));
  s.stop();  // idempotent
}

TEST(Swtpm, ClearChangesTheSRK) {
  ScratchNode node;
  Swtpm s(Env::posix(), node.path());
  s.start();
  const tpm::Bytes first = s.connect()->srk_name();
  s.clear();  // running: TPM2_Clear
  const tpm::Bytes second = s.connect()->srk_name();
  EXPECT_NE(second, first);
  s.restart();
  EXPECT_EQ(s.connect()->srk_name(), second);  // persistent
  s.stop();
  s.clear();  // stopped: fresh state
  s.start();
  const tpm::Bytes third = s.connect()->srk_name();
  EXPECT_NE(third, second);
  EXPECT_NE(third, first);
}

TEST(Swtpm, LeftoverOfAKilledOwnerIsStopped) {
  ScratchNode node;
  pid_t child = fork();
  if (child == 0) {
    // The owner: starts the node's swtpm and dies without stopping it.
    try {
      auto* s = new Swtpm(Env::posix(), node.path());
      s->start();
    } catch (...) {
      _exit(1);
    }
    _exit(0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  const std::string run = Swtpm::run_dir_for(node.path(), "/run/cryptnode");
  const int orphan = std::stoi(Env::posix().read_file(run + "/swtpm.pid").value_or("0"));
  ASSERT_GT(orphan, 0);
  ASSERT_TRUE(alive(orphan));

  Swtpm s(Env::posix(), node.path());
  s.start();  // finds it, checks its command line, stops it, starts its own
  EXPECT_FALSE(alive(orphan));
  EXPECT_NE(s.pid(), orphan);
  EXPECT_EQ(s.connect()->pcr_read(11), tpm::Digest{});
}

TEST(Swtpm, StalePidFileOfAnotherProcessIsLeftAlone) {
  ScratchNode node;
  const std::string run = Swtpm::run_dir_for(node.path(), "/run/cryptnode");
  Env::posix().make_dirs(run, 0700);
  // A pid that is not this node's swtpm (this test process).
  Env::posix().write_file_atomic(run + "/swtpm.pid", std::to_string(getpid()) + "\n", 0600);
  EXPECT_FALSE(Swtpm::stop_leftover(Env::posix(), node.path()));
  EXPECT_FALSE(std::filesystem::exists(run + "/swtpm.pid"));
  Env::posix().remove(run);
}

TEST(Swtpm, DamagedStateIsAClearError) {
  ScratchNode node;
  Swtpm s(Env::posix(), node.path());
  s.start();
  s.stop();
  const std::string state = s.state_dir() + "/tpm2-00.permall";
  std::string bytes = Env::posix().read_file(state).value();
  for (size_t i = 0; i < 16 && i < bytes.size(); ++i) bytes[i] = static_cast<char>(~bytes[i]);
  Env::posix().write_file_atomic(state, bytes, 0640);
  try {
    s.start();
    FAIL() << "started on a damaged state";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Code::kCorrupt) << e.what();
    EXPECT_EQ(
        std::string(e.what()).rfind("swtpm: TPM state in " + s.state_dir() + " is damaged: ", 0),
        0u)
        << e.what();
  }
  EXPECT_FALSE(s.running());
}

TEST(Swtpm, KilledMidUseIsAClearErrorNotAHang) {
  ScratchNode node;
  Swtpm s(Env::posix(), node.path());
  s.start();
  auto t = s.connect();
  t->pcr_extend_data(11, "enter-initrd");
  s.cut();
  try {
    t->pcr_read(11);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Code::kUnavailable) << e.what();
  }
  try {
    tpm::ConnectOptions o;
    o.attempts = 3;
    tpm::Tpm::connect(s.tcti(), Env::posix(), o);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Code::kUnavailable) << e.what();
  }
}

}  // namespace
