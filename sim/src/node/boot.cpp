// The boot sequence of DESIGN.md §4 / TALOS-SPEC.md §7: META, STATE (open with META's config before
// the machine config is known), config, salt, META rewrite, EPHEMERAL and user volumes. settle() is
// one pass of Talos' controllers; it is re-run by the 30 s retry ticker while a volume has a
// retryable failure.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <sstream>

#include "cryptnode/engine/error.h"
#include "node_impl.h"

namespace cryptnode::sim {

void Node::Impl::log(const std::string& step, const std::string& message) {
  const auto now = std::chrono::steady_clock::now();
  events.push_back({clock_ms, std::chrono::duration<double, std::milli>(now - powered_at).count(),
                    step, message});
}

std::string Node::Impl::mount_point(const std::string& id) const {
  auto it = statuses.find(id);
  if (it == statuses.end() || it->second.mount_point.empty())
    throw Error(Code::kFailedPrecondition, "volume " + id + " is not mounted");
  return it->second.mount_point;
}

void Node::Impl::power_on() {
  if (hw) throw Error(Code::kFailedPrecondition, "node is already powered on");
  keys = KeyContext{settings.uuid, &salt, settings.pbkdf};
  statuses.clear();
  specs.clear();
  order.clear();
  active.reset();
  active_text.reset();
  salt.reset();
  maintenance = running = false;
  next_retry_ms = -1;
  try_rollback_ms.reset();
  try_previous.reset();
  powered_at = std::chrono::steady_clock::now();
  hw = power_on_hardware(path, settings, &keys);
  log("power", "on");
}

void Node::Impl::power_off(bool clean) {
  if (!hw) return;
  if (clean) {
    // Teardown in reverse processing order: user volumes, EPHEMERAL, STATE last.
    std::vector<std::string> ids = order;
    if (std::find(ids.begin(), ids.end(), "STATE") == ids.end() && statuses.count("STATE"))
      ids.push_back("STATE");
    std::reverse(ids.begin(), ids.end());
    for (const auto& id : ids) {
      auto st = statuses.find(id);
      if (st == statuses.end()) continue;
      if (!st->second.mount_point.empty()) hw->unmount(id);
      st->second.mount_point.clear();
      auto sp = specs.find(id);
      volume::VolumeSpec spec = sp != specs.end() ? sp->second : volume::VolumeSpec{id, id};
      if (sp == specs.end() && !st->second.encryption_provider.empty())
        spec.encryption = config::EncryptionSpec{};
      volume::close(spec, st->second, *hw);
    }
    hw.reset();
    log("power", "off");
  } else {
    hw->cut();
    hw.reset();
    log("power", "cut");
  }
  running = maintenance = false;
  salt.reset();
}

std::optional<std::string> Node::Impl::read_persisted_config() {
  std::ifstream f(mount_point("STATE") + "/config.yaml", std::ios::binary);
  if (!f) return std::nullopt;
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void Node::Impl::persist_config(const std::string& text) {
  // Talos: write config.yaml-tmp (0600) then rename over config.yaml.
  const std::string dir = mount_point("STATE");
  const std::string tmp = dir + "/config.yaml-tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f) throw Error(Code::kIO, "cannot write " + tmp);
    f << text;
    f.flush();
    if (!f) throw Error(Code::kIO, "cannot write " + tmp);
  }
  ::chmod(tmp.c_str(), 0600);
  if (::rename(tmp.c_str(), (dir + "/config.yaml").c_str()) != 0)
    throw_errno("rename config.yaml", errno);
  ::sync();
  log("config", "persisted config.yaml in STATE");
}

void Node::Impl::load_or_create_salt() {
  bool created = false;
  salt = load_or_create_salt_file(mount_point("STATE"), &created);
  log("salt", created ? "created encryption-salt.yaml in STATE" : "loaded encryption-salt.yaml");
}

void Node::Impl::write_state_meta() {
  const std::string meta = hw->meta_device();
  if (meta.empty() || !active) return;
  if (write_meta_state_encryption(meta, active->encryption_for("STATE")))
    log("meta", "wrote STATE encryption config (tag 0x09)");
}

void Node::Impl::activate_config(const std::string& text) {
  active = config::MachineConfig::parse(text);
  active_text = text;
  std::map<std::string, volume::VolumeSpec> previous = std::move(specs);
  specs = volume_specs();
  // A removed user-volume document closes its mapping (teardown) but does not wipe the
  // partition (TALOS-SPEC §7.4); its status goes away.
  for (auto& [id, spec] : previous) {
    if (specs.count(id) || id == "STATE" || id == "EPHEMERAL") continue;
    auto st = statuses.find(id);
    if (st != statuses.end() && hw) {
      if (!st->second.mount_point.empty()) hw->unmount(id);
      volume::close(spec, st->second, *hw);
      statuses.erase(st);
      log(id, "document removed: volume closed");
    }
  }
  order.clear();
  // Talos' processing order: STATE, EPHEMERAL (wave -1), then user volumes (wave 0) by id.
  order.push_back("STATE");
  order.push_back("EPHEMERAL");
  for (const auto& [id, spec] : specs)
    if (id != "STATE" && id != "EPHEMERAL") order.push_back(id);
  for (const auto& id : order) statuses[id].id = id;
  if (hw) write_state_meta();
  log("config", "machine config is active");
}

void Node::Impl::run_boot() {
  const std::string meta = hw->meta_device();
  MetaView view;
  if (!meta.empty()) {
    view = read_meta(meta);
    log("meta", std::string("read META: STATE encryption ") +
                    (view.state_encryption ? "configured" : "not configured") +
                    (view.uuid_override ? ", UUID override set" : ""));
  } else {
    log("meta", "no META partition");
  }
  if (view.uuid_override) keys.uuid = *view.uuid_override;
  specs["STATE"] = state_spec_before_config(view.state_encryption);
  statuses["STATE"].id = "STATE";
  settle();
}

void Node::Impl::settle() {
  if (!hw) return;
  bool persisted_now = false;
  // Stage 1: STATE and the machine config.
  if (!active) {
    volume::VolumeStatus& st = statuses["STATE"];
    volume::reconcile(specs["STATE"], st, *hw, *hw);
    if (st.phase == volume::Phase::kReady && st.mount_point.empty()) {
      st.mount_point = hw->mount(st);
      log("STATE", "mounted");
    }
    std::optional<std::string> text;
    bool from_state = false;
    if (st.phase == volume::Phase::kReady) {
      text = read_persisted_config();
      from_state = text.has_value();
    }
    if (!text && (st.phase == volume::Phase::kReady || st.phase == volume::Phase::kMissing) &&
        offered_config) {
      text = offered_config;
    }
    if (!text) {
      if (st.phase == volume::Phase::kReady || st.phase == volume::Phase::kMissing) {
        if (!maintenance)
          log("maintenance", "no machine config: waiting for apply-config --insecure");
        maintenance = true;
      } else {
        log("STATE", "boot waits for STATE: " + std::string(volume::phase_name(st.phase)) +
                         (st.error_message.empty() ? "" : ": " + st.error_message));
      }
    } else {
      maintenance = false;
      activate_config(*text);
      persisted_now = from_state;
    }
  }
  if (!active) {
    running = false;
    if (statuses["STATE"].phase == volume::Phase::kFailed && statuses["STATE"].retryable &&
        next_retry_ms < 0)
      next_retry_ms = clock_ms + kRetryIntervalMs;
    return;
  }

  // Stage 2: every volume of the active config, in order. Others wait for STATE (the salt).
  bool retry = false;
  for (const auto& id : order) {
    auto sp = specs.find(id);
    if (sp == specs.end()) continue;
    volume::VolumeStatus& st = statuses[id];
    const auto before = st.phase;
    volume::reconcile(sp->second, st, *hw, *hw);
    if (st.phase != before || !st.error_message.empty())
      log(id, std::string(volume::phase_name(st.phase)) +
                  (st.error_message.empty() ? "" : ": " + st.error_message));
    if (st.phase == volume::Phase::kFailed && st.retryable) retry = true;
    if (st.phase == volume::Phase::kReady && st.mount_point.empty() &&
        !sp->second.fs_type.empty()) {
      st.mount_point = hw->mount(st);
      log(id, "mounted");
    }
    if (id == "STATE") {
      if (st.phase != volume::Phase::kReady) break;
      if (!persisted_now && !read_persisted_config()) persist_config(*active_text);
      persisted_now = true;
      if (!salt) load_or_create_salt();
    }
  }
  const bool was_running = running;
  running = std::all_of(order.begin(), order.end(), [&](const std::string& id) {
    auto p = statuses[id].phase;
    return p == volume::Phase::kReady || p == volume::Phase::kMissing;
  });
  if (running && !was_running) log("running", "all volumes settled");
  next_retry_ms = retry ? clock_ms + kRetryIntervalMs : -1;
}

}  // namespace cryptnode::sim
