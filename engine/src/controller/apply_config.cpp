// talosctl apply-config (ApplyConfiguration in internal/app/machined/internal/server/v1alpha1/
// v1alpha1_server.go; docs/talos/apply-config-and-reset.md): validation first, then the mode
// rules of the node's Talos version, maintenance mode (--insecure), and try with its rollback.
#include "cryptnode/engine/controller/apply_config.h"

#include <algorithm>

#include "cryptnode/engine/error.h"
#include "machine_state.h"

namespace cryptnode::controller {
namespace {

bool version_at_least(const std::string& v, int minor) {
  // "1.12" -> 12; the node only accepts 1.12..1.14.
  return std::stoi(v.substr(v.find('.') + 1)) >= minor;
}

std::string join(const std::vector<std::string>& v, const std::string& sep) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : sep) + s;
  return out;
}

}  // namespace

Action Machine::apply_config(const std::string& yaml, const std::string& mode_in, bool insecure,
                             std::string* applied) {
  State& s = *s_;
  static const char* const kModes[] = {"auto", "reboot", "no-reboot", "staged", "try"};
  if (std::find(std::begin(kModes), std::end(kModes), mode_in) == std::end(kModes))
    throw Error(Code::kInvalidArgument,
                "mode \"" + mode_in + "\" is not one of auto, reboot, no-reboot, staged, try");

  // Validation first: an invalid config changes nothing.
  std::vector<std::string> errors = config::validate_text(yaml);
  if (!errors.empty()) throw Error(Code::kConfigInvalid, join(errors, "\n"));

  const std::string& version = s.settings.talos_version;
  std::string mode = mode_in;
  auto result = [&](const std::string& m) {
    if (applied) *applied = m;
  };

  if (s.maintenance) {
    if (!insecure)
      throw Error(Code::kFailedPrecondition,
                  "the node is in maintenance mode: apply the config with insecure=True "
                  "(talosctl apply-config --insecure)");
    // ≤1.12's maintenance server accepts try|reboot|auto; from 1.13 the regular API serves
    // maintenance and reboot is coerced to no-reboot.
    if (!version_at_least(version, 13) && mode != "try" && mode != "reboot" && mode != "auto")
      throw Error(Code::kInvalidArgument,
                  "apply-config mode " + mode + " is not supported in maintenance mode");
    s.note("apply-config", "config received in maintenance mode");
    s.maintenance = false;
    s.activate_config(yaml);
    s.settle();
    result(mode == "try" ? "try" : "no-reboot");
    return Action::kNone;
  }
  if (insecure)
    throw Error(Code::kFailedPrecondition,
                "apply-config --insecure is only accepted in maintenance mode");
  if (!s.active || s.statuses["STATE"].phase != volume::Phase::kReady)
    throw Error(Code::kFailedPrecondition, "the node has no ready STATE to store the config in");

  if (version_at_least(version, 14)) {
    if (mode == "reboot")
      throw Error(Code::kUnsupported,
                  "the REBOOT mode is not supported, please use AUTO or NO_REBOOT modes instead");
    if (mode == "auto") mode = "no-reboot";
  } else {
    std::vector<std::string> needs = changes_needing_reboot(*s.active_text, yaml);
    if (mode == "auto") mode = needs.empty() ? "no-reboot" : "reboot";
    if ((mode == "no-reboot" || mode == "try") && !needs.empty())
      throw Error(
          Code::kInvalidArgument,
          "this config change can't be applied in immediate mode\ndiff:\n" + join(needs, "\n"));
  }

  s.note("apply-config", "mode " + mode);
  result(mode);
  if (mode == "staged") {
    s.persist_config(yaml);
    s.env.fault_point("apply_config.after_persist");
    return Action::kNone;
  }
  if (mode == "reboot") {
    s.persist_config(yaml);
    s.env.fault_point("apply_config.after_persist");
    return Action::kReboot;
  }
  if (mode == "no-reboot") {
    s.persist_config(yaml);
    s.env.fault_point("apply_config.after_persist");
    s.try_previous.reset();
    s.try_rollback_ms.reset();
  } else {  // try: activate only, roll back after the timeout
    s.try_previous = s.active_text;
    s.try_rollback_ms = s.env.clock().now_ms() + kConfigTryTimeoutMs;
  }
  s.env.fault_point("apply_config.before_meta");
  s.activate_config(yaml);
  s.settle();  // new volumes act now; ready volumes keep their keys until the next boot
  return Action::kNone;
}

}  // namespace cryptnode::controller
