#include "humanize.h"

#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <map>

namespace cryptnode::config::humanize {
namespace {

// strconv.ParseFloat's accepted forms, approximately (decimal, exponent, inf/nan).
bool parse_float(const std::string& s, double& out, std::string& err) {
  if (s.empty()) {
    err = "strconv.ParseFloat: parsing \"\": invalid syntax";
    return false;
  }
  errno = 0;
  char* end = nullptr;
  out = std::strtod(s.c_str(), &end);
  if (*end != '\0' || std::isspace(static_cast<unsigned char>(s[0]))) {
    err = "strconv.ParseFloat: parsing \"" + s + "\": invalid syntax";
    return false;
  }
  if (errno == ERANGE && std::isinf(out)) {
    err = "strconv.ParseFloat: parsing \"" + s + "\": value out of range";
    return false;
  }
  return true;
}

const std::map<std::string, double>& table() {
  static const std::map<std::string, double> t = {{"b", 1},
                                                  {"kib", 1024.0},
                                                  {"kb", 1e3},
                                                  {"mib", 1048576.0},
                                                  {"mb", 1e6},
                                                  {"gib", 1073741824.0},
                                                  {"gb", 1e9},
                                                  {"tib", 1099511627776.0},
                                                  {"tb", 1e12},
                                                  {"pib", 1125899906842624.0},
                                                  {"pb", 1e15},
                                                  {"eib", 1152921504606846976.0},
                                                  {"eb", 1e18},
                                                  {"", 1},
                                                  {"ki", 1024.0},
                                                  {"k", 1e3},
                                                  {"mi", 1048576.0},
                                                  {"m", 1e6},
                                                  {"gi", 1073741824.0},
                                                  {"g", 1e9},
                                                  {"ti", 1099511627776.0},
                                                  {"t", 1e12},
                                                  {"pi", 1125899906842624.0},
                                                  {"p", 1e15},
                                                  {"ei", 1152921504606846976.0},
                                                  {"e", 1e18}};
  return t;
}

std::optional<std::string> parse(const std::string& s, uint64_t& out) {
  size_t last = 0;
  bool comma = false;
  for (char c : s) {
    if (!(std::isdigit(static_cast<unsigned char>(c)) || c == '.' || c == ',')) break;
    comma |= c == ',';
    ++last;
  }
  std::string num = s.substr(0, last);
  if (comma) {
    std::string n;
    for (char c : num)
      if (c != ',') n += c;
    num = n;
  }
  double f = 0;
  std::string err;
  if (!parse_float(num, f, err)) return err;
  std::string extra = s.substr(last);
  size_t a = 0, b = extra.size();
  while (a < b && std::isspace(static_cast<unsigned char>(extra[a]))) ++a;
  while (b > a && std::isspace(static_cast<unsigned char>(extra[b - 1]))) --b;
  extra = extra.substr(a, b - a);
  for (char& c : extra) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  auto it = table().find(extra);
  if (it == table().end()) return "unhandled size name: " + extra;
  f *= it->second;
  if (f >= 18446744073709551615.0) return "too large: " + s;
  out = static_cast<uint64_t>(f);
  return std::nullopt;
}

std::string go_float(double v) {  // %v of a float64, for the simple cases
  char buf[64];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

}  // namespace

std::optional<std::string> parse_bytes_error(const std::string& s) {
  uint64_t v = 0;
  return parse(s, v);
}

uint64_t parse_bytes(const std::string& s) {
  uint64_t v = 0;
  return parse(s, v) ? 0 : v;
}

std::optional<std::string> parse_size_error(const std::string& s) {
  if (s.find('%') == std::string::npos) return parse_bytes_error(s);
  if (s.back() != '%') return "percentage must end with '%'";
  double v = 0;
  std::string err;
  if (!parse_float(s.substr(0, s.size() - 1), v, err)) return "invalid percentage value: " + err;
  if (v < 0 || v > 100) return "percentage must be between 0 and 100, got " + go_float(v);
  return std::nullopt;
}

uint64_t parse_percent(const std::string& s) {
  if (s.empty() || s.back() != '%') return 0;
  return static_cast<uint64_t>(std::strtod(s.substr(0, s.size() - 1).c_str(), nullptr));
}

}  // namespace cryptnode::config::humanize
