#include "cryptnode/sim/swtpm.h"

#include <tss2/tss2_esys.h>
#include <tss2/tss2_rc.h>

#include <csignal>

#include "cryptnode/engine/error.h"

namespace cryptnode::sim {

namespace {

constexpr const char* kSocketName = "tpm.sock";
constexpr const char* kStateLink = "state";  // -> the state directory, when its path has a comma
constexpr const char* kRunFiles[] = {"tpm.sock", "tpm.sock.ctrl", "swtpm.pid", "swtpm.log",
                                     kStateLink};

bool is_our_swtpm(const std::string& cmdline, const std::string& socket) {
  return cmdline.find("swtpm") != std::string::npos &&
         cmdline.find("path=" + socket + " ") != std::string::npos;
}

std::string last_lines(const std::string& text, size_t max_lines) {
  std::string t = text;
  while (!t.empty() && (t.back() == '\n' || t.back() == ' ')) t.pop_back();
  size_t pos = t.size(), lines = 0;
  while (pos > 0 && lines < max_lines) {
    pos = t.rfind('\n', pos - 1);
    if (pos == std::string::npos) {
      pos = 0;
      break;
    }
    ++lines;
  }
  std::string tail = t.substr(pos == 0 ? 0 : pos + 1);
  for (char& c : tail)
    if (c == '\n') c = ';';
  return tail;
}

}  // namespace

std::string Swtpm::run_dir_for(const std::string& node_dir, const std::string& run_root) {
  return run_root + "/" + tpm::to_hex(tpm::sha256(node_dir)).substr(0, 16);
}

Swtpm::Swtpm(Env& env, std::string node_dir, SwtpmOptions options)
    : env_(env), node_dir_(std::move(node_dir)), options_(std::move(options)) {
  state_dir_ = options_.state_dir.empty() ? node_dir_ + "/tpm" : options_.state_dir;
  run_dir_ = run_dir_for(node_dir_, options_.run_root);
  socket_ = run_dir_ + "/" + kSocketName;
  pid_file_ = run_dir_ + "/swtpm.pid";
  log_file_ = run_dir_ + "/swtpm.log";
}

Swtpm::~Swtpm() {
  try {
    stop();
  } catch (...) {
  }
}

int Swtpm::pid() const {
  return daemon_ ? daemon_->pid() : -1;
}

bool Swtpm::running() {
  return daemon_ && daemon_->alive();
}

std::string Swtpm::log_tail() {
  return last_lines(env_.read_file(log_file_).value_or(""), 4);
}

std::string Swtpm::tpmstate_dir() {
  // swtpm splits every option value at commas and has no escape for one (TPM_PATH, the other way
  // to name the directory, takes no mode: the files would be 0640). A state directory whose path
  // holds a comma is named through a symlink in the run directory, whose path is hex. Any other
  // path is named as it is, so the command line names the node (leak checks look for it there).
  env_.remove(run_dir_ + "/" + kStateLink);
  if (state_dir_.find(',') == std::string::npos) return state_dir_;
  const std::string link = run_dir_ + "/" + kStateLink;
  const ProcessResult r = env_.run({"ln", "-s", "--", state_dir_, link}, {});  // argv: no shell
  if (r.exit_code != 0) throw Error(Code::kIO, "swtpm: cannot link " + link + ": " + r.output);
  return link;
}

void Swtpm::remove_run_files() {
  for (const char* f : kRunFiles) env_.remove(run_dir_ + "/" + f);
  env_.remove(run_dir_);  // only when empty
}

bool Swtpm::stop_leftover(Env& env, const std::string& node_dir, const SwtpmOptions& options) {
  const std::string run = run_dir_for(node_dir, options.run_root);
  const std::string socket = run + "/" + kSocketName;
  bool stopped = false;
  if (auto text = env.read_file(run + "/swtpm.pid")) {
    int pid = 0;
    try {
      pid = std::stoi(*text);
    } catch (...) {
      pid = 0;
    }
    if (pid > 0 && is_our_swtpm(env.process_cmdline(pid), socket)) {
      env.kill_process(pid, SIGTERM);
      for (int waited = 0; waited < options.stop_grace_ms; waited += 10) {
        if (!is_our_swtpm(env.process_cmdline(pid), socket)) break;
        env.sleep_for_ms(10);
      }
      if (is_our_swtpm(env.process_cmdline(pid), socket)) env.kill_process(pid, SIGKILL);
      stopped = true;
    }
  }
  for (const char* f : kRunFiles) env.remove(run + "/" + f);
  env.remove(run);  // only when empty
  return stopped;
}

void Swtpm::start() {
  if (running()) return;
  daemon_.reset();
  cut_ = false;  // stop_leftover below removes what a cut left
  stop_leftover(env_, node_dir_, options_);
  env_.make_dirs(state_dir_, 0700);
  env_.make_dirs(run_dir_, 0700);
  env_.remove(log_file_);
  // swtpm opens its lock file 0640 whatever --tpmstate's mode says: made here, 0600, it keeps that.
  env_.remove(state_dir_ + "/.lock");
  env_.create_file_exclusive(state_dir_ + "/.lock", "", 0600);

  ProcessOptions po;
  po.output_file = log_file_;
  std::vector<std::string> argv = {"swtpm", "socket", "--tpm2", "--tpmstate",
                                   "dir=" + tpmstate_dir() + ",mode=0600"};  // not 0640
  argv.insert(argv.end(),
              {"--server", "type=unixio,path=" + socket_, "--ctrl",
               "type=unixio,path=" + socket_ + ".ctrl", "--flags", "not-need-init,startup-clear"});
  daemon_ = env_.spawn(argv, po);
  env_.write_file_atomic(pid_file_, std::to_string(daemon_->pid()) + "\n", 0600);

  tpm::ConnectOptions once;
  once.attempts = 1;
  std::string last;
  for (int attempt = 0; attempt < options_.ready_attempts; ++attempt) {
    if (!daemon_->alive()) {
      const std::string log = log_tail();
      daemon_.reset();
      remove_run_files();
      if (log.find("Could not initialize libtpms") != std::string::npos)
        throw Error(Code::kCorrupt, "swtpm: TPM state in " + state_dir_ + " is damaged: " + log);
      throw Error(Code::kUnavailable, "swtpm exited: " + log);
    }
    try {
      tpm::Tpm::connect(tcti(), env_, once);  // the first command answered
      return;
    } catch (const Error& e) {
      if (e.code() != Code::kUnavailable) throw;
      last = e.what();
    }
    env_.sleep_for_ms(options_.ready_delay_ms);
  }
  daemon_->kill();
  daemon_.reset();
  remove_run_files();
  throw Error(Code::kTimeout, "swtpm did not answer on " + socket_ + ": " + last);
}

void Swtpm::stop() {
  if (daemon_) {
    daemon_->terminate(options_.stop_grace_ms);
    daemon_.reset();
    remove_run_files();
  } else if (cut_) {
    // The files a cut left for the next start (a crash leaves the sockets) go with the power-off
    // that follows it: a node closed after a power cut leaves no run directory behind. Only what
    // this object's own swtpm left is removed.
    remove_run_files();
  }
  cut_ = false;
}

void Swtpm::cut() {
  if (daemon_) {
    daemon_->kill();
    daemon_.reset();
    cut_ = true;
  }
}

std::unique_ptr<tpm::Tpm> Swtpm::connect() {
  if (!running()) throw Error(Code::kUnavailable, "swtpm is not running (" + socket_ + ")");
  return tpm::Tpm::connect(tcti(), env_);
}

void Swtpm::clear() {
  if (running()) {
    auto t = connect();
    TSS2_RC rc =
        Esys_Clear(t->esys(), ESYS_TR_RH_PLATFORM, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE);
    if (rc != TSS2_RC_SUCCESS)
      throw Error(Code::kFailedPrecondition, std::string("TPM2_Clear: ") + Tss2_RC_Decode(rc));
    return;
  }
  for (const std::string& f : env_.list_dir(state_dir_)) env_.remove(state_dir_ + "/" + f);
}

}  // namespace cryptnode::sim
