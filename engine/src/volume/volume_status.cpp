#include "cryptnode/engine/volume_status.h"

namespace cryptnode::volume {

std::string_view phase_name(Phase p) {
  switch (p) {
    case Phase::kWaiting:
      return "waiting";
    case Phase::kMissing:
      return "missing";
    case Phase::kLocated:
      return "located";
    case Phase::kProvisioned:
      return "provisioned";
    case Phase::kPrepared:
      return "prepared";
    case Phase::kReady:
      return "ready";
    case Phase::kFailed:
      return "failed";
    case Phase::kClosed:
      return "closed";
  }
  return "waiting";
}

}  // namespace cryptnode::volume
