// CEL tokens, numbered as cel-go's generated ANTLR lexer (parser/gen/CEL.g4) numbers them: the
// numbers order ANTLR's "expecting {...}" sets, so they must not change.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "source.h"

namespace cryptnode::cel {

enum Tok : int {
  kEOF = 0,  // ANTLR's -1; bit 0 of a TokenSet
  kEquals = 1,
  kNotEquals,
  kIn,
  kLess,
  kLessEquals,
  kGreaterEquals,
  kGreater,
  kLogicalAnd,
  kLogicalOr,
  kLBracket,  // 10
  kRBracket,
  kLBrace,
  kRBrace,
  kLParen,
  kRParen,
  kDot,
  kComma,
  kMinus,
  kExclam,
  kQuestion,  // 20
  kColon,
  kPlus,
  kStar,
  kSlash,
  kPercent,
  kTrue,
  kFalse,
  kNull,
  kWhitespace,
  kComment,  // 30
  kNumFloat,
  kNumInt,
  kNumUint,
  kString,
  kBytes,
  kIdentifier,
  kEscIdentifier,  // 37
};

struct Token {
  int type = kEOF;
  std::string text;  // UTF-8; "<EOF>" for the end
  size_t start = 0;  // code-point offsets [start, stop)
  size_t stop = 0;
  Location location;
  int index = 0;        // position in the token stream (hidden tokens included)
  bool hidden = false;  // whitespace and comments (ANTLR's hidden channel)
};

// A set of token types (bit 0 = EOF).
using TokenSet = uint64_t;
constexpr TokenSet bit(int t) {
  return TokenSet{1} << t;
}

// ANTLR's IntervalSet.StringVerbose: "':'", "<EOF>" or "{'[', '{', IDENTIFIER}".
std::string token_set_string(TokenSet set);

struct LexError {
  Location location;
  std::string message;    // "token recognition error at: '...'"
  size_t next_token = 0;  // index of the token lexed after the error (ANTLR lexes lazily)
};

// Splits the source into tokens (whitespace and comments marked hidden, EOF last),
// reporting ANTLR's lexer errors and recovering as ANTLR does (drop the offending character).
std::vector<Token> lex(const Source& source, std::vector<LexError>* errors);

}  // namespace cryptnode::cel
