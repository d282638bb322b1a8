// Parser vectors (engine/tests/data/cel/parse_celgo.txt, taken from cel-go's parser tests) and
// the parser's limits: nothing may crash or recurse without bound, whatever the input.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "../src/cel/ast.h"
#include "cryptnode/engine/cel.h"

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

std::string parse_text(const std::string& expr, const cryptnode::cel::ParseOptions& options) {
  cryptnode::cel::Source source(expr);
  cryptnode::cel::ParseResult r = cryptnode::cel::parse(source, options);
  if (r.issues.empty()) return "";
  return cryptnode::cel::render_issues(source, r.issues, r.reported);
}

// The options of cel-go's parser_test.go default test parser.
cryptnode::cel::ParseOptions celgo_test_options() {
  cryptnode::cel::ParseOptions o;
  o.max_recursion_depth = 32;
  o.error_recovery_limit = 4;
  o.lookahead_token_limit = 4;
  return o;
}

TEST(CelParse, CelGoVectors) {
  auto records = read_records("parse_celgo.txt");
  ASSERT_GT(records.size(), 150u);
  for (const auto& r : records) {
    SCOPED_TRACE("parse_celgo.txt:" + std::to_string(r.line));
    EXPECT_EQ(parse_text(r.sections.at("expr"), celgo_test_options()), r.sections.at("want"));
  }
}

TEST(CelParse, DefaultLimitsAreCelGos) {
  using cryptnode::cel::Environment;
  // 250 nested parentheses are fine, 251 are not (parser.go recursionListener, limit 250).
  auto nest = [](int n) { return std::string(n, '(') + "true" + std::string(n, ')'); };
  EXPECT_EQ(cryptnode::cel::check(nest(249), Environment::kDiskLocator), "");
  EXPECT_EQ(cryptnode::cel::check(nest(300), Environment::kDiskLocator),
            "ERROR: <input>:-1:0: expression recursion limit exceeded: 250");
  // 251 chained operators exceed the visitor's depth (parser.go checkAndIncrementRecursionDepth).
  std::string chain = "1";
  for (int i = 0; i < 251; ++i) chain += " + 1";
  EXPECT_EQ(cryptnode::cel::check(chain + " > 0", Environment::kDiskLocator),
            "ERROR: <input>:-1:0: max recursion depth exceeded");
  // Input size (parser.go / cel/env.go: 100000 code points).
  std::string big = "system_disk || " + std::string(100000, ' ') + "true";
  EXPECT_EQ(cryptnode::cel::check(big, Environment::kDiskLocator),
            "ERROR: <input>:-1:0: expression code point size exceeds limit: size: 100019, limit "
            "100000");
}

TEST(CelParse, NeverCrashesOnArbitraryInput) {
  // A deterministic fuzz: random token soup and random bytes must yield a text, never a crash.
  static const char* kPieces[] = {"disk", ".",   "size", "(",    ")",  "[",   "]",   "{",    "}",
                                  ",",    ":",   "?",    "!",    "-",  "+",   "*",   "/",    "%",
                                  "==",   "!=",  "<",    ">=",   "&&", "||",  "in",  "1",    "1u",
                                  "1.5",  "'a'", "\"x",  "b'",   "`",  "has", "all", "true", "null",
                                  " ",    "\n",  "GiB",  "glob", "=",  "&",   "|",   "@"};
  std::mt19937 rng(1234);
  for (int i = 0; i < 3000; ++i) {
    std::string expr;
    int len = static_cast<int>(rng() % 40);
    for (int k = 0; k < len; ++k) expr += kPieces[rng() % (sizeof(kPieces) / sizeof(*kPieces))];
    std::string text = cryptnode::cel::check(expr, cryptnode::cel::Environment::kDiskLocator);
    if (!text.empty()) {
      EXPECT_TRUE(text.rfind("ERROR: <input>:", 0) == 0 ||
                  text.rfind("expression output type is ", 0) == 0)
          << expr << "\n"
          << text;
    }
  }
  for (int i = 0; i < 2000; ++i) {
    std::string expr;
    int len = static_cast<int>(rng() % 64);
    for (int k = 0; k < len; ++k) expr += static_cast<char>(rng() % 256);
    cryptnode::cel::check(expr, cryptnode::cel::Environment::kVolumeLocator);
  }
  // Deep structures of every nesting kind stop at the limit instead of exhausting the stack.
  for (const char* open : {"(", "[", "{1:", "!(", "-(", "a[", "f(", "x ? y : "}) {
    std::string expr;
    for (int k = 0; k < 20000; ++k) expr += open;
    EXPECT_FALSE(cryptnode::cel::check(expr, cryptnode::cel::Environment::kDiskLocator).empty());
  }
}

}  // namespace
