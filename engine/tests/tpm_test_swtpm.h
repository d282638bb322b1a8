// Test support for the tpm area (header-only): a swtpm of its own per test, started through
// Env::spawn and stopped (and its directory removed) in the destructor, also when the test fails;
// and a minimal measured boot — PCR 7, PCR 11 up to `enter-machined` — with a signed PCR 11 policy,
// the way the simulated firmware does it (sim/src/firmware), so engine tests need no sim code.
#pragma once

#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "cryptnode/engine/env.h"
#include "cryptnode/engine/tpm/pcr_signature.h"
#include "cryptnode/engine/tpm/seal.h"
#include "cryptnode/engine/tpm/tpm.h"

namespace cryptnode::testing {

class TestSwtpm {
 public:
  TestSwtpm() {
    char tmpl[] = "/tmp/cn-tpm-XXXXXX";  // short: AF_UNIX paths are limited to 107 bytes
    if (!mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
    dir_ = tmpl;
    std::filesystem::create_directories(dir_ + "/state");
    start();
  }
  ~TestSwtpm() {
    stop();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  TestSwtpm(const TestSwtpm&) = delete;
  TestSwtpm& operator=(const TestSwtpm&) = delete;

  void start() {
    ProcessOptions o;
    o.output_file = dir_ + "/swtpm.log";
    daemon_ = Env::posix().spawn(
        {"swtpm", "socket", "--tpm2", "--tpmstate", "dir=" + dir_ + "/state", "--server",
         "type=unixio,path=" + socket(), "--ctrl", "type=unixio,path=" + socket() + ".ctrl",
         "--flags", "not-need-init,startup-clear"},
        o);
    // readiness: the first command answered
    tpm::ConnectOptions c;
    c.attempts = 300;
    connect(c);
  }
  void stop() {
    if (daemon_) daemon_->terminate(2000);
    daemon_.reset();
  }
  void kill() {
    if (daemon_) daemon_->kill();
    daemon_.reset();
  }
  // A power cycle: PCRs back to zero, state kept.
  void restart() {
    stop();
    start();
  }
  // A new owner seed (a fresh state directory): the SRK name changes.
  void clear() {
    stop();
    std::filesystem::remove_all(dir_ + "/state");
    std::filesystem::create_directories(dir_ + "/state");
    start();
  }

  std::string socket() const { return dir_ + "/s"; }
  std::string tcti() const { return "swtpm:path=" + socket(); }
  const std::string& dir() const { return dir_; }
  int pid() const { return daemon_ ? daemon_->pid() : -1; }
  std::unique_ptr<tpm::Tpm> connect(const tpm::ConnectOptions& o = {}) {
    return tpm::Tpm::connect(tcti(), Env::posix(), o);
  }

 private:
  std::string dir_;
  std::unique_ptr<Daemon> daemon_;
};

// One RSA-2048 PCR signing key per test binary (generation is the slow part).
inline const std::string& vendor_key(int vendor = 0) {
  static std::string keys[2];
  if (keys[vendor].empty()) keys[vendor] = tpm::generate_rsa_private_key(2048);
  return keys[vendor];
}

// A measured boot into `t`: PCR 7 as firmware with SecureBoot `secure_boot` would leave it, PCR 11
// with a few UKI sections and the phases up to enter-machined. Returns the UKI's /.extra files,
// the PCR 11 policy signed with `key_pem`.
inline tpm::UkiExtraFiles measured_boot(tpm::Tpm& t, const std::string& key_pem,
                                        bool secure_boot = true,
                                        const std::string& kernel = "vmlinuz 1.12.0") {
  t.pcr_extend_data(tpm::kSecureBootStatePCR, secure_boot ? "SecureBoot=1" : "SecureBoot=0");
  t.pcr_extend_data(tpm::kSecureBootStatePCR, std::string(4, '\0'));  // separator
  const std::string pub = tpm::public_key_pem(key_pem);
  for (const auto& [name, data] : std::vector<std::pair<std::string, std::string>>{
           {".linux", kernel}, {".osrel", "ID=talos\n"}, {".pcrpkey", pub}}) {
    t.pcr_extend_data(tpm::kUKIPCR, name + std::string(1, '\0'));
    t.pcr_extend_data(tpm::kUKIPCR, data);
  }
  for (const char* phase : {"enter-initrd", "leave-initrd", "enter-machined"})
    t.pcr_extend_data(tpm::kUKIPCR, phase);
  const tpm::Digest pcr11 = t.pcr_read(tpm::kUKIPCR);
  tpm::PcrSignature sig;
  sig.sha256.push_back(
      tpm::bank_data(tpm::Bytes(pcr11.begin(), pcr11.end()), tpm::kAlgSHA256, key_pem));
  return {pub, sig.to_json()};
}

// The message of the Error `fn` throws ("" when it does not throw).
template <typename F>
std::string error_of(F&& fn) {
  try {
    fn();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

}  // namespace cryptnode::testing
