// Talos' ApplyConfiguration rules that do not need a machine: which v1alpha1 changes can be
// applied without a reboot (≤1.13 CanApplyImmediate).
#pragma once

#include <string>
#include <vector>

namespace cryptnode::controller {

// v1alpha1 paths changed between two configs that are outside Talos' immediate-apply allow-list
// (internal/app/machined/internal/server/v1alpha1/v1alpha1_server.go, ≤1.13); empty when the
// change can be applied without a reboot. Only the v1alpha1 document is compared: VolumeConfig
// and UserVolumeConfig changes never force a reboot.
std::vector<std::string> changes_needing_reboot(const std::string& old_text,
                                                const std::string& new_text);

}  // namespace cryptnode::controller
