// talosctl apply-config (ApplyConfiguration in internal/app/machined/internal/server/v1alpha1/
// v1alpha1_server.go; docs/talos/apply-config-and-reset.md): validation first, then the mode
// rules of the node's Talos version, maintenance mode (--insecure), and try with its rollback.
#include "cryptnode/engine/controller/apply_config.h"

#include <algorithm>

#include "cryptnode/engine/error.h"
#include "machine_state.h"

namespace cryptnode::controller {
namespace {

bool rule(const Machine::State& s, versions::Rule r) {
  return versions::applies(r, s.version);
}

// configloader.NewFromBytes + Validate: a parse error as Talos prints it, validation errors as
// the container's multierror. `prefix` is the maintenance server's wrapping in 1.12.
config::MachineConfig load_and_validate(const std::string& yaml, const versions::Version& v,
                                        const std::string& parse_prefix,
                                        const std::string& validation_prefix) {
  std::optional<config::MachineConfig> cfg;
  try {
    cfg = config::MachineConfig::parse(yaml, v);
  } catch (const Error& e) {
    throw Error(e.code(), parse_prefix + e.what());
  }
  std::vector<std::string> errors = cfg->validate();
  if (!errors.empty())
    throw Error(Code::kConfigInvalid, validation_prefix + config::format_multierror(errors));
  return std::move(*cfg);
}

}  // namespace

Action Machine::apply_config(const std::string& yaml, const std::string& mode_in, bool insecure,
                             std::string* applied) {
  State& s = *s_;
  static const char* const kModes[] = {"auto", "reboot", "no-reboot", "staged", "try"};
  if (std::find(std::begin(kModes), std::end(kModes), mode_in) == std::end(kModes))
    throw Error(Code::kInvalidArgument,
                "mode \"" + mode_in + "\" is not one of auto, reboot, no-reboot, staged, try");
  std::string mode = mode_in;
  auto result = [&](const std::string& m) {
    if (applied) *applied = m;
  };

  if (s.maintenance) {
    if (!insecure)
      throw Error(Code::kFailedPrecondition,
                  "the node is in maintenance mode: apply the config with insecure=True "
                  "(talosctl apply-config --insecure)");
    if (!rule(s, versions::Rule::kMaintenanceApplyByMachined)) {
      // ≤1.12: the maintenance server (internal/app/maintenance/server.go) takes try, reboot and
      // auto only, and wraps errors its own way.
      if (mode != "try" && mode != "reboot" && mode != "auto")
        throw Error(Code::kUnsupported, "apply configuration --mode='" + mode +
                                            "' is not supported in maintenance mode");
      load_and_validate(yaml, s.version,
                        "failed to parse config: ", "configuration validation failed: ");
    } else {
      // From 1.13 machined serves maintenance: reboot is coerced to no-reboot, no v1alpha1 check.
      load_and_validate(yaml, s.version, "", "");
    }
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

  // Validation first: an invalid config changes nothing.
  config::MachineConfig cfg = load_and_validate(yaml, s.version, "", "");
  if (!cfg.v1alpha1())
    throw Error(Code::kInvalidArgument,
                "the applied machine configuration doesn't contain v1alpha1 config, did you mean "
                "to patch the machine config instead?");
  if (!s.active || s.statuses["STATE"].phase != volume::Phase::kReady)
    throw Error(Code::kFailedPrecondition, "the node has no ready STATE to store the config in");

  if (rule(s, versions::Rule::kApplyModeRebootRemoved) && mode == "reboot")
    throw Error(Code::kUnsupported,
                "the REBOOT mode is not supported, please use AUTO or NO_REBOOT modes instead");
  if (rule(s, versions::Rule::kApplyModeAutoIsNoReboot)) {
    if (mode == "auto") mode = "no-reboot";
  } else {
    // CanApplyImmediate: only the v1alpha1 document, against the allow-list.
    const std::string refusal = immediate_apply_refusal(*s.active_text, yaml);
    if (mode == "auto") mode = refusal.empty() ? "no-reboot" : "reboot";
    if ((mode == "no-reboot" || mode == "try") && !refusal.empty())
      throw Error(Code::kInvalidArgument, refusal);
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
