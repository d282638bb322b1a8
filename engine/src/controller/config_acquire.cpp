// Config acquisition (Talos' config.AcquireController): the machine config persisted in STATE
// (config.yaml), else the one offered the way a cmdline/platform config is, else maintenance mode
// waiting for `apply-config --insecure`. STATE must be ready or missing for the decision.
#include "cryptnode/engine/error.h"
#include "machine_state.h"

namespace cryptnode::controller {

std::optional<std::string> Machine::State::read_persisted_config() {
  auto st = statuses.find("STATE");
  if (st == statuses.end() || st->second.mount_point.empty()) return std::nullopt;
  return env.read_file(st->second.mount_point + "/config.yaml");
}

void Machine::State::persist_config(const std::string& text) {
  auto st = statuses.find("STATE");
  if (st == statuses.end() || st->second.mount_point.empty())
    throw Error(Code::kFailedPrecondition, "volume STATE is not mounted");
  // Talos writes config.yaml-tmp (0600) and renames it over config.yaml.
  env.write_file_atomic(st->second.mount_point + "/config.yaml", text, 0600);
  note("config", "persisted config.yaml in STATE");
}

void Machine::State::acquire_config() {
  const volume::VolumeStatus& st = statuses["STATE"];
  const bool decided = st.phase == volume::Phase::kReady || st.phase == volume::Phase::kMissing;
  std::optional<std::string> text;
  if (st.phase == volume::Phase::kReady) text = read_persisted_config();
  if (!text && decided && offered) text = offered;
  if (text) {
    maintenance = false;
    activate_config(*text);
    return;
  }
  if (decided) {
    if (!maintenance) note("maintenance", "no machine config: waiting for apply-config --insecure");
    maintenance = true;
  } else {
    note("STATE", "boot waits for STATE: " + std::string(volume::phase_name(st.phase)) +
                      (st.error_message.empty() ? "" : ": " + st.error_message));
  }
}

}  // namespace cryptnode::controller
