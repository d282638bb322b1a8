// matches(): cel-go uses Go's regexp (RE2 syntax) with a partial match. std::regex's ECMAScript
// grammar covers the common subset; translated here: a leading "(?i)" (case-insensitive), "\A"
// and "\z" (anchors). Not supported like RE2: other inline flags ((?s), (?m), (?U)), named groups
// "(?P<name>...)", Unicode classes "\pL"/"\p{Greek}", and "." matching a whole UTF-8 sequence
// (std::regex works on bytes). Invalid patterns fail with "error parsing regexp: <std::regex's
// reason>", where Go would give its own wording.
#include <regex>

#include "functions.h"

namespace cryptnode::cel {

Value regex_matches(const std::string& subject, const std::string& pattern) {
  std::string p = pattern;
  auto flags = std::regex::ECMAScript;
  if (p.rfind("(?i)", 0) == 0) {
    p = p.substr(4);
    flags |= std::regex::icase;
  }
  std::string translated;
  for (size_t i = 0; i < p.size(); ++i) {
    if (p[i] == '\\' && i + 1 < p.size()) {
      if (p[i + 1] == 'A') {
        translated += '^';
        ++i;
        continue;
      }
      if (p[i + 1] == 'z') {
        translated += '$';
        ++i;
        continue;
      }
      translated += p.substr(i, 2);
      ++i;
      continue;
    }
    translated += p[i];
  }
  try {
    std::regex re(translated, flags);
    return Value{std::regex_search(subject, re)};
  } catch (const std::regex_error& e) {
    return error_value(std::string("error parsing regexp: ") + e.what());
  }
}

}  // namespace cryptnode::cel
