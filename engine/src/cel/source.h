// Expression text as code points plus cel-go's error rendering (common/source.go, common/error.go,
// common/errors.go): "ERROR: <input>:L:C: msg\n | <line>\n | ...^", errors sorted by location.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace cryptnode::cel {

// A 1-based line and 0-based code-point column; line -1 is cel-go's NoLocation.
struct Location {
  int line = -1;
  int column = -1;
};

class Source {
 public:
  explicit Source(std::string_view text);

  const std::u32string& runes() const { return runes_; }
  // The UTF-8 text of code points [begin, end).
  std::string text(size_t begin, size_t end) const;
  // Line `line` (1-based) without its newline; false when there is no such line.
  bool snippet(int line, std::string* out) const;

 private:
  std::string utf8_;
  std::u32string runes_;
  std::vector<size_t> line_starts_;  // byte offsets of each line in utf8_
};

struct Issue {
  Location location;
  std::string message;
};

// Issues.Err().Error(): every issue rendered and joined by '\n', after a stable sort by location;
// more than 100 issues end with "N more errors were truncated".
std::string render_issues(const Source& source, std::vector<Issue> issues, int total_reported);

std::string to_utf8(char32_t rune);
std::u32string decode_utf8(std::string_view text);

}  // namespace cryptnode::cel
