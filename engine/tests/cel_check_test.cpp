// Check vectors (engine/tests/data/cel/check.txt): cel::check() against Talos' and cel-go's texts.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "cryptnode/engine/cel.h"
#include "cryptnode/engine/error.h"

namespace {

// One "%% <kind> <args>" record: named sections of lines.
struct Record {
  std::string kind;
  std::string arg;
  std::map<std::string, std::string> sections;
  int line = 0;
};

std::vector<Record> read_records(const std::string& name) {
  std::ifstream in(std::string(CRYPTNODE_SOURCE_DIR) + "/engine/tests/data/cel/" + name);
  std::vector<Record> out;
  std::string line;
  Record cur;
  std::string section;
  std::vector<std::string> lines;
  int n = 0;
  auto flush_section = [&] {
    if (section.empty()) return;
    std::string text;
    for (size_t i = 0; i < lines.size(); ++i) text += (i ? "\n" : "") + lines[i];
    cur.sections[section] = text;
    lines.clear();
  };
  while (std::getline(in, line)) {
    ++n;
    if (line.rfind("%% ", 0) == 0 || line == "%% want" || line == "%% end") {
      flush_section();
      std::istringstream words(line.substr(3));
      std::string head, arg;
      words >> head >> arg;
      if (head == "end") {
        out.push_back(cur);
        cur = Record{};
        section.clear();
      } else if (head == "want" || head == "facts") {
        section = head;
      } else {
        cur.kind = head;
        cur.arg = arg;
        cur.line = n;
        section = "expr";
      }
      continue;
    }
    if (!section.empty()) lines.push_back(line);
  }
  return out;
}

cryptnode::cel::Environment env_of(const std::string& s) {
  return s == "volume" ? cryptnode::cel::Environment::kVolumeLocator
                       : cryptnode::cel::Environment::kDiskLocator;
}

TEST(CelCheck, Vectors) {
  auto records = read_records("check.txt");
  ASSERT_GT(records.size(), 100u);
  for (const auto& r : records) {
    SCOPED_TRACE("check.txt:" + std::to_string(r.line) + ": " + r.sections.at("expr"));
    EXPECT_EQ(cryptnode::cel::check(r.sections.at("expr"), env_of(r.arg)), r.sections.at("want"));
  }
}

TEST(CelCheck, TalosWrapsTheTextAfterItsPrefix) {
  // pkg/machinery/config/types/block/volume_config_test.go: the whole validation error.
  EXPECT_EQ("disk selector is invalid: " +
                cryptnode::cel::check("disk.size > 120", cryptnode::cel::Environment::kDiskLocator),
            "disk selector is invalid: ERROR: <input>:1:11: found no matching overload for '_>_' "
            "applied to '(uint, int)'\n | disk.size > 120\n | ..........^");
}

TEST(CelCheck, CompileThrowsConfigInvalid) {
  try {
    cryptnode::cel::Program::compile("disk.size", cryptnode::cel::Environment::kDiskLocator);
    FAIL() << "compiled a non-bool expression";
  } catch (const cryptnode::Error& e) {
    EXPECT_EQ(e.code(), cryptnode::Code::kConfigInvalid);
    EXPECT_STREQ(e.what(), "expression output type is uint, expected bool");
  }
}

}  // namespace
