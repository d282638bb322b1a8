// talosctl reset --system-labels-to-wipe (Server.Reset and the sequencer's ResetSystemDisk;
// docs/talos/apply-config-and-reset.md): every label resolved first (an unknown one changes
// nothing), volumes closed, targets wiped and their GPT entries deleted, META's tag 0x09 removed
// when STATE is wiped without META.
#include "cryptnode/engine/error.h"
#include "machine_state.h"

namespace cryptnode::controller {
namespace {

std::string join(const std::vector<std::string>& v, const std::string& sep) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : sep) + s;
  return out;
}

}  // namespace

Action Machine::reset(const std::vector<std::string>& labels, bool reboot, bool graceful) {
  State& s = *s_;
  if (s.maintenance && !labels.empty())
    throw Error(Code::kFailedPrecondition,
                "system partitions to wipe are not supported in maintenance mode");
  std::vector<volume::VolumeStatus> targets;
  for (const auto& label : labels) {
    auto it = s.statuses.find(label);
    if (it == s.statuses.end())
      throw Error(Code::kNotFound, "failed to get volume status with label \"" + label + "\"");
    if (it->second.location.empty())
      throw Error(Code::kFailedPrecondition,
                  "failed to reset: volume \"" + label + "\" is not located");
    targets.push_back(it->second);
  }
  s.note("reset", "wiping " + join(labels, ", ") + (graceful ? " (graceful)" : ""));

  // Stop services, unmount, close every volume, then wipe the targets while nothing is open.
  s.teardown();
  bool state_wiped = false, meta_wiped = false;
  for (const auto& t : targets) {
    s.host.wipe_partition(t);
    s.note("reset", "wiped " + t.id + " and deleted its partition");
    state_wiped |= t.id == "STATE";
    meta_wiped |= t.id == "META";
  }
  if (state_wiped && !meta_wiped && s.delete_state_meta())
    s.note("reset", "reset the state encryption META config tag");
  return reboot ? Action::kReboot : Action::kPowerOff;
}

}  // namespace cryptnode::controller
