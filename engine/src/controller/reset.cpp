// talosctl reset --system-labels-to-wipe (Server.Reset and the sequencer's ResetSystemDisk;
// docs/talos/apply-config-and-reset.md): every label resolved first (an unknown one changes
// nothing; before 1.9.6/1.10.0 one that is not ready is refused), volumes closed, targets wiped
// and (1.12+) their GPT entries deleted, META's tag 0x09 removed when STATE is wiped without META.
#include <algorithm>

#include "cryptnode/engine/error.h"
#include "cryptnode/engine/versions.h"
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
                "system partitions to wipe params is not supported in the maintenance mode");
  // Every label must resolve to a volume status first: an unknown one changes nothing. META (and
  // the other partitions Talos reports a VolumeStatus for) resolve too.
  std::vector<volume::VolumeStatus> targets;
  for (const auto& label : labels) {
    auto it = s.statuses.find(label);
    // Before 1.9.6/1.10.0 only a ready volume could be reset (talos#10653): a volume stuck after
    // switching it to encrypted could not be wiped to get it formatted again.
    if (it != s.statuses.end() && it->second.phase != volume::Phase::kReady &&
        !versions::applies(versions::Rule::kResetNotReadyVolume, s.version))
      throw Error(Code::kFailedPrecondition,
                  "failed to reset: volume \"" + label + "\" is not ready");
    if (it != s.statuses.end() && !it->second.location.empty()) {
      targets.push_back(it->second);
      continue;
    }
    // From 1.14 a volume without a block device of its own (a directory volume: /var/mnt/<name>
    // on EPHEMERAL, system.FindBackingVolume) is wiped with the volume it resides on, which must
    // be in the list too; before, it is "not located" like any volume without a location.
    if (it != s.statuses.end() && it->second.type == "directory" &&
        versions::applies(versions::Rule::kResetResidesOnVolumeCheck, s.version)) {
      const std::string backing = "EPHEMERAL";
      if (std::find(labels.begin(), labels.end(), backing) == labels.end())
        throw Error(Code::kFailedPrecondition,
                    "failed to reset: volume \"" + label + "\" resides on volume \"" + backing +
                        "\", and therefore \"" + label + "\" cannot be wiped without wiping \"" +
                        backing + "\"");
      continue;
    }
    volume::VolumeSpec probe_spec;
    probe_spec.id = probe_spec.label = label;
    std::optional<volume::Located> where;
    if (!label.empty() && it == s.statuses.end()) where = s.host.locate(probe_spec);
    if (!where) {
      if (it != s.statuses.end())
        throw Error(Code::kFailedPrecondition,
                    "failed to reset: volume \"" + label + "\" is not located");
      throw Error(Code::kNotFound, "failed to get volume status with label \"" + label + "\"");
    }
    volume::VolumeStatus st;
    st.id = label;
    st.location = where->location;
    st.parent_location = where->parent_location;
    st.partition_index = where->partition_index;
    targets.push_back(st);
  }
  s.note("reset",
         (labels.empty() ? std::string("wiping the system disk") : "wiping " + join(labels, ", ")) +
             (graceful ? " (graceful)" : ""));

  // Stop services, unmount, close every volume, then wipe the targets while nothing is open.
  s.teardown();
  if (labels.empty()) {
    s.host.wipe_system_disk();
    s.note("reset", "wiped the system disk");
    return reboot ? Action::kReboot : Action::kPowerOff;
  }
  bool state_wiped = false, meta_wiped = false;
  for (const auto& t : targets) {
    // internal/pkg/partition/wipe.go: from 1.12 (399240be3) the wipe also drops the partition;
    // before, the GPT entry stays and the next boot finds the volume empty.
    const bool drop = versions::applies(versions::Rule::kResetDropsPartition, s.version);
    s.host.wipe_partition(t, drop);
    s.note("reset", "wiped " + t.id + (drop ? " and deleted its partition" : ""));
    state_wiped |= t.id == "STATE";
    meta_wiped |= t.id == "META";
  }
  if (state_wiped && !meta_wiped && s.delete_state_meta())
    s.note("reset", "reset the state encryption META config tag");
  return reboot ? Action::kReboot : Action::kPowerOff;
}

}  // namespace cryptnode::controller
