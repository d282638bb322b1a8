// The boot sequence and the volume manager (docs/talos/volume-lifecycle.md): META, STATE opened
// with META's encryption config before the machine config is known, the config, the salt, META
// rewritten, then EPHEMERAL and the user volumes. settle() runs controller passes until nothing
// changes (in Talos every status change is an event that re-runs the controllers); the 30 s
// ticker re-runs them while a retryable error is pending.
#include <algorithm>
#include <limits>

#include "cryptnode/engine/controller/volume_config.h"
#include "cryptnode/engine/error.h"
#include "cryptnode/engine/versions.h"
#include "machine_state.h"

namespace cryptnode::controller {

Machine::Machine(MachineSettings settings, MachineHost& host, Env& env, EventLog& log)
    : s_(std::make_unique<State>(std::move(settings), host, env, log)) {
  s_->uuid = s_->settings.uuid;
  s_->ticker_origin_ms = s_->ticked_ms = env.clock().now_ms();
}

Machine::~Machine() = default;

bool Machine::maintenance() const {
  return s_->maintenance;
}
bool Machine::running() const {
  return s_->running;
}
const std::map<std::string, volume::VolumeStatus>& Machine::statuses() const {
  return s_->statuses;
}
std::string Machine::active_config() const {
  return s_->active_text.value_or("");
}

std::string Machine::mount_point(const std::string& id) const {
  auto it = s_->statuses.find(id);
  if (it == s_->statuses.end() || it->second.mount_point.empty())
    throw Error(Code::kFailedPrecondition, "volume " + id + " is not mounted");
  return it->second.mount_point;
}

void Machine::boot(const std::optional<std::string>& offered) {
  State& s = *s_;
  s.offered = offered;
  s.specs["STATE"] = state_volume_config_from_meta(s.read_meta_at_boot());
  s.statuses["STATE"].id = "STATE";
  // PCRStatusController starts: enter-machined, and PCR 11 opens for TPM seal/unseal.
  s.host.extend_pcr_phase("enter-machined");
  s.pcr11_open = true;
  s.settle();
}

void Machine::shutdown() {
  s_->teardown();
}

// The ticker fires every 30 s from the controller's start; a tick re-runs the controllers only
// when a retryable error happened since the last one (Talos' shouldRetry).
int64_t Machine::State::next_tick() const {
  const int64_t after = std::max(ticked_ms, env.clock().now_ms());
  return ticker_origin_ms + ((after - ticker_origin_ms) / kRetryIntervalMs + 1) * kRetryIntervalMs;
}

std::optional<int64_t> Machine::next_deadline_ms() const {
  std::optional<int64_t> next;
  if (s_->should_retry) next = s_->next_tick();
  if (s_->try_rollback_ms)
    next = next ? std::min(*next, *s_->try_rollback_ms) : *s_->try_rollback_ms;
  return next;
}

void Machine::run_due_timers() {
  State& s = *s_;
  const int64_t now = s.env.clock().now_ms();
  if (s.try_rollback_ms && *s.try_rollback_ms <= now) {
    s.try_rollback_ms.reset();
    if (s.try_previous) {
      s.note("apply-config", "try timeout: rolling back to the previous config");
      std::string prev = *s.try_previous;
      s.try_previous.reset();
      s.activate_config(prev);
      s.settle();
    }
  }
  if (s.should_retry && now > s.ticked_ms && (now - s.ticker_origin_ms) % kRetryIntervalMs == 0) {
    s.ticked_ms = now;
    s.should_retry = false;
    s.note("retry", "30 s retry tick");
    s.settle();
  }
}

void Machine::State::activate_config(const std::string& text) {
  active = config::MachineConfig::parse(text);
  active_text = text;
  std::map<std::string, volume::VolumeSpec> previous = std::move(specs);
  specs = volume_configs(*active, settings.layout);
  // A removed user-volume document closes its mapping (teardown) but does not wipe the
  // partition; its status goes away.
  for (auto& [id, spec] : previous) {
    if (specs.count(id) || id == "STATE" || id == "EPHEMERAL") continue;
    auto st = statuses.find(id);
    if (st == statuses.end()) continue;
    specs[id] = spec;  // close_volume needs it
    close_volume(id);
    specs.erase(id);
    statuses.erase(id);
    note(id, "document removed: volume closed");
  }
  order = processing_order(specs);
  // Statuses appear as the volume manager reaches each volume (pass()), not here: Talos'
  // PCRStatusController can run in between (talos#13827).
  write_state_meta();
  note("config", "machine config is active");
}

void Machine::State::close_volume(const std::string& id) {
  auto st = statuses.find(id);
  if (st == statuses.end()) return;
  if (!st->second.mount_point.empty()) host.unmount(id);
  st->second.mount_point.clear();
  auto sp = specs.find(id);
  volume::VolumeSpec spec = sp != specs.end() ? sp->second : volume::VolumeSpec{id, id};
  // A volume opened with META's config before the machine config replaced its spec.
  if (!spec.encryption && !st->second.encryption_provider.empty())
    spec.encryption = config::EncryptionSpec{};
  auto step = make_encryption_step(*this);
  volume::close(spec, st->second, *step);
}

void Machine::State::teardown() {
  // Reverse processing order: user volumes, EPHEMERAL, STATE last.
  std::vector<std::string> ids = order;
  if (std::find(ids.begin(), ids.end(), "STATE") == ids.end() && statuses.count("STATE"))
    ids.insert(ids.begin(), "STATE");
  std::reverse(ids.begin(), ids.end());
  for (const auto& id : ids) close_volume(id);
  running = false;
}

void Machine::State::reconcile_volume(const std::string& id, volume::VolumeEncryption& step,
                                      bool previous_wave_provisioned) {
  auto sp = specs.find(id);
  if (sp == specs.end()) return;
  volume::VolumeStatus& st = statuses[id];
  st.id = id;
  st.type = sp->second.type;
  const auto before = st.phase;
  const std::string before_error = st.error_message;
  if (sp->second.type == "directory") {
    reconcile_directory(st);
    if (st.phase != before) note(id, std::string(volume::phase_name(st.phase)));
    return;
  }
  if (previous_wave_provisioned || !sp->second.provision) {
    volume::reconcile(sp->second, st, host, step);
  } else {
    // provisionNewVolume: an earlier wave is not ready yet, so a volume that is not found waits
    // (phase waiting) instead of being provisioned; one that exists goes on.
    volume::VolumeSpec locate_only = sp->second;
    locate_only.provision = false;
    volume::reconcile(locate_only, st, host, step);
    if (st.phase == volume::Phase::kMissing) st.phase = volume::Phase::kWaiting;
  }
  if (st.phase != before || st.error_message != before_error)
    note(id, std::string(volume::phase_name(st.phase)) +
                 (st.error_message.empty() ? "" : ": " + st.error_message));
  if (st.phase == volume::Phase::kFailed && st.retryable) should_retry = true;
  // A swap volume is not mounted; Talos swapon's it (VolumeMountRequest of a swap volume), the
  // simulated node does not (that would hand the host's kernel the node's disk).
  const bool mountable = !sp->second.fs_type.empty() && sp->second.fs_type != "swap";
  if (st.phase == volume::Phase::kReady && st.mount_point.empty() && mountable) {
    st.mount_point = host.mount(st);
    note(id, "mounted");
  }
}

// A directory volume (locate.go handleSimpleVolumeTypes: always ready; its MountSpec: TargetPath
// <name> under ParentID /var/mnt, mode 0755, bind-mounted): the directory /var/mnt/<name> on
// EPHEMERAL, made once EPHEMERAL is mounted. Decision: the node hands out the directory itself
// rather than a bind mount of it onto itself. It is as encrypted as EPHEMERAL is.
void Machine::State::reconcile_directory(volume::VolumeStatus& st) {
  if (st.phase == volume::Phase::kClosed) return;
  st.phase = volume::Phase::kReady;
  auto eph = statuses.find("EPHEMERAL");
  if (!st.mount_point.empty() || eph == statuses.end() || eph->second.mount_point.empty()) return;
  const std::string dir = eph->second.mount_point + "/mnt/" + st.id.substr(2);  // "u-<name>"
  env.make_dirs(dir, 0755);
  st.mount_point = dir;
  note(st.id, "mounted");
}

void Machine::State::maybe_start_the_world() {
  if (!pcr11_open || !active) return;
  for (const char* system : {"STATE", "EPHEMERAL"}) {
    auto it = statuses.find(system);
    if (it == statuses.end() || it->second.phase != volume::Phase::kReady) return;
  }
  for (const auto& [id, st] : statuses) {
    switch (st.phase) {
      case volume::Phase::kWaiting:
      case volume::Phase::kLocated:
      case volume::Phase::kFailed:
      case volume::Phase::kProvisioned:
      case volume::Phase::kPrepared:
        return;
      default:
        break;
    }
  }
  if (versions::applies(versions::Rule::kStartTheWorldWaitsForVolumeConfigs, version))
    for (const auto& [id, spec] : specs)
      if (!statuses.count(id)) return;
  pcr11_open = false;
  host.extend_pcr_phase("start-the-world");
  note("pcr", "start-the-world: PCR 11 locked (no TPM seal or unseal until the next boot)");
}

void Machine::State::pass() {
  auto step = make_encryption_step(*this);

  // Stage 1: STATE and the machine config.
  if (!active) {
    volume::VolumeStatus& st = statuses["STATE"];
    volume::reconcile(specs["STATE"], st, host, *step);
    if (st.phase == volume::Phase::kFailed && st.retryable) should_retry = true;
    if (st.phase == volume::Phase::kReady && st.mount_point.empty()) {
      st.mount_point = host.mount(st);
      note("STATE", "mounted");
    }
    acquire_config();
    if (!active) {
      running = false;
      return;
    }
  }

  // Stage 2: every VolumeConfig in provisioning order, as VolumeManagerController.Reconcile
  // (internal/app/machined/pkg/controllers/block/volume_manager.go): a volume that exists is
  // located, opened and formatted whatever the others do, so a lockToSTATE volume found while
  // STATE is still pending fails with "encryption salt not available" (retryable); only the
  // provisioning of a new volume waits until every volume with provisioning of the earlier waves
  // is ready (fullyProvisionedWave, PreviousWaveProvisioned in locate.go). STATE ready brings
  // the persisted config and the salt (EncryptionSaltController) before the volumes after it.
  int fully_provisioned_wave = std::numeric_limits<int>::max();
  auto reconcile_in_order = [&](const std::string& id) {
    const volume::VolumeSpec& spec = specs[id];
    reconcile_volume(id, *step, spec.wave <= fully_provisioned_wave);
    const volume::VolumeStatus& st = statuses[id];
    if (id == "STATE" && st.phase == volume::Phase::kReady) {
      if (!read_persisted_config()) persist_config(*active_text);
      if (!salt) load_or_create_salt();
    }
    if (st.phase != volume::Phase::kReady && spec.provision)
      fully_provisioned_wave = std::min(fully_provisioned_wave, spec.wave - 1);
  };
  for (const auto& id : order)
    if (specs[id].wave < 0) reconcile_in_order(id);
  // PCRStatusController runs whenever volume statuses change: before the user volumes have a
  // status (1.12.11/1.13.8 wait for them) ...
  maybe_start_the_world();
  for (const auto& id : order)
    if (specs[id].wave >= 0) reconcile_in_order(id);
  maybe_start_the_world();  // ... and after.

  const bool was_running = running;
  running = std::all_of(order.begin(), order.end(), [&](const std::string& id) {
    auto it = statuses.find(id);
    if (it == statuses.end()) return false;
    return it->second.phase == volume::Phase::kReady || it->second.phase == volume::Phase::kMissing;
  });
  if (running && !was_running) note("running", "all volumes settled");
}

void Machine::State::settle() {
  // One pass reaches the fixed point: STATE (and with it the config and the salt) is handled
  // before the volumes that need them, in the same pass.
  pass();
}

}  // namespace cryptnode::controller
