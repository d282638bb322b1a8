#include "node_tpm.h"

#include "cryptnode/engine/error.h"
#include "cryptnode/engine/versions.h"
#include "cryptnode/sim/firmware_tpm_context.h"

namespace cryptnode::sim {

NodeTpm::NodeTpm(Env& env, const std::string& node_dir, const NodeSettings& settings)
    : env_(env),
      latency_ms_(settings.tpm_latency_ms),
      firmware_{settings.secure_boot, settings.setup_mode},
      uki_(build_release(
          versions::Version::parse(settings.talos_version).str(),
          PcrSigningKeys(env, node_dir + "/firmware").private_key_pem(settings.uki_vendor),
          ReleaseOptions{settings.uki_vendor})),
      swtpm_(env, node_dir) {
  swtpm_.start();
  try {
    measure_boot(*swtpm_.connect(), firmware_, uki_);
  } catch (...) {
    swtpm_.cut();
    throw;
  }
}

NodeTpm::~NodeTpm() {
  try {
    swtpm_.stop();
  } catch (...) {
  }
}

void NodeTpm::cut() {
  swtpm_.cut();
}

void NodeTpm::extend_phase(std::string_view phase) {
  sim::extend_phase(*swtpm_.connect(), phase);
}

tpm::TpmContext NodeTpm::context(std::function<void(const std::function<void()>&)> pcr11_lock) {
  if (latency_ms_ > 0) {
    auto* clock = dynamic_cast<VirtualClock*>(&env_.clock());
    if (!clock)
      throw Error(Code::kFailedPrecondition, "tpm_latency_ms needs the node's virtual clock");
    pcr11_lock = [lock = std::move(pcr11_lock), clock,
                  ms = latency_ms_](const std::function<void()>& fn) {
      lock([&] {
        try {
          fn();
        } catch (...) {
          clock->advance_ms(ms);  // a refusal takes as long
          throw;
        }
        clock->advance_ms(ms);  // the TPM answers `ms` later
      });
    };
  }
  return make_tpm_context(
      swtpm_, firmware_, [this]() -> const Uki* { return &uki_; }, std::move(pcr11_lock),
      env_.random());
}

void NodeTpm::clear() {
  swtpm_.clear();
}

}  // namespace cryptnode::sim
