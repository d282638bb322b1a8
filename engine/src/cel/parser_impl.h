// cel-go's ANTLR parser (parser/gen/cel_parser.go) re-enacted by hand: the same rules, the same
// Sync/Match/adaptivePredict sites and ANTLR's DefaultErrorStrategy (single-token deletion and
// insertion, recovery sets, error-recovery mode), so that syntax errors read as cel-go's do. The
// numbers passed as `state` are the generated parser's ATN states (only their identity matters).
#pragma once

#include <array>
#include <set>
#include <string>
#include <vector>

#include "ast.h"
#include "token.h"

namespace cryptnode::cel::detail {

inline constexpr TokenSet kLiteralFirst = bit(kMinus) | bit(kTrue) | bit(kFalse) | bit(kNull) |
                                          bit(kNumFloat) | bit(kNumInt) | bit(kNumUint) |
                                          bit(kString) | bit(kBytes);
inline constexpr TokenSet kPrimaryFirst =
    kLiteralFirst | bit(kDot) | bit(kIdentifier) | bit(kLParen) | bit(kLBracket) | bit(kLBrace);
inline constexpr TokenSet kExprFirst = kPrimaryFirst | bit(kExclam) | bit(kMinus);
inline constexpr TokenSet kRelOps = bit(kEquals) | bit(kNotEquals) | bit(kIn) | bit(kLess) |
                                    bit(kLessEquals) | bit(kGreaterEquals) | bit(kGreater);
inline constexpr TokenSet kCalcOps =
    bit(kStar) | bit(kSlash) | bit(kPercent) | bit(kPlus) | bit(kMinus);

enum Rule {
  kRuleStart,
  kRuleExpr,
  kRuleOr,
  kRuleAnd,
  kRuleRelation,
  kRuleCalc,
  kRuleUnary,
  kRuleMember,
  kRulePrimary,
  kRuleExprList,
  kRuleListInit,
  kRuleFieldInit,
  kRuleOptField,
  kRuleMapInit,
  kRuleEscapeIdent,
  kRuleOptExpr,
  kRuleLiteral,
  kRuleCount
};

// Thrown to stop parsing (recursion limit, too many errors, recovery limits).
struct Abort {
  std::string internal;  // reported at NoLocation when not empty
};

class Parser {
 public:
  Parser(const Source& source, const ParseOptions& options);
  ParseResult run();

 private:
  // ---- token stream
  int la(int k);
  const Token& lt(int k);
  void fetch(size_t visible_pos);  // reports the lexer errors met before that token
  void consume();
  void consume_counted();

  // ---- error strategy (antlr DefaultErrorStrategy + cel-go's recoveryLimitErrorStrategy)
  enum class ErrKind { kNone, kInputMismatch, kNoViableAlt };
  struct PendingError {
    ErrKind kind = ErrKind::kNone;
    size_t start = 0;  // visible token positions
    size_t offending = 0;
    TokenSet expected = 0;
  };
  struct Frame {
    TokenSet follow;
    bool eps;
  };
  bool failed() const { return err_.kind != ErrKind::kNone; }
  TokenSet expected(TokenSet next, bool eps) const;
  TokenSet recovery_set() const;
  void notify(const std::string& message, const Token& at);
  void report_unwanted(TokenSet expecting);
  void report_missing(TokenSet expecting);
  void report_match();
  void begin_error() { recovering_ = true; }
  bool match(int type, int state, TokenSet after_next, bool after_eps);
  bool match_set(TokenSet types, int state, TokenSet after_next, bool after_eps);
  enum class SyncKind { kBlock, kLoopBack };
  void sync(int state, TokenSet next, SyncKind kind);
  void no_viable(size_t start, size_t offending);
  void mismatch(TokenSet expecting);
  void report_error();
  void recover();
  void check_attempts();
  void consume_until(TokenSet set);
  void handle_rule_error();  // the generated errorExit block

  // ---- rule bookkeeping (the recursion listener and the invocation stack)
  void enter(Rule rule);
  void exit(Rule rule);
  template <class F>
  auto call(TokenSet follow, bool eps, F&& f) {
    frames_.push_back({follow, eps});
    auto out = f();
    frames_.pop_back();
    return out;
  }

  // ---- rules
  ExprPtr start();
  ExprPtr expr();
  ExprPtr conditional_or();
  ExprPtr conditional_and();
  ExprPtr relation(int precedence);
  ExprPtr calc(int precedence);
  ExprPtr unary();
  ExprPtr member();
  ExprPtr primary();
  std::vector<ExprPtr> expr_list();
  std::vector<ExprPtr> list_init();
  std::vector<Entry> field_init();
  std::vector<Entry> map_init();
  std::string escape_ident(bool* ok, Location* where);
  ExprPtr opt_expr(bool* optional, Location* where);
  ExprPtr literal();

  // ---- predictions (adaptivePredict for this grammar's decisions)
  int predict_unary();
  int predict_negate_loop();
  int predict_member_op();
  int predict_primary();

  // ---- AST construction (cel-go's visitor)
  ExprPtr new_expr(ExprKind kind, Location where);
  ExprPtr error_expr(Location where);
  ExprPtr visitor_error(Location where, const std::string& message);
  ExprPtr call_expr(Location where, const std::string& fn, std::vector<ExprPtr> args,
                    ExprPtr target = nullptr);
  ExprPtr global_call_or_macro(Location where, const std::string& fn, std::vector<ExprPtr> args);
  ExprPtr receiver_call_or_macro(Location where, const std::string& fn, ExprPtr target,
                                 std::vector<ExprPtr> args);
  ExprPtr comprehension(Location where, ExprPtr range, const std::string& var, ExprPtr init,
                        ExprPtr condition, ExprPtr step, ExprPtr result);
  ExprPtr accu(Location where);
  ExprPtr literal_expr(Location where, Literal value);
  ExprPtr balanced(const std::string& fn, const std::vector<ExprPtr>& terms,
                   const std::vector<Location>& ops, size_t lo, size_t hi);
  std::string unquote(const std::string& text, bool is_bytes, bool* ok, std::string* error);

  const Source& source_;
  ParseOptions options_;
  std::vector<Token> all_;       // every token, hidden ones included
  std::vector<size_t> visible_;  // indexes into all_ of the tokens the parser sees
  std::vector<LexError> lex_errors_;
  size_t lex_reported_ = 0;
  size_t p_ = 0;  // position in visible_

  std::vector<Issue> syntax_;
  std::vector<Issue> visitor_;
  int syntax_reports_ = 0;

  PendingError err_;
  bool recovering_ = false;
  long last_error_index_ = -1;
  std::set<int> last_error_states_;
  int state_ = 0;
  int recovery_attempts_ = 0;
  int lookahead_consumed_ = 0;
  std::vector<Frame> frames_;
  std::array<int, kRuleCount> depth_{};
  int64_t next_id_ = 1;
};

// Unescapes a CEL string or bytes literal (parser/unescape.go); false with the error text.
bool unescape(const std::string& text, bool is_bytes, std::string* out, std::string* error);

}  // namespace cryptnode::cel::detail
