// What cel-go's visitor (parser/parser.go, parser/helper.go, parser/macro.go, parser/unescape.go)
// builds from the parse: literals, balanced &&/|| trees, macros expanded to comprehensions, and its
// own errors ("reserved identifier: x", "invalid int literal", "argument must be a simple name").
#include <cerrno>
#include <cmath>
#include <cstdlib>

#include "parser_impl.h"

namespace cryptnode::cel::detail {

namespace {
constexpr const char* kAccuName = "@result";           // HiddenAccumulatorName
constexpr const char* kLegacyAccuName = "__result__";  // AccumulatorName

bool valid_rune(uint32_t v) {
  return v <= 0x10FFFF && !(v >= 0xD800 && v <= 0xDFFF);
}

int unhex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
}  // namespace

bool unescape(const std::string& input, bool is_bytes, std::string* out, std::string* error) {
  std::string value;
  for (size_t i = 0; i < input.size(); ++i) {
    if (input[i] == '\r') {
      value += '\n';
      if (i + 1 < input.size() && input[i + 1] == '\n') ++i;
    } else {
      value += input[i];
    }
  }
  auto fail = [&](const char* message) {
    *error = message;
    return false;
  };
  if (value.size() < 2) return fail("unable to unescape string");
  bool raw = false;
  if (value[0] == 'r' || value[0] == 'R') {
    value = value.substr(1);
    raw = true;
  }
  size_t n = value.size();
  if (n == 0 || value[0] != value[n - 1] || (value[0] != '"' && value[0] != '\'')) {
    return fail("unable to unescape string");
  }
  if (n >= 6) {
    if (value.compare(0, 3, "'''") == 0 || value.compare(0, 3, "\"\"\"") == 0) {
      if (value.compare(n - 3, 3, value.substr(0, 3)) != 0)
        return fail("unable to unescape string");
      value = "\"" + value.substr(3, n - 6) + "\"";
    }
    n = value.size();
  }
  value = value.substr(1, n - 2);
  if (raw || value.find('\\') == std::string::npos) {
    *out = value;
    return true;
  }
  std::string buf;
  size_t i = 0;
  while (i < value.size()) {
    unsigned char c = static_cast<unsigned char>(value[i]);
    if (c != '\\') {
      buf += value[i++];
      continue;
    }
    if (i + 1 >= value.size())
      return fail("unable to unescape string, found '\\' as last character");
    char e = value[i + 1];
    i += 2;
    uint32_t v = 0;
    bool encode = false;
    switch (e) {
      case 'a':
        v = '\a';
        break;
      case 'b':
        v = '\b';
        break;
      case 'f':
        v = '\f';
        break;
      case 'n':
        v = '\n';
        break;
      case 'r':
        v = '\r';
        break;
      case 't':
        v = '\t';
        break;
      case 'v':
        v = '\v';
        break;
      case '\\':
        v = '\\';
        break;
      case '\'':
        v = '\'';
        break;
      case '"':
        v = '"';
        break;
      case '`':
        v = '`';
        break;
      case '?':
        v = '?';
        break;
      case 'x':
      case 'X':
      case 'u':
      case 'U': {
        size_t digits = (e == 'x' || e == 'X') ? 2 : (e == 'u' ? 4 : 8);
        encode = (e == 'x' || e == 'X') ? !is_bytes : true;
        if ((e == 'u' || e == 'U') && is_bytes) return fail("unable to unescape string");
        if (value.size() - i < digits) return fail("unable to unescape string");
        for (size_t k = 0; k < digits; ++k) {
          int h = unhex(value[i + k]);
          if (h < 0) return fail("unable to unescape string");
          v = (v << 4) | static_cast<uint32_t>(h);
        }
        i += digits;
        if (!is_bytes && !valid_rune(v)) return fail("invalid unicode code point");
        break;
      }
      case '0':
      case '1':
      case '2':
      case '3': {
        if (value.size() - i < 2) return fail("unable to unescape octal sequence in string");
        v = static_cast<uint32_t>(e - '0');
        for (size_t k = 0; k < 2; ++k) {
          char x = value[i + k];
          if (x < '0' || x > '7') return fail("unable to unescape octal sequence in string");
          v = v * 8 + static_cast<uint32_t>(x - '0');
        }
        i += 2;
        encode = !is_bytes;
        break;
      }
      default:
        return fail("unable to unescape string");
    }
    if (v < 0x80 || !encode) {
      buf += static_cast<char>(v);
    } else {
      buf += to_utf8(static_cast<char32_t>(v));
    }
  }
  *out = buf;
  return true;
}

Parser::Parser(const Source& source, const ParseOptions& options)
    : source_(source), options_(options) {}

ExprPtr Parser::new_expr(ExprKind kind, Location where) {
  auto e = std::make_shared<Expr>();
  e->id = next_id_++;
  e->kind = kind;
  e->location = where;
  return e;
}

ExprPtr Parser::error_expr(Location where) {
  return new_expr(ExprKind::kError, where);
}

ExprPtr Parser::visitor_error(Location where, const std::string& message) {
  visitor_.push_back({where, message});
  return error_expr(where);
}

ExprPtr Parser::call_expr(Location where, const std::string& fn, std::vector<ExprPtr> args,
                          ExprPtr target) {
  ExprPtr e = new_expr(ExprKind::kCall, where);
  e->name = fn;
  for (auto& a : args) e->visit_depth = std::max(e->visit_depth, a->visit_depth);
  if (target) e->visit_depth = std::max(e->visit_depth, target->visit_depth);
  e->args = std::move(args);
  e->target = std::move(target);
  return e;
}

ExprPtr Parser::literal_expr(Location where, Literal value) {
  ExprPtr e = new_expr(ExprKind::kLiteral, where);
  e->literal = std::move(value);
  return e;
}

ExprPtr Parser::accu(Location where) {
  ExprPtr e = new_expr(ExprKind::kIdent, where);
  e->name = kAccuName;
  return e;
}

ExprPtr Parser::balanced(const std::string& fn, const std::vector<ExprPtr>& terms,
                         const std::vector<Location>& ops, size_t lo, size_t hi) {
  if (ops.empty()) return terms[0];
  if (hi == ops.size()) hi = ops.size() - 1;  // first call: the whole range
  size_t mid = (lo + hi + 1) / 2;
  ExprPtr left = mid == lo ? terms[mid] : balanced(fn, terms, ops, lo, mid - 1);
  ExprPtr right = mid == hi ? terms[mid + 1] : balanced(fn, terms, ops, mid + 1, hi);
  return call_expr(ops[mid], fn, {left, right});
}

ExprPtr Parser::comprehension(Location where, ExprPtr range, const std::string& var, ExprPtr init,
                              ExprPtr condition, ExprPtr step, ExprPtr result) {
  ExprPtr e = new_expr(ExprKind::kComprehension, where);
  e->iter_range = std::move(range);
  e->iter_var = var;
  e->accu_var = kAccuName;
  e->accu_init = std::move(init);
  e->loop_condition = std::move(condition);
  e->loop_step = std::move(step);
  e->result = std::move(result);
  return e;
}

ExprPtr Parser::global_call_or_macro(Location where, const std::string& fn,
                                     std::vector<ExprPtr> args) {
  if (fn == "has" && args.size() == 1) {
    if (args[0]->kind == ExprKind::kSelect) {
      ExprPtr e = new_expr(ExprKind::kSelect, where);
      e->target = args[0]->target;
      e->name = args[0]->name;
      e->test_only = true;
      return e;
    }
    return visitor_error(args[0]->location, "invalid argument to has() macro");
  }
  return call_expr(where, fn, std::move(args));
}

ExprPtr Parser::receiver_call_or_macro(Location where, const std::string& fn, ExprPtr target,
                                       std::vector<ExprPtr> args) {
  bool quantifier = (fn == "all" || fn == "exists" || fn == "exists_one" || fn == "existsOne") &&
                    args.size() == 2;
  bool map = fn == "map" && (args.size() == 2 || args.size() == 3);
  bool filter = fn == "filter" && args.size() == 2;
  if (!quantifier && !map && !filter) return call_expr(where, fn, std::move(args), target);

  if (args[0]->kind != ExprKind::kIdent) {
    return visitor_error(args[0]->location, quantifier ? "argument must be a simple name"
                                                       : "argument is not an identifier");
  }
  std::string var = args[0]->name;
  if (var == kAccuName || var == kLegacyAccuName) {
    return visitor_error(args[0]->location, "iteration variable overwrites accumulator variable");
  }
  auto lit = [&](Literal v) { return literal_expr(where, std::move(v)); };
  auto fcall = [&](const char* f, std::vector<ExprPtr> a) {
    return call_expr(where, f, std::move(a));
  };
  auto list_of = [&](std::vector<ExprPtr> elems) {
    ExprPtr l = new_expr(ExprKind::kList, where);
    l->args = std::move(elems);
    return l;
  };
  if (quantifier) {
    if (fn == "all") {
      return comprehension(where, target, var, lit(true),
                           fcall(op::kNotStrictlyFalse, {accu(where)}),
                           fcall(op::kLogicalAnd, {accu(where), args[1]}), accu(where));
    }
    if (fn == "exists") {
      return comprehension(where, target, var, lit(false),
                           fcall(op::kNotStrictlyFalse, {fcall(op::kLogicalNot, {accu(where)})}),
                           fcall(op::kLogicalOr, {accu(where), args[1]}), accu(where));
    }
    return comprehension(
        where, target, var, lit(int64_t{0}), lit(true),
        fcall(op::kConditional,
              {args[1], fcall(op::kAdd, {accu(where), lit(int64_t{1})}), accu(where)}),
        fcall(op::kEquals, {accu(where), lit(int64_t{1})}));
  }
  if (map) {
    ExprPtr fn_expr = args.size() == 3 ? args[2] : args[1];
    ExprPtr step = fcall(op::kAdd, {accu(where), list_of({fn_expr})});
    if (args.size() == 3) step = fcall(op::kConditional, {args[1], step, accu(where)});
    return comprehension(where, target, var, list_of({}), lit(true), step, accu(where));
  }
  ExprPtr step = fcall(op::kAdd, {accu(where), list_of({args[0]})});
  step = fcall(op::kConditional, {args[1], step, accu(where)});
  return comprehension(where, target, var, list_of({}), lit(true), step, accu(where));
}

ExprPtr Parser::literal() {
  enter(kRuleLiteral);
  auto body = [&]() -> ExprPtr {
    sync(256, kLiteralFirst, SyncKind::kBlock);
    if (failed()) return nullptr;
    Location begin = lt(1).location;
    std::string sign;
    if (la(1) == kMinus) {
      if (la(2) != kNumInt && la(2) != kNumFloat) {
        no_viable(p_, p_ + 1);
        return nullptr;
      }
      if (!match(kMinus, 243, bit(la(2)), false)) return nullptr;
      sign = "-";
    }
    int type = la(1);
    std::string text = lt(1).text;
    if (!match(type, 250, 0, true)) return nullptr;
    switch (type) {
      case kNumInt: {
        int base = 10;
        std::string digits = text;
        if (digits.rfind("0x", 0) == 0) {
          base = 16;
          digits = digits.substr(2);
        }
        errno = 0;
        char* end = nullptr;
        std::string full = sign + digits;
        long long v = std::strtoll(full.c_str(), &end, base);
        if (errno == ERANGE || *end != '\0') return visitor_error(begin, "invalid int literal");
        return literal_expr(begin, static_cast<int64_t>(v));
      }
      case kNumUint: {
        std::string digits = text.substr(0, text.size() - 1);
        int base = 10;
        if (digits.rfind("0x", 0) == 0) {
          base = 16;
          digits = digits.substr(2);
        }
        errno = 0;
        char* end = nullptr;
        unsigned long long v = std::strtoull(digits.c_str(), &end, base);
        if (errno == ERANGE || *end != '\0') return visitor_error(begin, "invalid uint literal");
        return literal_expr(begin, static_cast<uint64_t>(v));
      }
      case kNumFloat: {
        std::string full = sign + text;
        double v = std::strtod(full.c_str(), nullptr);
        if (std::isinf(v)) return visitor_error(begin, "invalid double literal");
        return literal_expr(begin, v);
      }
      case kString:
      case kBytes: {
        bool is_bytes = type == kBytes;
        std::string out;
        std::string error;
        if (!unescape(is_bytes ? text.substr(1) : text, is_bytes, &out, &error)) {
          visitor_error(begin, error);
          out = text;
        }
        if (is_bytes) return literal_expr(begin, Bytes{out});
        return literal_expr(begin, out);
      }
      case kTrue:
        return literal_expr(begin, true);
      case kFalse:
        return literal_expr(begin, false);
      default:
        return literal_expr(begin, NullValue{});
    }
  };
  ExprPtr out = body();
  handle_rule_error();
  exit(kRuleLiteral);
  return out ? out : error_expr(lt(1).location);
}

ParseResult Parser::run() {
  ParseResult result;
  size_t size = source_.runes().size();
  if (size > static_cast<size_t>(options_.code_point_limit)) {
    result.issues.push_back(
        {Location{}, "expression code point size exceeds limit: size: " + std::to_string(size) +
                         ", limit " + std::to_string(options_.code_point_limit)});
    result.reported = 1;
    return result;
  }
  all_ = lex(source_, &lex_errors_);
  for (size_t i = 0; i < all_.size(); ++i) {
    if (!all_[i].hidden) visible_.push_back(i);
  }
  ExprPtr expr;
  std::string internal;
  bool aborted = false;
  try {
    expr = start();
    fetch(visible_.size() - 1);
  } catch (const Abort& abort) {
    aborted = true;
    internal = abort.internal;
  }
  if (aborted) {
    visitor_.clear();
  } else if (expr && expr->visit_depth > options_.max_recursion_depth) {
    internal = "max recursion depth exceeded";
  }
  result.issues = syntax_;
  result.issues.insert(result.issues.end(), visitor_.begin(), visitor_.end());
  if (!internal.empty()) result.issues.push_back({Location{}, internal});
  result.reported = static_cast<int>(result.issues.size());
  if (result.issues.empty()) result.expr = expr;
  return result;
}

}  // namespace cryptnode::cel::detail

namespace cryptnode::cel {
ParseResult parse(const Source& source, const ParseOptions& options) {
  return detail::Parser(source, options).run();
}
}  // namespace cryptnode::cel
