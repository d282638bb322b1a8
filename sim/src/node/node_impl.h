// Internals of sim::Node: the node directory, its Env (virtual clock, crash points), the hardware
// while powered on and Talos' controllers (controller::Machine) running on it.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "cryptnode/engine/controller/machine.h"
#include "cryptnode/sim/node.h"
#include "cryptnode/sim/node_lock.h"
#include "cryptnode/sim/sim_env.h"
#include "hardware.h"

namespace cryptnode::sim {

struct Node::Impl {
  explicit Impl(Env& host) : env(host), log(env) {}

  SimEnv env;
  std::string path;
  NodeSettings settings;
  std::unique_ptr<NodeLock> lock;
  controller::EventLog log;

  std::unique_ptr<Hardware> hw;                  // non-null while powered on
  std::unique_ptr<controller::Machine> machine;  // Talos' controllers of this power-on
  std::string last_crash;

  void power_on();
  void power_off(bool clean);
  void boot(const std::optional<std::string>& offered);  // power_on + the boot sequence
  void perform(controller::Action action);               // after apply-config / reset

  // Runs an operation; a PowerCut from an armed fault point cuts the power there.
  template <typename F>
  void guarded(F&& f) {
    try {
      f();
    } catch (const PowerCut& cut) {
      last_crash = cut.point;
      log.add("power", "cut at fault point " + cut.point);
      power_off(false);
    }
  }

  controller::Machine& on() const;  // Error(kFailedPrecondition) when powered off
  void save_settings();
};

}  // namespace cryptnode::sim
