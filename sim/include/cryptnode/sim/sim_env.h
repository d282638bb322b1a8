// The simulated node's Env: the host's Env with the node's own virtual clock (time moves only
// when the node advances it, across reboots too) and `crash_at`: when the armed fault point is
// reached, the node loses power right there.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "cryptnode/engine/env.h"

namespace cryptnode::sim {

// Thrown from an armed fault point; the node catches it and cuts the power. It is not an Error:
// nothing in the engine may handle it as a failure of the step it interrupts. `point` is what was
// armed ("<point>" or "<point>#<N>").
struct PowerCut {
  std::string point;
};

class SimEnv final : public EnvWrapper {
 public:
  explicit SimEnv(Env& host) : EnvWrapper(host) {}

  Clock& clock() override { return clock_; }
  VirtualClock& virtual_clock() { return clock_; }

  // Arms one fault point: "<point>" (a name of fault_points()) fires the first time the point is
  // reached, "<point>#<N>" the Nth time, counted from now, across reboots. Error(kInvalidArgument)
  // naming the known points otherwise. An armed point fires once; "" disarms.
  void arm_crash(const std::string& spec);
  void disarm_crash();
  const std::optional<std::string>& armed_crash() const { return armed_; }

 protected:
  void on_fault_point(std::string_view name) override;

 private:
  VirtualClock clock_;
  std::optional<std::string> armed_;  // as armed, with its "#N"
  std::string armed_point_;
  int remaining_ = 0;  // reaches of armed_point_ left until the cut
};

}  // namespace cryptnode::sim
