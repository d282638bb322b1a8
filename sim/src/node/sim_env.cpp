#include "cryptnode/sim/sim_env.h"

#include <charconv>

#include "cryptnode/engine/error.h"

namespace cryptnode::sim {

// "<point>" or "<point>#<N>" (docs/fault-points.md#naming-one-instance): the point and which time
// it is reached, counted from the arming, that cuts the power.
void SimEnv::arm_crash(const std::string& spec) {
  if (spec.empty()) {
    disarm_crash();
    return;
  }
  const size_t hash = spec.find('#');
  const std::string point = spec.substr(0, hash);
  int nth = 1;
  if (hash != std::string::npos) {
    const std::string count = spec.substr(hash + 1);
    const auto [end, ec] = std::from_chars(count.data(), count.data() + count.size(), nth);
    if (ec != std::errc() || end != count.data() + count.size() || nth < 1)
      throw Error(Code::kInvalidArgument,
                  "crash_at: \"" + spec +
                      "\": the count after '#' must be a whole number from 1 (the Nth time the "
                      "point is reached)");
  }
  if (!is_fault_point(point)) {
    std::string known;
    for (const auto& p : fault_points()) known += (known.empty() ? "" : ", ") + std::string(p.name);
    throw Error(Code::kInvalidArgument,
                "crash_at: unknown fault point \"" + point + "\"" +
                    (hash == std::string::npos ? "" : " in \"" + spec + "\"") +
                    " (known: " + known + ")");
  }
  armed_ = spec;
  armed_point_ = point;
  remaining_ = nth;
}

void SimEnv::disarm_crash() {
  armed_.reset();
  armed_point_.clear();
  remaining_ = 0;
}

void SimEnv::on_fault_point(std::string_view name) {
  if (armed_ && armed_point_ == name && --remaining_ == 0) {
    PowerCut cut{*armed_};
    disarm_crash();
    throw cut;
  }
  EnvWrapper::on_fault_point(name);
}

}  // namespace cryptnode::sim
