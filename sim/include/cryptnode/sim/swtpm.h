// A node's TPM: one swtpm process per node (docs/tpm-and-firmware.md), started through
// Env::spawn as
//
//   swtpm socket --tpm2 --tpmstate dir=<node>/tpm
//         --server type=unixio,path=<run>/tpm.sock --ctrl type=unixio,path=<run>/tpm.sock.ctrl
//         --flags not-need-init,startup-clear
//
// The TPM state (seeds, NV) lives in the node directory, so it moves with the node; the sockets
// live in a short run directory, /run/cryptnode/<16 hex of SHA-256(node dir)>/, because AF_UNIX
// paths are limited to 107 bytes and node paths can be long (and hold spaces). The run directory
// also holds swtpm.pid and swtpm.log.
//
// Power: start() = power-on (PCRs all zero, TPM2_Startup(CLEAR) by swtpm itself, state kept),
// stop() = clean power-off (SIGTERM, reaped), cut() = power cut (SIGKILL, reaped; sockets and pid
// file left behind as a crash would), restart() = reboot. start() first stops a swtpm that a
// killed owner process left running for this node (found through the pid file, recognised by
// its command line before it is killed), and waits until the TPM answers its first command
// (bounded: SwtpmOptions).
#pragma once

#include <memory>
#include <string>

#include "cryptnode/engine/env.h"
#include "cryptnode/engine/tpm/tpm.h"

namespace cryptnode::sim {

struct SwtpmOptions {
  std::string run_root = "/run/cryptnode";  // parent of the per-node run directories
  std::string state_dir;                    // "" => <node_dir>/tpm
  int ready_attempts = 300;                 // x ready_delay_ms: how long start() waits
  int ready_delay_ms = 10;
  int stop_grace_ms = 2000;  // SIGTERM, then SIGKILL
};

class Swtpm {
 public:
  Swtpm(Env& env, std::string node_dir, SwtpmOptions options = {});
  ~Swtpm();  // stop()
  Swtpm(const Swtpm&) = delete;
  Swtpm& operator=(const Swtpm&) = delete;

  // Power-on. Errors: Error(kCorrupt, "swtpm: TPM state in <dir> is damaged: <swtpm's log>") when
  // libtpms cannot load the state; Error(kUnavailable, "swtpm exited: <log>") for other early
  // exits; Error(kTimeout, ...) when it does not answer in time (then it is killed).
  void start();
  void stop();  // clean power-off; removes the run directory (also after a cut). Idempotent.
  void cut();   // power cut: SIGKILL now; the run files stay until start() or stop(). Idempotent.
  void restart() {
    stop();
    start();
  }
  bool running();

  // A new owner seed, hence a new SRK name (Talos then fails with `srk name does not match`).
  // Running: TPM2_Clear under the platform hierarchy (empty platform auth on swtpm), PCRs kept.
  // Stopped: the state files are removed; the next start() creates fresh seeds.
  void clear();

  // A connection for the TPM's single user (flushes leftovers). Error(kUnavailable) when stopped.
  std::unique_ptr<tpm::Tpm> connect();
  std::string tcti() const { return "swtpm:path=" + socket_; }

  const std::string& state_dir() const { return state_dir_; }
  const std::string& run_dir() const { return run_dir_; }
  const std::string& socket_path() const { return socket_; }
  int pid() const;  // -1 when not running

  // The run directory of a node: <run_root>/<first 16 hex of SHA-256(node_dir)>.
  static std::string run_dir_for(const std::string& node_dir, const std::string& run_root);
  // Stops a swtpm left running for this node by a killed owner (pid file in the run directory;
  // the process is killed only if its command line is swtpm's with this node's socket), and
  // removes the stale sockets and pid file. Returns whether a process was stopped.
  static bool stop_leftover(Env& env, const std::string& node_dir,
                            const SwtpmOptions& options = {});

 private:
  std::string log_tail();
  std::string tpmstate_dir();  // what --tpmstate dir= names (see swtpm.cpp)
  void remove_run_files();

  Env& env_;
  std::string node_dir_;
  SwtpmOptions options_;
  std::string state_dir_, run_dir_, socket_, pid_file_, log_file_;
  std::unique_ptr<Daemon> daemon_;
  bool cut_ = false;  // cut() killed this object's swtpm and left its run files
};

}  // namespace cryptnode::sim
