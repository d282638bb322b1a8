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

// CanApplyImmediate's refusal: "" when the change can be applied without a reboot, else
// "this config change can't be applied in immediate mode\ndiff:\n<unified diff>" — the diff of
// the two v1alpha1 documents after the allowed paths of the new one were reset to the old values
// (Talos: textdiff of the encoded configs, "--- a\n+++ b\n@@ ... @@" hunks with 3 lines of
// context). Decision: the lines are cryptnode's YAML rendering of the documents, not Go's encoder
// output, so key order and quoting can differ from a real node's diff; the changed keys are the
// same.
std::string immediate_apply_refusal(const std::string& old_text, const std::string& new_text);

// A unified diff of two texts, Talos' textdiff shape ("" when equal).
std::string unified_diff(const std::string& a, const std::string& b);

}  // namespace cryptnode::controller
