#include "source.h"

#include <algorithm>

namespace cryptnode::cel {

std::string to_utf8(char32_t r) {
  std::string out;
  if (r < 0x80) {
    out += static_cast<char>(r);
  } else if (r < 0x800) {
    out += static_cast<char>(0xC0 | (r >> 6));
    out += static_cast<char>(0x80 | (r & 0x3F));
  } else if (r < 0x10000) {
    out += static_cast<char>(0xE0 | (r >> 12));
    out += static_cast<char>(0x80 | ((r >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (r & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (r >> 18));
    out += static_cast<char>(0x80 | ((r >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((r >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (r & 0x3F));
  }
  return out;
}

// Go's utf8.DecodeRune: an invalid byte decodes to U+FFFD and advances one byte.
std::u32string decode_utf8(std::string_view s) {
  std::u32string out;
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    char32_t r = 0xFFFD;
    size_t n = 1;
    auto cont = [&](size_t k) {
      return i + k < s.size() && (static_cast<unsigned char>(s[i + k]) & 0xC0) == 0x80;
    };
    if (c < 0x80) {
      r = c;
    } else if (c >= 0xC2 && c < 0xE0 && cont(1)) {
      r = ((c & 0x1F) << 6) | (s[i + 1] & 0x3F);
      n = 2;
    } else if (c >= 0xE0 && c < 0xF0 && cont(1) && cont(2)) {
      char32_t v = ((c & 0x0F) << 12) | ((s[i + 1] & 0x3F) << 6) | (s[i + 2] & 0x3F);
      if (v >= 0x800 && (v < 0xD800 || v > 0xDFFF)) {
        r = v;
        n = 3;
      }
    } else if (c >= 0xF0 && c < 0xF5 && cont(1) && cont(2) && cont(3)) {
      char32_t v = ((c & 0x07) << 18) | ((s[i + 1] & 0x3F) << 12) | ((s[i + 2] & 0x3F) << 6) |
                   (s[i + 3] & 0x3F);
      if (v >= 0x10000 && v <= 0x10FFFF) {
        r = v;
        n = 4;
      }
    }
    out += r;
    i += n;
  }
  return out;
}

Source::Source(std::string_view text) : runes_(decode_utf8(text)) {
  for (char32_t r : runes_) utf8_ += to_utf8(r);
  line_starts_.push_back(0);
  for (size_t i = 0; i < utf8_.size(); ++i) {
    if (utf8_[i] == '\n') line_starts_.push_back(i + 1);
  }
}

std::string Source::text(size_t begin, size_t end) const {
  std::string out;
  for (size_t i = begin; i < end && i < runes_.size(); ++i) out += to_utf8(runes_[i]);
  return out;
}

bool Source::snippet(int line, std::string* out) const {
  if (line < 1 || static_cast<size_t>(line) > line_starts_.size()) return false;
  size_t begin = line_starts_[line - 1];
  size_t end =
      static_cast<size_t>(line) < line_starts_.size() ? line_starts_[line] - 1 : utf8_.size();
  *out = utf8_.substr(begin, end - begin);
  return true;
}

namespace {

constexpr size_t kMaxSnippetLength = 16384;
constexpr int kMaxErrorsToReport = 100;

std::string render_one(const Source& source, const Issue& issue) {
  std::string result = "ERROR: <input>:" + std::to_string(issue.location.line) + ":" +
                       std::to_string(issue.location.column + 1) + ": " + issue.message;
  std::string snippet;
  if (source.snippet(issue.location.line, &snippet) && snippet.size() <= kMaxSnippetLength) {
    std::replace(snippet.begin(), snippet.end(), '\t', ' ');
    result += "\n | " + snippet;
    std::u32string runes = decode_utf8(snippet);
    std::string indicator = "\n | ";
    size_t i = 0;
    for (int c = 0; c < issue.location.column && i < runes.size(); ++c, ++i) {
      indicator += runes[i] >= 0x80 ? "\uff0e" : ".";
    }
    indicator += (i < runes.size() && runes[i] >= 0x80) ? "\uff3e" : "^";
    result += indicator;
  }
  return result;
}

}  // namespace

std::string render_issues(const Source& source, std::vector<Issue> issues, int total_reported) {
  std::stable_sort(issues.begin(), issues.end(), [](const Issue& a, const Issue& b) {
    return a.location.line < b.location.line ||
           (a.location.line == b.location.line && a.location.column < b.location.column);
  });
  std::string out;
  int shown = 0;
  for (const Issue& issue : issues) {
    if (shown >= kMaxErrorsToReport) break;
    if (shown > 0) out += "\n";
    out += render_one(source, issue);
    ++shown;
  }
  if (total_reported > kMaxErrorsToReport) {
    out +=
        "\n" + std::to_string(total_reported - kMaxErrorsToReport) + " more errors were truncated";
  }
  return out;
}

}  // namespace cryptnode::cel
