// ANTLR's DefaultErrorStrategy (antlr4-go v4.13 error_strategy.go) as cel-go configures it
// (parser/parser.go: recoveryLimitErrorStrategy, lookaheadConsumer, SyntaxError's message hack).
#include <regex>

#include "parser_impl.h"

namespace cryptnode::cel::detail {

void Parser::fetch(size_t pos) {
  size_t upto = visible_[pos];
  while (lex_reported_ < lex_errors_.size() && lex_errors_[lex_reported_].next_token <= upto) {
    const LexError& e = lex_errors_[lex_reported_++];
    Token at;
    at.location = e.location;
    notify(e.message, at);
  }
}

int Parser::la(int k) {
  return lt(k).type;
}

const Token& Parser::lt(int k) {
  size_t i = p_ + static_cast<size_t>(k - 1);
  if (i >= visible_.size()) i = visible_.size() - 1;
  fetch(i);
  return all_[visible_[i]];
}

void Parser::consume() {
  if (la(1) != kEOF) ++p_;
}

// Consumption during recovery goes through cel-go's lookaheadConsumer.
void Parser::consume_counted() {
  if (lookahead_consumed_ >= options_.lookahead_token_limit) {
    throw Abort{"error recovery token lookahead limit exceeded: " +
                std::to_string(options_.lookahead_token_limit)};
  }
  ++lookahead_consumed_;
  consume();
}

TokenSet Parser::expected(TokenSet next, bool eps) const {
  TokenSet out = next;
  if (!eps) return out;
  for (auto it = frames_.rbegin(); it != frames_.rend(); ++it) {
    out |= it->follow;
    if (!it->eps) return out;
  }
  return out | bit(kEOF);
}

TokenSet Parser::recovery_set() const {
  TokenSet out = 0;
  for (const Frame& f : frames_) out |= f.follow;
  return out;
}

void Parser::notify(const std::string& message, const Token& at) {
  std::string msg = message;
  if (msg.find("no viable alternative") != std::string::npos) {
    static const std::regex kReserved("no viable alternative at input '.(true|false|null)'");
    msg = std::regex_replace(msg, kReserved, "mismatched input '$1' expecting IDENTIFIER");
  }
  if (syntax_reports_ < options_.error_reporting_limit) {
    ++syntax_reports_;
    syntax_.push_back({at.location, "Syntax error: " + msg});
    return;
  }
  syntax_.push_back({at.location, "Syntax error: More than " +
                                      std::to_string(options_.error_reporting_limit) +
                                      " syntax errors"});
  throw Abort{};
}

namespace {
std::string quote_ws(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else {
      out += c;
    }
  }
  return out + "'";
}
}  // namespace

void Parser::report_unwanted(TokenSet expecting) {
  if (recovering_) return;
  begin_error();
  notify("extraneous input " + quote_ws(lt(1).text) + " expecting " + token_set_string(expecting),
         lt(1));
}

void Parser::report_missing(TokenSet expecting) {
  if (recovering_) return;
  begin_error();
  notify("missing " + token_set_string(expecting) + " at " + quote_ws(lt(1).text), lt(1));
}

void Parser::report_match() {
  recovering_ = false;
  last_error_states_.clear();
  last_error_index_ = -1;
}

void Parser::check_attempts() {
  lookahead_consumed_ = 0;
  if (recovery_attempts_ == options_.error_recovery_limit) {
    ++recovery_attempts_;
    notify(
        "error recovery attempt limit exceeded: " + std::to_string(options_.error_recovery_limit),
        lt(1));
    throw Abort{};
  }
  ++recovery_attempts_;
}

bool Parser::match(int type, int state, TokenSet after_next, bool after_eps) {
  return match_set(bit(type), state, after_next, after_eps);
}

bool Parser::match_set(TokenSet types, int state, TokenSet after_next, bool after_eps) {
  state_ = state;
  if (types & bit(la(1))) {
    report_match();
    consume();
    return true;
  }
  // RecoverInline: single-token deletion, then single-token insertion, else a mismatch.
  check_attempts();
  if (types & bit(la(2))) {
    report_unwanted(types);
    consume_counted();
    report_match();
    consume_counted();
    return true;
  }
  if (expected(after_next, after_eps) & bit(la(1))) {
    report_missing(types);
    return true;
  }
  mismatch(types);
  return false;
}

void Parser::mismatch(TokenSet expecting) {
  err_.kind = ErrKind::kInputMismatch;
  err_.start = p_;
  err_.offending = p_;
  err_.expected = expecting;
}

void Parser::no_viable(size_t start, size_t offending) {
  err_.kind = ErrKind::kNoViableAlt;
  err_.start = start;
  err_.offending = std::min(offending, visible_.size() - 1);
}

void Parser::sync(int state, TokenSet next, SyncKind kind) {
  state_ = state;
  if (recovering_) return;
  if (next & bit(la(1))) return;
  TokenSet exp = expected(next, false);
  if (kind == SyncKind::kBlock) {
    if (exp & bit(la(2))) {
      report_unwanted(exp);
      consume();
      report_match();
      return;
    }
    mismatch(exp);
    return;
  }
  report_unwanted(exp);
  consume_until(exp | recovery_set());
}

void Parser::report_error() {
  if (recovering_) return;
  begin_error();
  const Token& off = all_[visible_[err_.offending]];
  if (err_.kind == ErrKind::kNoViableAlt) {
    std::string input;
    const Token& first = all_[visible_[err_.start]];
    if (first.type == kEOF) {
      input = "<EOF>";
    } else {
      for (size_t i = visible_[err_.start]; i <= visible_[err_.offending]; ++i) {
        if (all_[i].type == kEOF) break;
        input += all_[i].text;
      }
    }
    notify("no viable alternative at input " + quote_ws(input), off);
    return;
  }
  notify("mismatched input " + quote_ws(off.text) + " expecting " + token_set_string(err_.expected),
         off);
}

void Parser::consume_until(TokenSet set) {
  while (la(1) != kEOF && !(set & bit(la(1)))) consume_counted();
}

void Parser::recover() {
  check_attempts();
  if (last_error_index_ == static_cast<long>(p_) && last_error_states_.count(state_)) {
    consume_counted();
  }
  last_error_index_ = static_cast<long>(p_);
  last_error_states_.insert(state_);
  consume_until(recovery_set());
}

void Parser::handle_rule_error() {
  if (!failed()) return;
  report_error();
  recover();
  err_ = PendingError{};
}

void Parser::enter(Rule rule) {
  if (++depth_[rule] > options_.max_recursion_depth) {
    throw Abort{"expression recursion limit exceeded: " +
                std::to_string(options_.max_recursion_depth)};
  }
}

void Parser::exit(Rule rule) {
  --depth_[rule];
}

}  // namespace cryptnode::cel::detail
