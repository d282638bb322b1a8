// The state of one power-on of a node, shared by the controller's source files: machine.cpp (boot
// sequence, volume manager passes, timers), config_acquire.cpp (STATE's config.yaml,
// maintenance), encryption_step.cpp (HandleEncryption), node_meta.cpp (META), salt.cpp
// (EncryptionSaltController), apply_config.cpp and reset.cpp (the API operations).
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cryptnode/engine/config.h"
#include "cryptnode/engine/controller/machine.h"
#include "cryptnode/engine/secret.h"
#include "cryptnode/engine/versions.h"
#include "cryptnode/engine/volume.h"

namespace cryptnode::controller {

constexpr int64_t kRetryIntervalMs = 30'000;     // the volume manager's retryTicker
constexpr int64_t kConfigTryTimeoutMs = 60'000;  // constants.ConfigTryTimeout

struct Machine::State {
  State(MachineSettings s, MachineHost& h, Env& e, EventLog& l)
      : settings(std::move(s)),
        version(versions::Version::parse(settings.talos_version)),
        host(h),
        env(e),
        log(l) {}

  MachineSettings settings;
  versions::Version version;  // settings.talos_version, resolved
  MachineHost& host;
  Env& env;
  EventLog& log;

  std::string uuid;            // SMBIOS UUID, or META's 0x0f override
  std::optional<Secret> salt;  // lockToSTATE salt, once STATE is ready
  bool maintenance = false;
  bool running = false;
  // PCRStatus "11": created when enter-machined is extended, torn down (and start-the-world
  // extended) once the volumes settle; TPM seal/unseal only inside that window.
  bool pcr11_open = false;

  std::optional<std::string> offered;  // boot(config=...): a cmdline/platform config
  std::optional<std::string> active_text;
  std::optional<config::MachineConfig> active;
  std::optional<std::string> try_previous;  // config to roll back to after --mode=try
  std::optional<int64_t> try_rollback_ms;

  int64_t ticker_origin_ms = 0;  // the retry ticker started with the controller
  int64_t ticked_ms = 0;         // the last tick that re-ran the controllers
  bool should_retry = false;     // a retryable error happened since the last tick
  int64_t next_tick() const;     // the first tick after the last one and after now

  std::map<std::string, volume::VolumeSpec> specs;
  std::map<std::string, volume::VolumeStatus> statuses;
  std::vector<std::string> order;  // volume ids in processing order

  void note(const std::string& step, const std::string& message) { log.add(step, message); }

  // machine.cpp
  void settle();  // controller passes until nothing changes
  void pass();    // one pass over STATE, the config, then every volume in order
  void activate_config(const std::string& text);
  void close_volume(const std::string& id);  // unmount + close, status stays
  // previous_wave_provisioned: Talos' PreviousWaveProvisioned (a new volume may be created).
  void reconcile_volume(const std::string& id, volume::VolumeEncryption& step,
                        bool previous_wave_provisioned = true);
  // PCRStatusController: start-the-world once STATE and EPHEMERAL are ready and nothing is
  // pending (from 1.12.11 / 1.13.8 also every VolumeConfig must have a status: talos#13827).
  void maybe_start_the_world();
  void teardown();                                     // close every volume, user volumes first
  void reconcile_directory(volume::VolumeStatus& st);  // a directory volume: ready, mounted

  // config_acquire.cpp
  std::optional<std::string> read_persisted_config();
  void persist_config(const std::string& text);
  void acquire_config();  // STATE's config.yaml, else the offered one, else maintenance

  // salt.cpp
  void load_or_create_salt();

  // node_meta.cpp
  // META at boot: 0x0f (UUID override) applied, 0x09 (STATE's encryption) returned.
  std::optional<config::EncryptionSpec> read_meta_at_boot();
  void apply_uuid_override(const std::string& value);  // META 0x0f written/deleted: live
  void write_state_meta();   // META 0x09 from the active config (only when bytes differ)
  bool delete_state_meta();  // reset: tag 0x09 removed
};

// encryption_step.cpp: Talos' HandleEncryption with this machine's keys and activation backend.
std::unique_ptr<volume::VolumeEncryption> make_encryption_step(Machine::State& s);

}  // namespace cryptnode::controller
