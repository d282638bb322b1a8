#include "cryptnode/sim/sim_env.h"

#include "cryptnode/engine/error.h"

namespace cryptnode::sim {

void SimEnv::arm_crash(const std::string& point) {
  if (!is_fault_point(point)) {
    std::string known;
    for (const auto& p : fault_points()) known += (known.empty() ? "" : ", ") + std::string(p.name);
    throw Error(Code::kInvalidArgument,
                "crash_at: unknown fault point \"" + point + "\" (known: " + known + ")");
  }
  armed_ = point;
}

void SimEnv::on_fault_point(std::string_view name) {
  if (armed_ && *armed_ == name) {
    armed_.reset();
    throw PowerCut{std::string(name)};
  }
  EnvWrapper::on_fault_point(name);
}

}  // namespace cryptnode::sim
