// talosctl-like operations with Talos v1.12 semantics (TALOS-SPEC.md §8): apply-config in its
// modes, maintenance-mode apply (--insecure), reset with --system-labels-to-wipe.
#include <algorithm>

#include "cryptnode/engine/error.h"
#include "node_impl.h"

namespace cryptnode::sim {
namespace {

constexpr int64_t kConfigTryTimeoutMs = 60'000;  // constants.ConfigTryTimeout

bool version_at_least(const std::string& v, int minor) {
  // "1.12" -> 12; the node only accepts 1.12..1.14 (node_settings.cpp).
  return std::stoi(v.substr(v.find('.') + 1)) >= minor;
}

std::string join(const std::vector<std::string>& v, const std::string& sep) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : sep) + s;
  return out;
}

}  // namespace

void rollback_try(Node::Impl& impl) {
  if (!impl.try_previous) return;
  impl.log("apply-config", "try timeout: rolling back to the previous config");
  std::string prev = *impl.try_previous;
  impl.try_previous.reset();
  impl.activate_config(prev);
  impl.settle();
}

std::string Node::apply_config(const std::string& yaml, const std::string& mode_in, bool insecure) {
  Impl& n = *impl_;
  static const char* const kModes[] = {"auto", "reboot", "no-reboot", "staged", "try"};
  if (std::find(std::begin(kModes), std::end(kModes), mode_in) == std::end(kModes))
    throw Error(Code::kInvalidArgument,
                "mode \"" + mode_in + "\" is not one of auto, reboot, no-reboot, staged, try");
  if (!n.hw) throw Error(Code::kFailedPrecondition, "node is not powered on");

  // Validation first: an invalid config changes nothing.
  std::vector<std::string> errors = config::validate_text(yaml);
  if (!errors.empty()) throw Error(Code::kConfigInvalid, join(errors, "\n"));

  const bool v114 = version_at_least(n.settings.talos_version, 14);
  std::string mode = mode_in;

  if (n.maintenance) {
    if (!insecure)
      throw Error(Code::kFailedPrecondition,
                  "the node is in maintenance mode: apply the config with insecure=True "
                  "(talosctl apply-config --insecure)");
    // ≤1.12's maintenance server accepts try|reboot|auto; from 1.13 the regular API serves
    // maintenance and reboot is coerced to no-reboot.
    if (!version_at_least(n.settings.talos_version, 13) && mode != "try" && mode != "reboot" &&
        mode != "auto")
      throw Error(Code::kInvalidArgument,
                  "apply-config mode " + mode + " is not supported in maintenance mode");
    n.log("apply-config", "config received in maintenance mode");
    n.maintenance = false;
    n.activate_config(yaml);
    n.settle();
    return mode == "try" ? "try" : "no-reboot";
  }
  if (insecure)
    throw Error(Code::kFailedPrecondition,
                "apply-config --insecure is only accepted in maintenance mode");
  if (!n.active || n.statuses["STATE"].phase != volume::Phase::kReady)
    throw Error(Code::kFailedPrecondition, "the node has no ready STATE to store the config in");

  if (v114) {
    if (mode == "reboot")
      throw Error(Code::kUnsupported,
                  "the REBOOT mode is not supported, please use AUTO or NO_REBOOT modes instead");
    if (mode == "auto") mode = "no-reboot";
  } else {
    std::vector<std::string> needs = changes_needing_reboot(*n.active_text, yaml);
    if (mode == "auto") mode = needs.empty() ? "no-reboot" : "reboot";
    if ((mode == "no-reboot" || mode == "try") && !needs.empty())
      throw Error(
          Code::kInvalidArgument,
          "this config change can't be applied in immediate mode\ndiff:\n" + join(needs, "\n"));
  }

  n.log("apply-config", "mode " + mode);
  if (mode == "staged") {
    n.persist_config(yaml);
  } else if (mode == "reboot") {
    n.persist_config(yaml);
    reboot();
  } else if (mode == "no-reboot") {
    n.persist_config(yaml);
    n.try_previous.reset();
    n.try_rollback_ms.reset();
    n.activate_config(yaml);
    n.settle();  // new volumes act now; ready volumes keep their keys until the next boot
  } else {       // try: activate only, roll back after the timeout
    n.try_previous = n.active_text;
    n.try_rollback_ms = n.clock_ms + kConfigTryTimeoutMs;
    n.activate_config(yaml);
    n.settle();
  }
  return mode;
}

void Node::reset(const std::vector<std::string>& labels, bool reboot_after, bool graceful) {
  Impl& n = *impl_;
  if (!n.hw) throw Error(Code::kFailedPrecondition, "node is not powered on");
  if (n.maintenance && !labels.empty())
    throw Error(Code::kFailedPrecondition,
                "system partitions to wipe are not supported in maintenance mode");
  // Resolve every label first: an unknown label changes nothing.
  std::vector<volume::VolumeStatus> targets;
  for (const auto& label : labels) {
    auto it = n.statuses.find(label);
    if (it == n.statuses.end())
      throw Error(Code::kNotFound, "failed to get volume status with label \"" + label + "\"");
    if (it->second.location.empty())
      throw Error(Code::kFailedPrecondition,
                  "failed to reset: volume \"" + label + "\" is not located");
    targets.push_back(it->second);
  }
  n.log("reset", "wiping " + join(labels, ", ") + (graceful ? " (graceful)" : ""));

  // Stop services, unmount, close every volume, then wipe the targets while nothing is open.
  for (auto it = n.order.rbegin(); it != n.order.rend(); ++it) {
    auto st = n.statuses.find(*it);
    if (st == n.statuses.end()) continue;
    if (!st->second.mount_point.empty()) n.hw->unmount(*it);
    st->second.mount_point.clear();
    volume::close(n.specs[*it], st->second, *n.hw);
  }
  if (n.order.empty() && n.statuses.count("STATE")) {
    auto& st = n.statuses["STATE"];
    if (!st.mount_point.empty()) n.hw->unmount("STATE");
    st.mount_point.clear();
    volume::close(n.specs["STATE"], st, *n.hw);
  }
  bool state_wiped = false, meta_wiped = false;
  for (const auto& t : targets) {
    n.hw->wipe_partition(t);
    n.log("reset", "wiped " + t.id + " and deleted its partition");
    state_wiped |= t.id == "STATE";
    meta_wiped |= t.id == "META";
  }
  if (state_wiped && !meta_wiped && !n.hw->meta_device().empty() &&
      delete_meta_state_encryption(n.hw->meta_device()))
    n.log("reset", "reset the state encryption META config tag");

  n.power_off(true);
  if (reboot_after) {
    n.power_on();
    n.offered_config.reset();
    n.run_boot();
  }
}

}  // namespace cryptnode::sim
