// Talos' controllers for one power-on of a node (machined): the boot sequence from META to
// running, the volume manager passes and the 30 s retry ticker, config acquisition and
// maintenance mode, the STATE encryption META tag, the lockToSTATE salt, apply-config in its
// modes and reset. Everything the machine does to its hardware goes through MachineHost, every
// file and the clock through Env, so the whole controller runs against fakes in tests.
//
// A Machine lives from power-on to power-off. Operations that end in a reboot or a power-off
// return an Action; the node performs it (tearing the hardware down and, for a reboot, creating
// a new Machine).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "cryptnode/engine/config.h"
#include "cryptnode/engine/controller/events.h"
#include "cryptnode/engine/controller/machine_host.h"
#include "cryptnode/engine/env.h"
#include "cryptnode/engine/luks2.h"
#include "cryptnode/engine/secret.h"
#include "cryptnode/engine/volume.h"

namespace cryptnode::controller {

struct MachineSettings {
  std::string uuid;  // SMBIOS system UUID (META 0x0f overrides it)
  luks2::Pbkdf pbkdf = luks2::Pbkdf::kFast;
  std::string talos_version = "1.12";
  std::string layout = "compact";  // compact (small test sizes) | talos (Talos' real sizes)
};

enum class Action { kNone, kReboot, kPowerOff };

class Machine {
 public:
  Machine(MachineSettings settings, MachineHost& host, Env& env, EventLog& log);
  ~Machine();
  Machine(const Machine&) = delete;
  Machine& operator=(const Machine&) = delete;

  // Power-on: META, STATE (opened with META's config before the machine config is known), the
  // machine config (from STATE, else `offered` — a cmdline/platform config —, else maintenance),
  // the salt, META rewritten, EPHEMERAL and user volumes; runs until it settles.
  void boot(const std::optional<std::string>& offered);

  // talosctl apply-config. mode: auto | reboot | no-reboot | staged | try. `*applied` receives the
  // mode that was applied (auto resolves per version). Invalid config: Error(kConfigInvalid),
  // nothing changed.
  Action apply_config(const std::string& yaml, const std::string& mode, bool insecure,
                      std::string* applied);
  // talosctl reset --system-labels-to-wipe ... [--reboot] [--graceful]. Volumes are closed and
  // the targets wiped; the returned action is kReboot or kPowerOff.
  Action reset(const std::vector<std::string>& labels, bool reboot, bool graceful);
  // Clean teardown before power-off: unmount and close every volume, user volumes first.
  void shutdown();

  // Timers on Env's clock: the volume manager's free-running 30 s retry ticker and the try-mode
  // rollback. The node moves the clock to next_deadline_ms() and calls run_due_timers().
  std::optional<int64_t> next_deadline_ms() const;
  void run_due_timers();

  // talosctl meta write/delete (0x0f: UUID override — every nodeID key changes from the next
  // boot). Delete of an absent tag: Error(kNotFound, "meta key not found").
  void meta_write(int tag, const std::string& value);
  void meta_delete(int tag);
  std::string meta_json() const;                     // decoded META tags
  std::string luks_dump(const std::string& volume);  // LUKS2 JSON without salts and digests

  bool maintenance() const;
  bool running() const;  // booted, every volume settled
  const std::map<std::string, volume::VolumeStatus>& statuses() const;
  std::string active_config() const;  // "" when none
  // Where a volume is mounted; Error(kFailedPrecondition, "volume X is not mounted").
  std::string mount_point(const std::string& id) const;

  struct State;  // engine/src/controller/machine_state.h

 private:
  std::unique_ptr<State> s_;
};

}  // namespace cryptnode::controller
