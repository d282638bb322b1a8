// The CEL lexer of cel-go's grammar (parser/gen/CEL.g4), written by hand. ANTLR semantics kept:
// longest match, ties to the earlier rule (keywords before IDENTIFIER); when no rule matches, the
// error text runs from the token start to the character where every rule failed (inclusive), and
// recovery drops that character (LexerATNSimulator.failOrAccept, Lexer.Recover).
#include <algorithm>
#include <array>

#include "token.h"

namespace cryptnode::cel {

namespace {

constexpr std::array<const char*, 38> kLiteralNames = {
    "<EOF>",  "'=='",       "'!='",          "'in'",      "'<'",     "'<='",     "'>='",
    "'>'",    "'&&'",       "'||'",          "'['",       "']'",     "'{'",      "'}'",
    "'('",    "')'",        "'.'",           "','",       "'-'",     "'!'",      "'?'",
    "':'",    "'+'",        "'*'",           "'/'",       "'%'",     "'true'",   "'false'",
    "'null'", "WHITESPACE", "COMMENT",       "NUM_FLOAT", "NUM_INT", "NUM_UINT", "STRING",
    "BYTES",  "IDENTIFIER", "ESC_IDENTIFIER"};

bool is_letter(char32_t c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
bool is_digit(char32_t c) {
  return c >= '0' && c <= '9';
}
bool is_hex(char32_t c) {
  return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
bool is_ws(char32_t c) {
  return c == '\t' || c == ' ' || c == '\r' || c == '\n' || c == '\f';
}

// The outcome of one lexer rule at a position: the length it accepts (0 = none) and the index of
// the first character its automaton could not take.
struct Match {
  size_t accept = 0;
  size_t death = 0;
};

class Scanner {
 public:
  explicit Scanner(const std::u32string& s) : s_(s) {}
  char32_t at(size_t i) const { return i < s_.size() ? s_[i] : 0; }
  bool end(size_t i) const { return i >= s_.size(); }

  // ESC_SEQ at i (a backslash): the index after it, or the failing index with ok=false.
  size_t escape(size_t i, bool* ok) const {
    *ok = false;
    size_t j = i + 1;
    if (end(j)) return j;
    char32_t c = at(j);
    static const std::u32string kSimple = U"abfnrtv\"'\\?`";
    if (kSimple.find(c) != std::u32string::npos) {
      *ok = true;
      return j + 1;
    }
    if (c >= '0' && c <= '3') {
      for (size_t k = 1; k <= 2; ++k) {
        if (end(j + k) || at(j + k) < '0' || at(j + k) > '7') return j + k;
      }
      *ok = true;
      return j + 3;
    }
    size_t digits = 0;
    if (c == 'x' || c == 'X') digits = 2;
    if (c == 'u') digits = 4;
    if (c == 'U') digits = 8;
    if (digits == 0) return j;
    for (size_t k = 1; k <= digits; ++k) {
      if (end(j + k) || !is_hex(at(j + k))) return j + k;
    }
    *ok = true;
    return j + 1 + digits;
  }

  // STRING starting at i (the optional raw prefix included).
  Match string(size_t i) const {
    bool raw = false;
    size_t p = i;
    if (at(p) == 'r' || at(p) == 'R') {
      raw = true;
      ++p;
    }
    char32_t q = at(p);
    if (q != '"' && q != '\'') return {0, p};
    bool triple = at(p + 1) == q && at(p + 2) == q;
    if (!triple && at(p + 1) == q) return {p + 2 - i, 0};  // empty string
    if (triple) {
      size_t j = p + 3;
      // When the triple-quoted string never closes, the longest match is the empty string.
      while (true) {
        if (end(j)) return {p + 2 - i, 0};
        if (at(j) == q && at(j + 1) == q && at(j + 2) == q) return {j + 3 - i, 0};
        if (!raw && at(j) == '\\') {
          bool ok;
          size_t n = escape(j, &ok);
          if (!ok) return {p + 2 - i, 0};
          j = n;
          continue;
        }
        ++j;
      }
    }
    size_t j = p + 1;
    while (true) {
      if (end(j)) return {0, j};
      char32_t c = at(j);
      if (c == q) return {j + 1 - i, 0};
      if (c == '\n' || c == '\r') return {0, j};
      if (!raw && c == '\\') {
        bool ok;
        size_t n = escape(j, &ok);
        if (!ok) return {0, n};
        j = n;
        continue;
      }
      ++j;
    }
  }

  Match number(size_t i) const {
    Match m{0, i};
    if (!is_digit(at(i)) && !(at(i) == '.' && is_digit(at(i + 1)))) return m;
    size_t j = i;
    if (at(i) == '0' && at(i + 1) == 'x' && is_hex(at(i + 2))) {
      j = i + 2;
      while (is_hex(at(j))) ++j;
      if (at(j) == 'u' || at(j) == 'U') ++j;
      return {j - i, 0};
    }
    while (is_digit(at(j))) ++j;
    bool is_float = false;
    if (at(j) == '.' && is_digit(at(j + 1))) {
      j += 1;
      while (is_digit(at(j))) ++j;
      is_float = true;
    }
    if (j == i) return m;  // '.' alone
    if (at(j) == 'e' || at(j) == 'E') {
      size_t k = j + 1;
      if (at(k) == '+' || at(k) == '-') ++k;
      if (is_digit(at(k))) {
        while (is_digit(at(k))) ++k;
        j = k;
        is_float = true;
      }
    }
    if (!is_float && (at(j) == 'u' || at(j) == 'U')) ++j;
    return {j - i, 0};
  }

 private:
  const std::u32string& s_;
};

}  // namespace

std::string token_set_string(TokenSet set) {
  std::vector<std::string> names;
  for (int t = 0; t < 38; ++t) {
    if (set & bit(t)) names.push_back(kLiteralNames[t]);
  }
  if (names.size() == 1) return names[0];
  std::string out = "{";
  for (size_t i = 0; i < names.size(); ++i) {
    if (i) out += ", ";
    out += names[i];
  }
  return out + "}";
}

std::vector<Token> lex(const Source& source, std::vector<LexError>* errors) {
  const std::u32string& s = source.runes();
  Scanner sc(s);
  std::vector<Token> tokens;
  int line = 1;
  int col = 0;
  size_t i = 0;
  auto advance_to = [&](size_t to) {
    for (; i < to && i < s.size(); ++i) {
      if (s[i] == '\n') {
        ++line;
        col = 0;
      } else {
        ++col;
      }
    }
    i = std::max(i, to);
  };
  while (i < s.size()) {
    size_t start = i;
    Location loc{line, col};
    char32_t c = s[i];
    int type = -1;
    size_t len = 0;
    size_t death = i;  // where every rule failed (only used when nothing matched)

    auto offer = [&](int t, size_t l) {
      if (l > len) {
        len = l;
        type = t;
      }
    };
    // Fixed tokens.
    auto two = [&](char32_t a, char32_t b) { return c == a && sc.at(i + 1) == b; };
    if (two('=', '=')) offer(kEquals, 2);
    if (two('!', '=')) offer(kNotEquals, 2);
    if (two('<', '=')) offer(kLessEquals, 2);
    if (two('>', '=')) offer(kGreaterEquals, 2);
    if (two('&', '&')) offer(kLogicalAnd, 2);
    if (two('|', '|')) offer(kLogicalOr, 2);
    switch (c) {
      case '<':
        offer(kLess, 1);
        break;
      case '>':
        offer(kGreater, 1);
        break;
      case '[':
        offer(kLBracket, 1);
        break;
      case ']':
        offer(kRBracket, 1);
        break;
      case '{':
        offer(kLBrace, 1);
        break;
      case '}':
        offer(kRBrace, 1);
        break;
      case '(':
        offer(kLParen, 1);
        break;
      case ')':
        offer(kRParen, 1);
        break;
      case '.':
        offer(kDot, 1);
        break;
      case ',':
        offer(kComma, 1);
        break;
      case '-':
        offer(kMinus, 1);
        break;
      case '!':
        offer(kExclam, 1);
        break;
      case '?':
        offer(kQuestion, 1);
        break;
      case ':':
        offer(kColon, 1);
        break;
      case '+':
        offer(kPlus, 1);
        break;
      case '*':
        offer(kStar, 1);
        break;
      case '/':
        offer(kSlash, 1);
        break;
      case '%':
        offer(kPercent, 1);
        break;
      case '=':
      case '&':
      case '|':
        death = std::max(death, i + 1);
        break;
      default:
        break;
    }
    if (is_ws(c)) {
      size_t j = i;
      while (j < s.size() && is_ws(s[j])) ++j;
      offer(kWhitespace, j - i);
    }
    if (two('/', '/')) {
      size_t j = i;
      while (j < s.size() && s[j] != '\n') ++j;
      offer(kComment, j - i);
    }
    {
      Match m = sc.number(i);
      if (m.accept) {
        std::u32string t = s.substr(i, m.accept);
        bool is_float =
            t.find_first_of(U".eE") != std::u32string::npos && !(t.size() > 1 && t[1] == 'x');
        if (is_float) {
          offer(kNumFloat, m.accept);
        } else if (t.back() == 'u' || t.back() == 'U') {
          offer(kNumUint, m.accept);
        } else {
          offer(kNumInt, m.accept);
        }
      }
    }
    if (c == '"' || c == '\'' ||
        ((c == 'r' || c == 'R') && (sc.at(i + 1) == '"' || sc.at(i + 1) == '\''))) {
      Match m = sc.string(i);
      if (m.accept) {
        offer(kString, m.accept);
      } else {
        death = std::max(death, m.death);
      }
    }
    if (c == 'b' || c == 'B') {
      Match m = sc.string(i + 1);
      if (m.accept) offer(kBytes, m.accept + 1);
    }
    if (is_letter(c) || c == '_') {
      size_t j = i + 1;
      while (j < s.size() && (is_letter(s[j]) || is_digit(s[j]) || s[j] == '_')) ++j;
      std::u32string word = s.substr(i, j - i);
      int t = kIdentifier;
      if (word == U"in") t = kIn;
      if (word == U"true") t = kTrue;
      if (word == U"false") t = kFalse;
      if (word == U"null") t = kNull;
      offer(t, j - i);
    }
    if (c == '`') {
      size_t j = i + 1;
      auto ok = [](char32_t x) {
        return is_letter(x) || is_digit(x) || x == '_' || x == '.' || x == '-' || x == '/' ||
               x == ' ';
      };
      while (j < s.size() && ok(s[j])) ++j;
      if (j > i + 1 && sc.at(j) == '`' && j < s.size()) {
        offer(kEscIdentifier, j + 1 - i);
      } else {
        death = std::max(death, j);
      }
    }

    if (type < 0) {
      size_t stop = std::min(death + 1, s.size());
      std::string text;
      for (size_t k = start; k < stop; ++k) {
        char32_t r = s[k];
        if (r == '\n') {
          text += "\\n";
        } else if (r == '\t') {
          text += "\\t";
        } else if (r == '\r') {
          text += "\\r";
        } else {
          text += to_utf8(r);
        }
      }
      errors->push_back({loc, "token recognition error at: '" + text + "'", tokens.size()});
      // Recover: the automaton stopped at `death`; the lexer then drops that character.
      advance_to(death < s.size() ? death + 1 : death);
      continue;
    }
    advance_to(start + len);
    Token tok;
    tok.hidden = type == kWhitespace || type == kComment;
    tok.type = type;
    tok.text = source.text(start, start + len);
    tok.start = start;
    tok.stop = start + len;
    tok.location = loc;
    tok.index = static_cast<int>(tokens.size());
    tokens.push_back(std::move(tok));
  }
  Token eof;
  eof.type = kEOF;
  eof.text = "<EOF>";
  eof.start = eof.stop = s.size();
  eof.location = {line, col};
  eof.index = static_cast<int>(tokens.size());
  tokens.push_back(eof);
  return tokens;
}

}  // namespace cryptnode::cel
