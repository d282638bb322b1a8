// A simulated Talos node (docs/design.md): a node directory with node.json, disk images and the
// node's persisted state; at power-on a loop device per disk and Talos' controllers
// (controller::Machine) running the boot sequence on them; talosctl-like operations.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cryptnode/engine/controller/events.h"
#include "cryptnode/engine/env.h"
#include "cryptnode/engine/volume_status.h"
#include "cryptnode/sim/node_settings.h"

namespace cryptnode::sim {

// One line of the node's log: what the node did, for reports and tests (never a secret).
using Event = controller::Event;

class Node {
 public:
  // Creates <path> (must not exist or be empty), node.json and sparse disk images. Every OS
  // effect of the node goes through `env` (which must outlive the node); the node adds its own
  // virtual clock on top of it.
  static std::unique_ptr<Node> create(const std::string& path, const NodeSettings& settings,
                                      Env& env);
  // Opens an existing node directory. Throws kLocked when another process owns it, kCorrupt when
  // node.json is damaged, kNotFound when it is not a node directory.
  static std::unique_ptr<Node> open(const std::string& path, Env& env);
  ~Node();  // powers off cleanly if powered on; never leaves a loop device or mount behind

  const std::string& path() const;
  const NodeSettings& settings() const;

  // Power on and run the boot sequence until it settles (running, maintenance, or stalled on a
  // failed volume). `config`: a machine config offered the way cmdline/platform config is, used
  // only when STATE holds none.
  void boot(const std::optional<std::string>& config = std::nullopt);
  void reboot();
  // talosctl upgrade: reboot into another Talos release (a version string as talos_version
  // takes), disks kept; a rollback is an upgrade to the previous version. Saved in node.json.
  // Returns the version now running.
  std::string upgrade(const std::string& to);
  void shutdown();
  void power_cut();  // no clean teardown: loop devices go away, nothing is flushed or closed
  bool powered_on() const;
  bool maintenance() const;
  bool running() const;  // booted, every volume settled

  // talosctl apply-config. mode: auto | reboot | no-reboot | staged | try. Returns the mode that
  // was applied (auto resolves to reboot or no-reboot). Invalid config: Error(kConfigInvalid) with
  // Talos' validation errors, nothing changed.
  std::string apply_config(const std::string& yaml, const std::string& mode = "auto",
                           bool insecure = false);
  // talosctl patch machineconfig --patch ... --mode: the patch (strategic merge, see
  // config::strategic_merge) over the active config, then apply_config in `mode`. Returns the
  // applied mode.
  std::string patch_config(const std::string& patch, const std::string& mode = "auto");
  // talosctl reset --system-labels-to-wipe ... [--reboot] [--graceful]
  void reset(const std::vector<std::string>& system_labels_to_wipe, bool reboot = false,
             bool graceful = true);

  void advance(double seconds);  // virtual clock: retry ticks, try-mode rollback
  int64_t clock_ms() const;      // the node's virtual clock

  // Arms a fault point (a name of cryptnode::fault_points()): when the node reaches it, in any
  // operation, it loses power right there, like power_cut(). Fires once.
  void crash_at(const std::string& point);
  // The fault point of the last such crash, "" when none happened since power-on.
  std::string last_crash() const;

  volume::VolumeStatus volume_status(const std::string& id) const;
  std::vector<volume::VolumeStatus> volumes() const;
  std::map<std::string, std::string> devices() const;  // label -> /dev/loopNpM while powered on

  void write_file(const std::string& volume, const std::string& path, const std::string& data);
  std::string read_file(const std::string& volume, const std::string& path) const;

  std::string luks_dump(const std::string& volume) const;  // JSON text (no secrets)
  std::string meta() const;                                // JSON text of decoded META tags
  // talosctl meta write/delete (e.g. 0x0f, the UUID override: every nodeID key changes with it
  // from the next boot). Delete of a missing tag: Error(kNotFound, "meta key not found").
  void meta_write(int tag, const std::string& value);
  void meta_delete(int tag);
  std::string active_config() const;  // "" when none
  std::vector<Event> events() const;

  void set_firmware(bool secure_boot, bool setup_mode);  // takes effect at next power-on
  void clear_tpm();
  // A slow TPM (talos#13056): each seal and unseal advances the node's virtual clock by `seconds`
  // (finite, 0..3600; kept in node.json). Takes effect at the next power-on.
  void set_tpm_latency(double seconds);

  struct Impl;

 private:
  explicit Node(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace cryptnode::sim
