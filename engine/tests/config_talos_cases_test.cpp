// The runner of engine/tests/data/config/talos_validation_cases.yaml: Talos' own validation
// tables (pkg/machinery/config/types/block/*_test.go, container_test.go) through
// MachineConfig::parse / validate, with Talos' exact texts, at each Talos version a case names.
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include "cryptnode/engine/config.h"
#include "cryptnode/engine/error.h"

using namespace cryptnode;
using namespace cryptnode::config;

namespace {

std::vector<versions::Version> case_versions(const YAML::Node& c) {
  if (!c["version"]) return {versions::default_version()};
  if (c["version"].IsScalar()) return {versions::Version::parse(c["version"].as<std::string>())};
  std::vector<versions::Version> out;
  for (const auto& v : c["version"]) out.push_back(versions::Version::parse(v.as<std::string>()));
  return out;
}

}  // namespace

TEST(TalosValidationCases, EveryCase) {
  const YAML::Node root = YAML::LoadFile(std::string(CRYPTNODE_SOURCE_DIR) +
                                         "/engine/tests/data/config/talos_validation_cases.yaml");
  int ran = 0;
  for (const auto& c : root["cases"]) {
    const std::string text = c["config"].as<std::string>();
    for (const versions::Version& version : case_versions(c)) {
      const std::string source = c["source"].as<std::string>() + " @" + version.str();
      ++ran;
      if (c["parse_error"]) {
        try {
          MachineConfig::parse(text, version);
          ADD_FAILURE() << source << ": parsed";
        } catch (const Error& e) {
          EXPECT_EQ(e.code(), Code::kConfigParse) << source;
          EXPECT_EQ(std::string(e.what()), c["parse_error"].as<std::string>()) << source;
        }
        continue;
      }
      std::vector<std::string> want;
      for (const auto& e : c["errors"]) want.push_back(e.as<std::string>());
      const std::vector<std::string> got = validate_text(text, version);
      EXPECT_EQ(got, want) << source;
      if (c["multierror"]) {
        EXPECT_EQ(format_multierror(got), c["multierror"].as<std::string>()) << source;
      }
    }
  }
  EXPECT_GT(ran, 100);
}
