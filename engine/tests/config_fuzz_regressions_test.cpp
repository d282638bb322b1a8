// Inputs the fuzz target fuzz/fuzz_config.cpp found against config::MachineConfig::parse and
// config::check: each ends in a decode error (go-yaml's text), never a hang or a crash.
#include <gtest/gtest.h>

#include "cryptnode/engine/config.h"
#include "cryptnode/engine/error.h"

using namespace cryptnode;

namespace {

std::string parse_error(const std::string& yaml) {
  try {
    config::MachineConfig::parse(yaml);
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Code::kConfigParse);
    return e.what();
  }
  return "";
}

// timeout-725c6c84: a ',' where a document's node starts made yaml-cpp 0.7's LoadAll return the
// same null document forever (a hang, and memory without bound); go-yaml fails the stream.
TEST(ConfigFuzzRegressions, CommaWhereADocumentStarts) {
  EXPECT_EQ(parse_error(","), "decode error: yaml: line 1: did not find expected node content");
  EXPECT_EQ(parse_error(",,,,version: v1alpha1\nmachine:\n  type: worker\n"),
            "decode error: yaml: line 1: did not find expected node content");
  EXPECT_EQ(parse_error("apiVersion: v1alpha1\nkind: VolumeConfig\nname: STATE\n---\n,\n"),
            "decode error: yaml: line 5: did not find expected node content");
  const auto errors = config::validate_text(",");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0], "decode error: yaml: line 1: did not find expected node content");
  const config::Report report = config::check(",\n", versions::default_version());
  ASSERT_EQ(report.errors.size(), 1u);
}

// What the guard must leave alone: commas inside scalars and flow collections, empty documents.
TEST(ConfigFuzzRegressions, CommasElsewhereStillParse) {
  EXPECT_EQ(parse_error("---\n---\n"), "");
  EXPECT_EQ(parse_error("apiVersion: v1alpha1\nkind: VolumeConfig\nname: EPHEMERAL\n"
                        "provisioning:\n  diskSelector:\n    match: 'disk.size > 1u, x'\n"),
            "");
  EXPECT_EQ(parse_error("apiVersion: v1alpha1\nkind: VolumeConfig\nname: EPHEMERAL\n"
                        "encryption:\n  provider: luks2\n  options: [no_read_workqueue, "
                        "same_cpu_crypt]\n  keys:\n    - nodeID: {}\n      slot: 0\n"),
            "");
}

}  // namespace
