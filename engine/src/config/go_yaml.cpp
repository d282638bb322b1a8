#include "go_yaml.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <regex>

namespace cryptnode::config::goyaml {
namespace {

thread_local Library current_library = Library::kYamlV4;

bool is_hex(char c) {
  return std::isxdigit(static_cast<unsigned char>(c)) != 0;
}

// scanner.go yaml_parser_scan_flow_scalar: the escape after the backslash at t[k] in a
// double-quoted scalar; the problem text, or nullopt when go-yaml accepts it.
std::optional<std::string> escape_error(std::string_view t, size_t k) {
  if (k + 1 >= t.size()) return std::nullopt;  // the unterminated-quote check reports it
  const char e = t[k + 1];
  if (e == '\n' || e == '\r') return std::nullopt;  // an escaped line break
  static const std::string_view kSimple = "0abt\tnvfre \"'\\N_LP";
  if (kSimple.find(e) != std::string_view::npos) return std::nullopt;
  const size_t length = e == 'x' ? 2 : e == 'u' ? 4 : e == 'U' ? 8 : 0;
  if (length == 0) return "found unknown escape character";
  uint32_t value = 0;
  for (size_t i = 0; i < length; ++i) {
    const size_t at = k + 2 + i;
    if (at >= t.size() || !is_hex(t[at]))
      return current_library == Library::kYamlV4 ? "did not find expected hexadecimal number"
                                                 : "did not find expected hexdecimal number";
    value = (value << 4) + static_cast<uint32_t>(std::stoul(std::string(1, t[at]), nullptr, 16));
  }
  if ((value >= 0xD800 && value <= 0xDFFF) || value > 0x10FFFF)
    return "found invalid Unicode character escape code";
  return std::nullopt;
}

bool allowed_char(uint32_t c) {  // internal/libyaml/reader.go: the printable set
  return c == 0x9 || c == 0xA || c == 0xD || (c >= 0x20 && c <= 0x7E) || c == 0x85 ||
         (c >= 0xA0 && c <= 0xD7FF) || (c >= 0xE000 && c <= 0xFFFD) ||
         (c >= 0x10000 && c <= 0x10FFFF);
}

std::optional<std::string> reader_error(std::string_view t) {
  for (size_t i = 0; i < t.size();) {
    const unsigned char c = static_cast<unsigned char>(t[i]);
    size_t width = (c & 0x80) == 0x00   ? 1
                   : (c & 0xE0) == 0xC0 ? 2
                   : (c & 0xF0) == 0xE0 ? 3
                   : (c & 0xF8) == 0xF0 ? 4
                                        : 0;
    if (width == 0) return "yaml: invalid leading UTF-8 octet";
    if (width > t.size() - i) return "yaml: incomplete UTF-8 octet sequence";
    uint32_t value = width == 1 ? c : width == 2 ? c & 0x1F : width == 3 ? c & 0x0F : c & 0x07;
    for (size_t k = 1; k < width; ++k) {
      const unsigned char o = static_cast<unsigned char>(t[i + k]);
      if ((o & 0xC0) != 0x80) return "yaml: invalid trailing UTF-8 octet";
      value = (value << 6) + (o & 0x3F);
    }
    if (!(width == 1 || (width == 2 && value >= 0x80) || (width == 3 && value >= 0x800) ||
          (width == 4 && value >= 0x10000)))
      return "yaml: invalid length of a UTF-8 sequence";
    if ((value >= 0xD800 && value <= 0xDFFF) || value > 0x10FFFF)
      return "yaml: invalid Unicode character";
    if (!allowed_char(value)) return "yaml: control characters are not allowed";
    i += width;
  }
  return std::nullopt;
}

// An unterminated quoted scalar: go-yaml's scanner fails "found unexpected end of stream" (or
// "found unexpected document indicator" at a "---"/"..." line); yaml-cpp silently ends the scalar
// at the end of the input. A light scan: quotes open only where a token starts; comments and
// block scalars are skipped.
std::optional<std::string> quote_error(std::string_view t) {
  size_t i = 0, line = 0;
  int block_indent = -1;  // inside a block scalar: lines indented more than this are content
  while (i < t.size()) {
    // start of a line
    size_t eol = t.find('\n', i);
    if (eol == std::string_view::npos) eol = t.size();
    size_t indent = 0;
    while (i + indent < eol && t[i + indent] == ' ') ++indent;
    if (block_indent >= 0) {
      if (i + indent == eol || static_cast<int>(indent) > block_indent) {
        i = eol + 1;
        ++line;
        continue;
      }
      block_indent = -1;
    }
    char prev = ' ';
    size_t j = i + indent;
    bool token_start = true;
    while (j < eol) {
      const char ch = t[j];
      if (ch == '#' && (prev == ' ' || prev == '\t' || token_start)) break;  // comment
      if ((ch == '"' || ch == '\'') && token_start) {
        const size_t open_line = line;
        size_t k = j + 1;
        bool closed = false;
        size_t cur_line = line;
        while (k < t.size()) {
          const char q = t[k];
          if (q == '\n') {
            ++cur_line;
            if (t.substr(k + 1, 3) == "---" || t.substr(k + 1, 3) == "...") {
              const char after = k + 4 < t.size() ? t[k + 4] : '\n';
              if (after == ' ' || after == '\t' || after == '\n' || after == '\r') {
                // ContextMark is the quote's line (0-based, +1 for a scanner error)
                return "yaml: line " +
                       std::to_string(open_line == 0 ? cur_line + 1 : open_line + 1) +
                       ": found unexpected document indicator";
              }
            }
          } else if (ch == '"' && q == '\\') {
            if (auto problem = escape_error(t, k)) {
              // parser.fail(): ContextMark (the quote) + 1, else ProblemMark (the escape) + 1,
              // else no line at all.
              const size_t at = open_line != 0 ? open_line + 1 : cur_line != 0 ? cur_line + 1 : 0;
              return "yaml: " + (at ? "line " + std::to_string(at) + ": " : std::string()) +
                     *problem;
            }
            ++k;
          } else if (q == ch) {
            if (ch == '\'' && k + 1 < t.size() && t[k + 1] == '\'') {
              ++k;
            } else {
              closed = true;
              break;
            }
          }
          ++k;
        }
        if (!closed) {
          // go-yaml: line = ContextMark.Line + 1 (the opening quote), or the end's line when
          // the quote is on the first line (ContextMark.Line == 0).
          size_t end_line = cur_line;
          return "yaml: line " + std::to_string(open_line == 0 ? end_line + 1 : open_line + 1) +
                 ": found unexpected end of stream";
        }
        // continue after the closing quote (maybe on a later line)
        for (size_t x = j; x < k; ++x)
          if (t[x] == '\n') ++line;
        j = k + 1;
        if (line != cur_line) {  // restart the line loop at the current line
        }
        // find the current line's end again
        size_t ls = t.rfind('\n', k);
        i = ls == std::string_view::npos ? 0 : ls + 1;
        eol = t.find('\n', k);
        if (eol == std::string_view::npos) eol = t.size();
        prev = ch;
        token_start = false;
        continue;
      }
      if (ch == '|' || ch == '>') {
        if (token_start) {
          // a block scalar: the following more-indented lines are content
          size_t key_indent = indent;
          block_indent = static_cast<int>(key_indent);
          break;
        }
      }
      if (ch == ' ' || ch == '\t') {
        token_start = prev == ':' || prev == '-' || prev == ',' || prev == '?' || token_start;
      } else if (ch == '[' || ch == '{' || ch == ',') {
        token_start = true;
      } else {
        token_start = false;
      }
      prev = ch;
      ++j;
    }
    i = eol + 1;
    ++line;
  }
  return std::nullopt;
}

const std::regex& yaml_style_float() {
  static const std::regex re(R"(^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$)");
  return re;
}

bool go_parse_int(const std::string& s, int64_t& out) {  // strconv.ParseInt(s, 0, 64)
  std::string body = s;
  bool neg = false;
  if (!body.empty() && (body[0] == '+' || body[0] == '-')) {
    neg = body[0] == '-';
    body = body.substr(1);
  }
  int base = 10;
  if (body.size() > 1 && body[0] == '0') {
    const char p = static_cast<char>(std::tolower(static_cast<unsigned char>(body[1])));
    if (p == 'x')
      base = 16, body = body.substr(2);
    else if (p == 'o')
      base = 8, body = body.substr(2);
    else if (p == 'b')
      base = 2, body = body.substr(2);
    else
      base = 8, body = body.substr(1);
  }
  if (body.empty()) return false;
  for (char c : body)
    if (!std::isxdigit(static_cast<unsigned char>(c))) return false;
  errno = 0;
  char* end = nullptr;
  unsigned long long v = std::strtoull(body.c_str(), &end, base);
  if (*end != '\0' || errno == ERANGE) return false;
  if (neg) {
    if (v > 9223372036854775808ull) return false;
    out = static_cast<int64_t>(0 - v);
  } else {
    if (v > 9223372036854775807ull) return false;
    out = static_cast<int64_t>(v);
  }
  return true;
}

bool go_parse_uint(const std::string& s, uint64_t& out) {
  if (s.empty() || s[0] == '-' || s[0] == '+') return false;
  std::string body = s;
  int base = 10;
  if (body.size() > 1 && body[0] == '0') {
    const char p = static_cast<char>(std::tolower(static_cast<unsigned char>(body[1])));
    if (p == 'x')
      base = 16, body = body.substr(2);
    else if (p == 'o')
      base = 8, body = body.substr(2);
    else if (p == 'b')
      base = 2, body = body.substr(2);
    else
      base = 8, body = body.substr(1);
  }
  if (body.empty()) return false;
  errno = 0;
  char* end = nullptr;
  unsigned long long v = std::strtoull(body.c_str(), &end, base);
  if (*end != '\0' || errno == ERANGE) return false;
  out = v;
  return true;
}

}  // namespace

LibraryScope::LibraryScope(Library l) : previous_(current_library) {
  current_library = l;
}

LibraryScope::~LibraryScope() {
  current_library = previous_;
}

std::optional<std::string> stream_error(std::string_view text) {
  if (auto e = reader_error(text)) return e;
  return quote_error(text);
}

std::string parser_error(const YAML::ParserException& e) {
  static const std::pair<const char*, const char*> kWords[] = {
      {"end of map not found", "did not find expected key"},
      {"end of sequence not found", "did not find expected '-' indicator"},
      {"end of sequence flow not found", "did not find expected ',' or ']'"},
      {"end of map flow not found", "did not find expected ',' or '}'"},
      {"illegal map value", "mapping values are not allowed in this context"},
      {"block sequence entries are not allowed in this context",
       "block sequence entries are not allowed in this context"},
  };
  std::string msg = e.msg;
  for (const auto& [from, to] : kWords)
    if (msg == from) msg = to;
  std::string where = e.mark.is_null() ? "" : "line " + std::to_string(e.mark.line + 1) + ": ";
  return "yaml: " + where + msg;
}

std::string quote(std::string_view s) {
  static const char* const kHex = "0123456789abcdef";
  std::string out = "\"";
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '\a':
        out += "\\a";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\v':
        out += "\\v";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      default:
        if (c < 0x20 || c == 0x7f) {
          out += "\\x";
          out += kHex[c >> 4];
          out += kHex[c & 0xf];
        } else {
          out += ch;  // printable ASCII and UTF-8 (the reader rejected invalid UTF-8)
        }
    }
  }
  return out + "\"";
}

bool quoted(const YAML::Node& n, std::string_view source) {
  if (!n.IsScalar()) return false;
  if (n.Tag() == "!") {
    const auto pos = static_cast<size_t>(n.Mark().pos);
    return pos < source.size() && (source[pos] == '"' || source[pos] == '\'');
  }
  return false;
}

int line(const YAML::Node& n) {
  return n.Mark().line >= 0 ? n.Mark().line + 1 : 0;
}

Resolved resolve(const YAML::Node& n, std::string_view source) {
  Resolved r;
  if (!n.IsDefined() || n.IsNull()) {
    r.kind = Resolved::kNull;
    return r;
  }
  if (!n.IsScalar()) return r;
  const std::string& v = n.Scalar();
  if (n.Tag() != "?") {  // quoted, block scalar or explicitly tagged: a string
    if (n.Tag() == "tag:yaml.org,2002:int" || n.Tag() == "!!int") {
      // an explicit !!int: resolve as int
    } else {
      return r;
    }
  }
  static const std::pair<const char*, Resolved::Kind> kMap[] = {
      {"true", Resolved::kBool},  {"True", Resolved::kBool},  {"TRUE", Resolved::kBool},
      {"false", Resolved::kBool}, {"False", Resolved::kBool}, {"FALSE", Resolved::kBool},
      {"", Resolved::kNull},      {"~", Resolved::kNull},     {"null", Resolved::kNull},
      {"Null", Resolved::kNull},  {"NULL", Resolved::kNull},
  };
  for (const auto& [s, k] : kMap)
    if (v == s) {
      r.kind = k;
      r.b = v[0] == 't' || v[0] == 'T';
      return r;
    }
  for (const char* s : {".nan", ".NaN", ".NAN", ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF",
                        "-.inf", "-.Inf", "-.INF", "-0", "-0.0"})
    // resolve.go: v4's table maps "-0" and "-0.0" to negativeZero; v3 has neither ("-0" is the
    // int 0 there, "-0.0" a float through ParseFloat).
    if (v == s && (current_library == Library::kYamlV4 || v != "-0")) {
      r.kind = Resolved::kFloat;
      r.f = v.find("inf") != std::string::npos || v.find("Inf") != std::string::npos ||
                    v.find("INF") != std::string::npos
                ? (v[0] == '-' ? -INFINITY : INFINITY)
            : v.find('0') != std::string::npos ? -0.0
                                               : NAN;
      return r;
    }
  const char h = v[0];
  if (h == '.') {
    char* end = nullptr;
    double f = std::strtod(v.c_str(), &end);
    if (*end == '\0') {
      r.kind = Resolved::kFloat;
      r.f = f;
    }
    return r;
  }
  if (std::isdigit(static_cast<unsigned char>(h)) || h == '-' || h == '+') {
    std::string plain;
    for (char c : v)
      if (c != '_') plain += c;
    int64_t i = 0;
    uint64_t u = 0;
    if (go_parse_int(plain, i)) {
      r.kind = Resolved::kInt;
      r.i = i;
      return r;
    }
    if (go_parse_uint(plain, u)) {
      r.kind = Resolved::kUint;
      r.u = u;
      return r;
    }
    if (std::regex_match(plain, yaml_style_float())) {
      r.kind = Resolved::kFloat;
      r.f = std::strtod(plain.c_str(), nullptr);
      return r;
    }
  }
  return r;
}

std::string tag(const YAML::Node& n, std::string_view source) {
  if (!n.IsDefined() || n.IsNull()) return "!!null";
  if (n.IsMap()) return "!!map";
  if (n.IsSequence()) return "!!seq";
  switch (resolve(n, source).kind) {
    case Resolved::kNull:
      return "!!null";
    case Resolved::kBool:
      return "!!bool";
    case Resolved::kInt:
    case Resolved::kUint:
      return "!!int";
    case Resolved::kFloat:
      return "!!float";
    default:
      return "!!str";
  }
}

// ---- the emitter ----------------------------------------------------------------------------

namespace {

bool is_letter(char c) {
  return std::isalpha(static_cast<unsigned char>(c)) != 0;
}
bool is_digit(char c) {
  return std::isdigit(static_cast<unsigned char>(c)) != 0;
}

// go-yaml sorter.go keyList.Less for string keys (ASCII).
bool key_less(const std::string& a, const std::string& b) {
  bool digits = false;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    if (a[i] == b[i]) {
      digits = is_digit(a[i]);
      continue;
    }
    const bool al = is_letter(a[i]), bl = is_letter(b[i]);
    if (al && bl) return a[i] < b[i];
    if (al || bl) return digits ? al : bl;
    int64_t an = 0, bn = 0;
    size_t ai = i, bi = i;
    if (a[i] == '0' || b[i] == '0') {
      for (size_t j = i; j-- > 0 && is_digit(a[j]);)
        if (a[j] != '0') {
          an = 1;
          bn = 1;
          break;
        }
    }
    for (; ai < a.size() && is_digit(a[ai]); ++ai) an = an * 10 + (a[ai] - '0');
    for (; bi < b.size() && is_digit(b[bi]); ++bi) bn = bn * 10 + (b[bi] - '0');
    if (an != bn) return an < bn;
    if (ai != bi) return ai < bi;
    return a[i] < b[i];
  }
  return a.size() < b.size();
}

// The line comment after a single-line scalar ("value # comment"), as go-yaml attaches it.
std::string line_comment(const YAML::Node& n, std::string_view src) {
  if (!n.IsScalar() || n.Mark().pos < 0) return "";
  size_t p = static_cast<size_t>(n.Mark().pos);
  if (p >= src.size()) return "";
  size_t eol = src.find('\n', p);
  if (eol == std::string_view::npos) eol = src.size();
  size_t from = p;
  if (src[p] == '"' || src[p] == '\'') {
    const char q = src[p];
    size_t k = p + 1;
    while (k < eol) {
      if (q == '"' && src[k] == '\\') {
        k += 2;
        continue;
      }
      if (src[k] == q) {
        if (q == '\'' && k + 1 < eol && src[k + 1] == '\'') {
          k += 2;
          continue;
        }
        break;
      }
      ++k;
    }
    if (k >= eol) return "";
    from = k + 1;
  }
  for (size_t k = from; k < eol; ++k)
    if (src[k] == '#' && k > 0 && (src[k - 1] == ' ' || src[k - 1] == '\t')) {
      std::string c(src.substr(k, eol - k));
      while (!c.empty() && (c.back() == '\r' || c.back() == ' ')) c.pop_back();
      return c;
    }
  return "";
}

bool plain_safe(const std::string& v) {
  if (v.empty()) return false;
  if (v.find('\n') != std::string::npos) return false;
  const char f = v[0];
  if (std::string("-?:,[]{}#&*!|>'\"%@`").find(f) != std::string::npos && v != "-") {
    if (!((f == '-' || f == '?' || f == ':') && v.size() > 1 && v[1] != ' ')) return false;
  }
  if (v.front() == ' ' || v.back() == ' ') return false;
  if (v.find(": ") != std::string::npos || v.find(" #") != std::string::npos) return false;
  if (v.back() == ':') return false;
  return true;
}

std::string double_quote(const std::string& v) {
  std::string out = "\"";
  for (char c : v) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        out += c;
    }
  }
  return out + "\"";
}

std::string scalar_text(const YAML::Node& n, std::string_view src, bool redact) {
  if (redact) return "<redacted>";
  if (n.IsNull()) {
    // the original text: "", "~" or "null"
    if (n.Mark().pos >= 0 && static_cast<size_t>(n.Mark().pos) < src.size()) {
      const std::string_view rest = src.substr(static_cast<size_t>(n.Mark().pos));
      for (const char* s : {"null", "Null", "NULL", "~"})
        if (rest.substr(0, std::string_view(s).size()) == s) return s;
    }
    return "";
  }
  const std::string& v = n.Scalar();
  const auto pos = static_cast<size_t>(std::max<int>(n.Mark().pos, 0));
  const char first = pos < src.size() ? src[pos] : ' ';
  if (n.Tag() == "!" && first == '\'') {
    std::string out = "'";
    for (char c : v) out += c == '\'' ? std::string("''") : std::string(1, c);
    return out + "'";
  }
  if (n.Tag() == "!" && first == '"') return double_quote(v);
  if (n.Tag() == "?" && plain_safe(v)) return v;
  if (v.find('\n') == std::string::npos) {
    if (plain_safe(v) && resolve(n, src).kind == Resolved::kString) return v;
    std::string out = "'";
    for (char c : v) out += c == '\'' ? std::string("''") : std::string(1, c);
    return out + "'";
  }
  return double_quote(v);
}

// yaml-cpp shares an anchored node between its aliases, so walking the summary expands them; the
// walk is bounded (go-yaml would print the aliases): a budget of nodes and of output bytes.
struct Exhausted {};
struct Budget {
  size_t nodes;
  size_t bytes;
};
thread_local Budget* budget = nullptr;

void spend(const std::string& out) {
  if (budget == nullptr) return;
  if (budget->nodes == 0 || out.size() > budget->bytes) throw Exhausted{};
  --budget->nodes;
}

void emit_node(std::string& out, const YAML::Node& n, std::string_view src, size_t indent,
               bool redact, bool inline_start);

std::string flow(const YAML::Node& n, std::string_view src, bool redact) {
  spend("");
  if (n.IsSequence()) {
    std::string out = "[";
    bool first = true;
    for (const auto& item : n) {
      out += (first ? "" : ", ") + flow(item, src, redact);
      spend(out);
      first = false;
    }
    return out + "]";
  }
  if (n.IsMap()) {
    std::string out = "{";
    bool first = true;
    for (const auto& kv : n) {
      const std::string k = kv.first.IsScalar() ? kv.first.Scalar() : "";
      out += (first ? "" : ", ") + k + ": " + flow(kv.second, src, redact || k == "passphrase");
      first = false;
    }
    return out + "}";
  }
  return scalar_text(n, src, redact);
}

// go-yaml's emitter (internal/libyaml/emitter.go increaseIndentCompact, best indent 4, no compact
// sequences): a block collection that is a mapping value (or the root) is indented to the next
// multiple of 4 after its key's column; one that is a sequence item sits 2 columns after the "-",
// on the same line.
size_t block_indent(size_t key_indent) {
  return 4 * ((key_indent + 4) / 4);
}

bool block_collection(const YAML::Node& n) {
  return (n.IsMap() || n.IsSequence()) && n.Style() != YAML::EmitterStyle::Flow && n.size() > 0;
}

// Emits the value part after "key:" (or after "- "); `indent` is the key's (or the dash's)
// column.
void emit_value(std::string& out, const YAML::Node& n, std::string_view src, size_t indent,
                bool redact) {
  spend(out);
  if (n.IsMap() || n.IsSequence()) {
    if (!block_collection(n)) {
      out += " " + flow(n, src, redact) + "\n";
      return;
    }
    out += "\n";
    emit_node(out, n, src, block_indent(indent), redact, false);
    return;
  }
  const std::string s = scalar_text(n, src, redact);
  out += (s.empty() ? "" : " " + s);
  const std::string c = line_comment(n, src);
  if (!c.empty()) out += " " + c;
  out += "\n";
}

// A block collection whose entries sit at column `indent`; with inline_start the first entry
// continues the current line (a sequence item's "- ").
void emit_node(std::string& out, const YAML::Node& n, std::string_view src, size_t indent,
               bool redact, bool inline_start) {
  const std::string pad(indent, ' ');
  bool first = true;
  if (n.IsMap()) {
    for (const auto& kv : n) {
      const std::string k = kv.first.IsScalar() ? kv.first.Scalar() : "?";
      out += (inline_start && first ? "" : pad) + k + ":";
      emit_value(out, kv.second, src, indent, redact || k == "passphrase");
      first = false;
    }
  } else if (n.IsSequence()) {
    for (const auto& item : n) {
      out += (inline_start && first ? "" : pad) + "-";
      if (block_collection(item)) {
        spend(out);
        out += " ";
        emit_node(out, item, src, indent + 2, redact, true);
      } else {
        emit_value(out, item, src, indent, redact);
      }
      first = false;
    }
  }
}

void emit_unknown(std::string& out, const Unknown& u, std::string_view src, size_t indent,
                  bool inline_start) {
  const std::string pad(indent, ' ');
  bool first = true;
  if (u.kind == Unknown::kMap) {
    std::vector<std::string> keys;
    for (const auto& [k, v] : u.map_entries) keys.push_back(k);
    std::sort(keys.begin(), keys.end(), key_less);
    for (const std::string& k : keys) {
      const Unknown& v = *u.map_entries.at(k);
      out += (inline_start && first ? "" : pad) + k + ":";
      first = false;
      if (v.kind == Unknown::kNode) {
        emit_value(out, v.node, src, indent, k == "passphrase");
      } else if (v.kind == Unknown::kMap && v.map_entries.empty()) {
        out += " {}\n";
      } else {
        out += "\n";
        emit_unknown(out, v, src, block_indent(indent), false);
      }
    }
  } else if (u.kind == Unknown::kList) {
    for (const auto& item : u.list) {
      out += pad + "- ";
      emit_unknown(out, *item, src, indent + 2, true);
    }
  }
}

}  // namespace

std::optional<std::string> marshal(const Unknown& root, std::string_view source, size_t max_nodes,
                                   size_t max_bytes) {
  Budget b{max_nodes, max_bytes};
  budget = &b;
  std::string out;
  try {
    emit_unknown(out, root, source, 0, false);
  } catch (const Exhausted&) {
    budget = nullptr;
    return std::nullopt;
  }
  budget = nullptr;
  return out;
}

}  // namespace cryptnode::config::goyaml
