#include "yaml_reader.h"

#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdlib>

#include "cryptnode/engine/error.h"

namespace cryptnode::config::detail {

int line_of(const YAML::Node& n) {
  if (!n.IsDefined()) return 0;
  const YAML::Mark m = n.Mark();
  return m.line >= 0 ? m.line + 1 : 0;
}

void Reader::fail(const YAML::Node& at, const std::string& message) const {
  std::string m = document_;
  if (int line = line_of(at); line > 0) m += ": line " + std::to_string(line);
  throw Error(Code::kConfigParse, m + ": " + message);
}

namespace {
std::string type_name(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Scalar:
      return "a scalar";
    case YAML::NodeType::Null:
      return "null";
    default:
      return "nothing";
  }
}
}  // namespace

void Reader::expect_map(const YAML::Node& n, const std::string& path) const {
  if (!n.IsMap()) fail(n, "field " + path + " must be a mapping, not " + type_name(n));
}

void Reader::expect_sequence(const YAML::Node& n, const std::string& path) const {
  if (!n.IsSequence()) fail(n, "field " + path + " must be a list, not " + type_name(n));
}

void Reader::only(const YAML::Node& n, const std::string& path,
                  std::initializer_list<const char*> allowed) const {
  for (const auto& kv : n) {
    const std::string key = kv.first.IsScalar() ? kv.first.Scalar() : "";
    bool ok = false;
    for (const char* a : allowed) ok |= key == a;
    if (!ok) fail(kv.first, "unknown field \"" + key + "\"" + (path.empty() ? "" : " in " + path));
  }
}

std::string Reader::str(const YAML::Node& n, const std::string& path) const {
  if (n.IsNull()) return "";
  if (!n.IsScalar()) fail(n, "field " + path + " must be a string, not " + type_name(n));
  return n.Scalar();
}

int64_t Reader::integer(const YAML::Node& n, const std::string& path) const {
  if (!n.IsScalar()) fail(n, "field " + path + " must be an integer, not " + type_name(n));
  const std::string& s = n.Scalar();
  char* end = nullptr;
  errno = 0;
  long long v = std::strtoll(s.c_str(), &end, 10);
  if (s.empty() || *end != '\0' || errno == ERANGE || v < INT32_MIN || v > INT32_MAX)
    fail(n, "field " + path + " must be an integer, not \"" + s + "\"");
  return v;
}

uint64_t Reader::uinteger(const YAML::Node& n, const std::string& path) const {
  if (!n.IsScalar()) fail(n, "field " + path + " must be an unsigned integer, not " + type_name(n));
  const std::string& s = n.Scalar();
  char* end = nullptr;
  errno = 0;
  unsigned long long v = std::strtoull(s.c_str(), &end, 10);
  if (s.empty() || s[0] == '-' || *end != '\0' || errno == ERANGE)
    fail(n, "field " + path + " must be an unsigned integer, not \"" + s + "\"");
  return v;
}

bool Reader::boolean(const YAML::Node& n, const std::string& path) const {
  // yaml.v3 (Talos) accepts only YAML 1.2 booleans.
  if (n.IsScalar()) {
    const std::string& s = n.Scalar();
    if (s == "true" || s == "True" || s == "TRUE") return true;
    if (s == "false" || s == "False" || s == "FALSE") return false;
  }
  fail(n, "field " + path + " must be true or false, not " +
              (n.IsScalar() ? "\"" + n.Scalar() + "\"" : type_name(n)));
}

std::vector<int> Reader::int_list(const YAML::Node& n, const std::string& path) const {
  std::vector<int> out;
  if (n.IsNull()) return out;
  expect_sequence(n, path);
  for (size_t i = 0; i < n.size(); ++i)
    out.push_back(static_cast<int>(integer(n[i], path + "[" + std::to_string(i) + "]")));
  return out;
}

std::vector<std::string> Reader::str_list(const YAML::Node& n, const std::string& path) const {
  std::vector<std::string> out;
  if (n.IsNull()) return out;
  expect_sequence(n, path);
  for (size_t i = 0; i < n.size(); ++i)
    out.push_back(str(n[i], path + "[" + std::to_string(i) + "]"));
  return out;
}

uint64_t Reader::size(const YAML::Node& n, const std::string& path) const {
  if (!n.IsScalar()) fail(n, "field " + path + " must be a size, not " + type_name(n));
  std::string s = n.Scalar();
  size_t i = 0;
  while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.')) ++i;
  std::string num = s.substr(0, i), unit;
  for (size_t j = i; j < s.size(); ++j)
    if (s[j] != ' ') unit += static_cast<char>(std::tolower(static_cast<unsigned char>(s[j])));
  struct U {
    const char* name;
    double mult;
  };
  static const U units[] = {{"", 1},
                            {"b", 1},
                            {"k", 1e3},
                            {"kb", 1e3},
                            {"kib", 1 << 10},
                            {"ki", 1 << 10},
                            {"m", 1e6},
                            {"mb", 1e6},
                            {"mib", 1 << 20},
                            {"mi", 1 << 20},
                            {"g", 1e9},
                            {"gb", 1e9},
                            {"gib", 1 << 30},
                            {"gi", 1 << 30},
                            {"t", 1e12},
                            {"tb", 1e12},
                            {"tib", 1099511627776.0},
                            {"ti", 1099511627776.0}};
  double mult = -1;
  for (const U& u : units)
    if (unit == u.name) mult = u.mult;
  char* end = nullptr;
  double v = num.empty() ? -1 : std::strtod(num.c_str(), &end);
  if (mult < 0 || v < 0 || (end && *end != '\0') || !std::isfinite(v * mult) || v * mult > 1.8e19)
    fail(n, "field " + path + ": invalid size \"" + s + "\"");
  return static_cast<uint64_t>(v * mult);
}

}  // namespace cryptnode::config::detail
