// The grammar rules of cel-go's CEL.g4, in the order and with the error-handling sites of the
// generated parser (parser/gen/cel_parser.go). Each rule ends with the generated "errorExit"
// block: report the pending error, recover, return what was built.
#include <algorithm>

#include "parser_impl.h"

namespace cryptnode::cel::detail {

namespace {
constexpr TokenSet kEscIdentFirst = bit(kIdentifier) | bit(kEscIdentifier);
constexpr TokenSet kOptFieldFirst = bit(kQuestion) | kEscIdentFirst;
constexpr TokenSet kOptExprFirst = bit(kQuestion) | kExprFirst;
constexpr TokenSet kMemberOps = bit(kDot) | bit(kLBracket);

const char* binary_function(int type) {
  switch (type) {
    case kEquals:
      return op::kEquals;
    case kNotEquals:
      return op::kNotEquals;
    case kIn:
      return op::kIn;
    case kLess:
      return op::kLess;
    case kLessEquals:
      return op::kLessEquals;
    case kGreaterEquals:
      return op::kGreaterEquals;
    case kGreater:
      return op::kGreater;
    case kStar:
      return op::kMultiply;
    case kSlash:
      return op::kDivide;
    case kPercent:
      return op::kModulo;
    case kPlus:
      return op::kAdd;
    default:
      return op::kSubtract;
  }
}
}  // namespace

ExprPtr Parser::start() {
  enter(kRuleStart);
  ExprPtr e = call(bit(kEOF), false, [&] { return expr(); });
  match(kEOF, 35, 0, true);
  handle_rule_error();
  exit(kRuleStart);
  return e;
}

ExprPtr Parser::expr() {
  enter(kRuleExpr);
  auto body = [&]() -> ExprPtr {
    ExprPtr e = call(bit(kQuestion), true, [&] { return conditional_or(); });
    state_ = 43;
    if (la(1) != kQuestion) return e;
    Location q = lt(1).location;
    if (!match(kQuestion, 38, kExprFirst, false)) return e;
    ExprPtr t = call(bit(kColon), false, [&] { return conditional_or(); });
    if (!match(kColon, 40, kExprFirst, false)) return e;
    ExprPtr f = call(0, true, [&] { return expr(); });
    ExprPtr out = call_expr(q, op::kConditional, {e, t, f});
    out->visit_depth += 1;
    return out;
  };
  ExprPtr out = body();
  handle_rule_error();
  exit(kRuleExpr);
  return out;
}

ExprPtr Parser::conditional_or() {
  enter(kRuleOr);
  std::vector<ExprPtr> terms;
  std::vector<Location> ops;
  terms.push_back(call(bit(kLogicalOr), true, [&] { return conditional_and(); }));
  while (la(1) == kLogicalOr) {
    Location at = lt(1).location;
    if (!match(kLogicalOr, 46, kExprFirst, false)) break;
    ops.push_back(at);
    terms.push_back(call(bit(kLogicalOr), true, [&] { return conditional_and(); }));
    state_ = 52;
  }
  handle_rule_error();
  exit(kRuleOr);
  return balanced(op::kLogicalOr, terms, ops, 0, ops.size());
}

ExprPtr Parser::conditional_and() {
  enter(kRuleAnd);
  std::vector<ExprPtr> terms;
  std::vector<Location> ops;
  terms.push_back(call(bit(kLogicalAnd), true, [&] { return relation(0); }));
  while (la(1) == kLogicalAnd) {
    Location at = lt(1).location;
    if (!match(kLogicalAnd, 55, kExprFirst, false)) break;
    ops.push_back(at);
    terms.push_back(call(bit(kLogicalAnd), true, [&] { return relation(0); }));
    state_ = 59;
  }
  handle_rule_error();
  exit(kRuleAnd);
  return balanced(op::kLogicalAnd, terms, ops, 0, ops.size());
}

ExprPtr Parser::relation(int precedence) {
  enter(kRuleRelation);
  ExprPtr e = call(kRelOps, true, [&] { return calc(0); });
  state_ = 69;
  // Decision 3: continue while a relational operator may bind at this precedence.
  while ((kRelOps & bit(la(1))) && precedence <= 1) {
    exit(kRuleRelation);
    enter(kRuleRelation);
    int type = la(1);
    Location at = lt(1).location;
    state_ = 65;
    report_match();
    consume();
    ExprPtr rhs = call(kRelOps, true, [&] { return relation(2); });
    ExprPtr next = call_expr(at, binary_function(type), {e, rhs});
    next->visit_depth += 1;
    e = next;
    state_ = 71;
  }
  handle_rule_error();
  exit(kRuleRelation);
  return e;
}

ExprPtr Parser::calc(int precedence) {
  enter(kRuleCalc);
  ExprPtr e = call(kCalcOps, true, [&] { return unary(); });
  state_ = 83;
  while (true) {
    int type = la(1);
    bool multiplicative = type == kStar || type == kSlash || type == kPercent;
    bool additive = type == kPlus || type == kMinus;
    // Decision 5 with the precedence predicates of the left-recursive rule.
    if (!((multiplicative && precedence <= 2) || (additive && precedence <= 1))) break;
    exit(kRuleCalc);
    enter(kRuleCalc);
    Location at = lt(1).location;
    state_ = multiplicative ? 76 : 79;
    report_match();
    consume();
    ExprPtr rhs = call(kCalcOps, true, [&] { return calc(multiplicative ? 3 : 2); });
    ExprPtr next = call_expr(at, binary_function(type), {e, rhs});
    next->visit_depth += 1;
    e = next;
    state_ = 85;
  }
  handle_rule_error();
  exit(kRuleCalc);
  return e;
}

ExprPtr Parser::unary() {
  enter(kRuleUnary);
  auto body = [&]() -> ExprPtr {
    sync(99, kExprFirst, SyncKind::kBlock);
    if (failed()) return nullptr;
    int alt = predict_unary();
    if (failed()) return nullptr;
    if (alt == 1) return call(0, true, [&] { return member(); });
    int op_type = alt == 2 ? kExclam : kMinus;
    Location first = lt(1).location;
    int count = 0;
    TokenSet after = bit(op_type) | kPrimaryFirst;
    while (true) {
      if (!match(op_type, alt == 2 ? 87 : 93, after, false)) return nullptr;
      ++count;
      sync(alt == 2 ? 90 : 96, after, SyncKind::kLoopBack);
      if (alt == 2) {
        if (la(1) != kExclam) break;
      } else {
        int next = predict_negate_loop();
        if (failed()) return nullptr;
        if (next != 1) break;
      }
    }
    ExprPtr m = call(0, true, [&] { return member(); });
    if (count % 2 == 0) return m;
    return call_expr(first, alt == 2 ? op::kLogicalNot : op::kNegate, {m});
  };
  ExprPtr out = body();
  handle_rule_error();
  exit(kRuleUnary);
  return out ? out : error_expr(lt(1).location);
}

ExprPtr Parser::member() {
  enter(kRuleMember);
  ExprPtr e = call(kMemberOps, true, [&] { return primary(); });
  auto loop = [&]() {
    while (true) {
      state_ = 128;
      if (!(kMemberOps & bit(la(1)))) return;  // decision 13
      exit(kRuleMember);
      enter(kRuleMember);
      state_ = 126;
      int alt = predict_member_op();
      if (failed()) return;
      if (alt == 1) {
        Location dot = lt(1).location;
        if (!match(kDot, 105, kOptFieldFirst, false)) return;
        sync(107, kOptFieldFirst, SyncKind::kBlock);
        if (failed()) return;
        bool optional = false;
        if (la(1) == kQuestion) {
          if (!match(kQuestion, 106, kEscIdentFirst, false)) return;
          optional = true;
        }
        bool ok = false;
        Location where;
        std::string field = call(kMemberOps, true, [&] { return escape_ident(&ok, &where); });
        int depth = e->visit_depth + 1;
        if (optional) {
          e = visitor_error(dot, "unsupported syntax '.?'");
        } else if (ok) {
          ExprPtr sel = new_expr(ExprKind::kSelect, dot);
          sel->target = e;
          sel->name = field;
          e = sel;
        } else {
          e = error_expr(dot);
        }
        e->visit_depth = depth;
      } else if (alt == 2) {
        if (!match(kDot, 111, bit(kIdentifier), false)) return;
        std::string name = lt(1).text;
        if (!match(kIdentifier, 112, bit(kLParen), false)) return;
        Location open = lt(1).location;
        if (!match(kLParen, 113, kExprFirst | bit(kRParen), false)) return;
        sync(115, kExprFirst | bit(kRParen), SyncKind::kBlock);
        if (failed()) return;
        std::vector<ExprPtr> args;
        if (kExprFirst & bit(la(1))) {
          args = call(bit(kRParen), false, [&] { return expr_list(); });
        }
        if (!match(kRParen, 117, kMemberOps, true)) return;
        int depth = e->visit_depth;
        for (auto& a : args) depth = std::max(depth, a->visit_depth);
        e = receiver_call_or_macro(open, name, e, std::move(args));
        e->visit_depth = depth + 1;
      } else {
        Location open = lt(1).location;
        if (!match(kLBracket, 119, kOptExprFirst, false)) return;
        sync(121, kOptExprFirst, SyncKind::kBlock);
        if (failed()) return;
        bool optional = false;
        if (la(1) == kQuestion) {
          if (!match(kQuestion, 120, kExprFirst, false)) return;
          optional = true;
        }
        ExprPtr index = call(bit(kRBracket), false, [&] { return expr(); });
        if (!match(kRBracket, 124, kMemberOps, true)) return;
        int depth = std::max(e->visit_depth, index->visit_depth) + 1;
        if (optional) {
          e = visitor_error(open, "unsupported syntax '[?'");
        } else {
          e = call_expr(open, op::kIndex, {e, index});
        }
        e->visit_depth = depth;
      }
    }
  };
  loop();
  handle_rule_error();
  exit(kRuleMember);
  return e;
}

ExprPtr Parser::primary() {
  enter(kRulePrimary);
  auto body = [&]() -> ExprPtr {
    sync(184, kPrimaryFirst, SyncKind::kBlock);
    if (failed()) return nullptr;
    int alt = predict_primary();
    if (failed()) return nullptr;
    Location begin = lt(1).location;
    switch (alt) {
      case 1:
      case 2: {
        sync(alt == 1 ? 132 : 136, bit(kDot) | bit(kIdentifier), SyncKind::kBlock);
        if (failed()) return nullptr;
        bool leading = la(1) == kDot;
        if (leading && !match(kDot, alt == 1 ? 131 : 135, bit(kIdentifier), false)) return nullptr;
        Location id_loc = lt(1).location;
        std::string id = lt(1).text;
        bool id_ok = la(1) == kIdentifier;
        if (!match(kIdentifier, alt == 1 ? 134 : 138, alt == 1 ? 0 : bit(kLParen), alt == 1)) {
          return nullptr;
        }
        static const std::set<std::string> kReserved = {
            "as",        "break", "const",  "continue", "else", "false", "for",
            "function",  "if",    "import", "in",       "let",  "loop",  "package",
            "namespace", "null",  "return", "true",     "var",  "void",  "while"};
        std::string name = (leading ? "." : "") + id;
        if (alt == 1) {
          if (!id_ok) return error_expr(id_loc);
          if (kReserved.count(id)) return visitor_error(begin, "reserved identifier: " + id);
          ExprPtr ident = new_expr(ExprKind::kIdent, id_loc);
          ident->name = name;
          return ident;
        }
        Location open = lt(1).location;
        if (!match(kLParen, 139, kExprFirst | bit(kRParen), false)) return nullptr;
        sync(141, kExprFirst | bit(kRParen), SyncKind::kBlock);
        if (failed()) return nullptr;
        std::vector<ExprPtr> args;
        if (kExprFirst & bit(la(1))) {
          args = call(bit(kRParen), false, [&] { return expr_list(); });
        }
        if (!match(kRParen, 143, 0, true)) return nullptr;
        if (kReserved.count(id)) return visitor_error(begin, "reserved identifier: " + id);
        int depth = 0;
        for (auto& a : args) depth = std::max(depth, a->visit_depth);
        ExprPtr out = global_call_or_macro(open, name, std::move(args));
        out->visit_depth = std::max(out->visit_depth, depth);
        return out;
      }
      case 3: {
        if (!match(kLParen, 144, kExprFirst, false)) return nullptr;
        ExprPtr e = call(bit(kRParen), false, [&] { return expr(); });
        if (!match(kRParen, 146, 0, true)) return nullptr;
        return e;
      }
      case 4: {
        constexpr TokenSet kAfter = kOptExprFirst | bit(kComma) | bit(kRBracket);
        if (!match(kLBracket, 148, kAfter, false)) return nullptr;
        sync(150, kAfter, SyncKind::kBlock);
        if (failed()) return nullptr;
        std::vector<ExprPtr> elems;
        if (kOptExprFirst & bit(la(1))) {
          elems = call(bit(kComma) | bit(kRBracket), false, [&] { return list_init(); });
        }
        sync(153, bit(kComma) | bit(kRBracket), SyncKind::kBlock);
        if (failed()) return nullptr;
        if (la(1) == kComma && !match(kComma, 152, bit(kRBracket), false)) return nullptr;
        if (!match(kRBracket, 155, 0, true)) return nullptr;
        ExprPtr list = new_expr(ExprKind::kList, begin);
        for (auto& el : elems) list->visit_depth = std::max(list->visit_depth, el->visit_depth);
        list->args = std::move(elems);
        return list;
      }
      case 5: {
        constexpr TokenSet kAfter = kOptExprFirst | bit(kComma) | bit(kRBrace);
        if (!match(kLBrace, 156, kAfter, false)) return nullptr;
        sync(158, kAfter, SyncKind::kBlock);
        if (failed()) return nullptr;
        std::vector<Entry> entries;
        if (kOptExprFirst & bit(la(1))) {
          entries = call(bit(kComma) | bit(kRBrace), false, [&] { return map_init(); });
        }
        sync(161, bit(kComma) | bit(kRBrace), SyncKind::kBlock);
        if (failed()) return nullptr;
        if (la(1) == kComma && !match(kComma, 160, bit(kRBrace), false)) return nullptr;
        if (!match(kRBrace, 163, 0, true)) return nullptr;
        ExprPtr map = new_expr(ExprKind::kMap, begin);
        for (auto& en : entries) {
          map->visit_depth =
              std::max({map->visit_depth, en.key->visit_depth, en.value->visit_depth});
        }
        map->entries = std::move(entries);
        return map;
      }
      case 6: {
        sync(165, bit(kDot) | bit(kIdentifier), SyncKind::kBlock);
        if (failed()) return nullptr;
        std::string name;
        if (la(1) == kDot) {
          if (!match(kDot, 164, bit(kIdentifier), false)) return nullptr;
          name = ".";
        }
        std::string first = lt(1).text;
        if (!match(kIdentifier, 167, bit(kDot) | bit(kLBrace), false)) return nullptr;
        name += first;
        sync(172, bit(kDot) | bit(kLBrace), SyncKind::kBlock);
        if (failed()) return nullptr;
        while (la(1) == kDot) {
          if (!match(kDot, 168, bit(kIdentifier), false)) return nullptr;
          std::string part = lt(1).text;
          if (!match(kIdentifier, 169, bit(kDot) | bit(kLBrace), false)) return nullptr;
          name += "." + part;
          sync(174, bit(kDot) | bit(kLBrace), SyncKind::kLoopBack);
        }
        Location open = lt(1).location;
        constexpr TokenSet kAfter = kOptFieldFirst | bit(kComma) | bit(kRBrace);
        if (!match(kLBrace, 175, kAfter, false)) return nullptr;
        sync(177, kAfter, SyncKind::kBlock);
        if (failed()) return nullptr;
        std::vector<Entry> fields;
        if (kOptFieldFirst & bit(la(1))) {
          fields = call(bit(kComma) | bit(kRBrace), false, [&] { return field_init(); });
        }
        sync(180, bit(kComma) | bit(kRBrace), SyncKind::kBlock);
        if (failed()) return nullptr;
        if (la(1) == kComma && !match(kComma, 179, bit(kRBrace), false)) return nullptr;
        if (!match(kRBrace, 182, 0, true)) return nullptr;
        ExprPtr msg = new_expr(ExprKind::kStruct, open);
        msg->name = name;
        for (auto& f : fields) msg->visit_depth = std::max(msg->visit_depth, f.value->visit_depth);
        msg->entries = std::move(fields);
        return msg;
      }
      default:
        return call(0, true, [&] { return literal(); });
    }
  };
  ExprPtr out = body();
  handle_rule_error();
  exit(kRulePrimary);
  return out ? out : error_expr(lt(1).location);
}

std::vector<ExprPtr> Parser::expr_list() {
  enter(kRuleExprList);
  std::vector<ExprPtr> out;
  out.push_back(call(bit(kComma), true, [&] { return expr(); }));
  while (la(1) == kComma) {
    if (!match(kComma, 187, kExprFirst, false)) break;
    out.push_back(call(bit(kComma), true, [&] { return expr(); }));
    state_ = 193;
  }
  handle_rule_error();
  exit(kRuleExprList);
  return out;
}

std::vector<ExprPtr> Parser::list_init() {
  enter(kRuleListInit);
  std::vector<ExprPtr> out;
  auto element = [&]() {
    bool optional = false;
    Location where;
    ExprPtr e = call(bit(kComma), true, [&] { return opt_expr(&optional, &where); });
    if (optional) visitor_error(where, "unsupported syntax '?'");
    out.push_back(e);
  };
  element();
  // Decision 27: a ',' continues the list unless it is the trailing comma.
  while (la(1) == kComma && (kOptExprFirst & bit(la(2)))) {
    if (!match(kComma, 195, kOptExprFirst, false)) break;
    element();
    state_ = 201;
  }
  handle_rule_error();
  exit(kRuleListInit);
  return out;
}

std::vector<Entry> Parser::field_init() {
  enter(kRuleFieldInit);
  std::vector<Entry> out;
  auto field = [&](int colon_state) -> bool {
    bool ok = false;
    bool optional = false;
    Location where;
    std::string name = call(bit(kColon), false, [&] {
      enter(kRuleOptField);
      std::string n;
      sync(216, kOptFieldFirst, SyncKind::kBlock);
      if (!failed()) {
        bool matched = true;
        if (la(1) == kQuestion) {
          where = lt(1).location;
          optional = true;
          matched = match(kQuestion, 215, kEscIdentFirst, false);
        }
        if (matched) {
          Location at;
          n = call(0, true, [&] { return escape_ident(&ok, &at); });
          if (!optional) where = at;
        }
      }
      handle_rule_error();
      exit(kRuleOptField);
      return n;
    });
    Location colon = lt(1).location;
    if (!match(kColon, colon_state, kExprFirst, false)) return false;
    ExprPtr value = call(bit(kComma), true, [&] { return expr(); });
    if (optional) {
      visitor_error(where, "unsupported syntax '?'");
      return true;
    }
    if (ok) out.push_back(Entry{colon, nullptr, name, value});
    return true;
  };
  if (field(203)) {
    while (la(1) == kComma && (kOptFieldFirst & bit(la(2)))) {  // decision 28
      if (!match(kComma, 205, kOptFieldFirst, false)) break;
      if (!field(207)) break;
      state_ = 214;
    }
  }
  handle_rule_error();
  exit(kRuleFieldInit);
  return out;
}

std::vector<Entry> Parser::map_init() {
  enter(kRuleMapInit);
  std::vector<Entry> out;
  auto entry = [&](int colon_state) -> bool {
    bool optional = false;
    Location where;
    ExprPtr key = call(bit(kColon), false, [&] { return opt_expr(&optional, &where); });
    Location colon = lt(1).location;
    if (!match(kColon, colon_state, kExprFirst, false)) return false;
    ExprPtr value = call(bit(kComma), true, [&] { return expr(); });
    if (optional) {
      visitor_error(where, "unsupported syntax '?'");
      return true;
    }
    out.push_back(Entry{colon, key, "", value});
    return true;
  };
  if (entry(221)) {
    while (la(1) == kComma && (kOptExprFirst & bit(la(2)))) {  // decision 30
      if (!match(kComma, 223, kOptExprFirst, false)) break;
      if (!entry(225)) break;
      state_ = 232;
    }
  }
  handle_rule_error();
  exit(kRuleMapInit);
  return out;
}

std::string Parser::escape_ident(bool* ok, Location* where) {
  enter(kRuleEscapeIdent);
  std::string out;
  *ok = false;
  *where = lt(1).location;
  sync(235, kEscIdentFirst, SyncKind::kBlock);
  if (!failed()) {
    std::string text = lt(1).text;
    if (la(1) == kIdentifier) {
      *ok = match(kIdentifier, 233, 0, true);
      out = text;
    } else if (la(1) == kEscIdentifier) {
      *ok = match(kEscIdentifier, 234, 0, true);
      out = text.substr(1, text.size() - 2);
    } else {
      no_viable(p_, p_);
    }
  }
  handle_rule_error();
  exit(kRuleEscapeIdent);
  return out;
}

ExprPtr Parser::opt_expr(bool* optional, Location* where) {
  enter(kRuleOptExpr);
  ExprPtr out;
  *optional = false;
  *where = lt(1).location;
  sync(238, kOptExprFirst, SyncKind::kBlock);
  if (!failed()) {
    bool matched = true;
    if (la(1) == kQuestion) {
      *optional = true;
      matched = match(kQuestion, 237, kExprFirst, false);
    }
    if (matched) out = call(0, true, [&] { return expr(); });
  }
  handle_rule_error();
  exit(kRuleOptExpr);
  return out ? out : error_expr(*where);
}

// ---- predictions ------------------------------------------------------------------------------

// Decision 8: '!'+ member | '-'+ member | member (a '-' before a number is a negative literal).
int Parser::predict_unary() {
  int t1 = la(1);
  if (t1 == kExclam) return 2;
  if (t1 == kMinus) {
    int t2 = la(2);
    if (t2 == kNumInt || t2 == kNumFloat) return 1;
    if ((kPrimaryFirst | bit(kMinus)) & bit(t2)) return 3;
    no_viable(p_, p_ + 1);
    return 0;
  }
  if (kPrimaryFirst & bit(t1)) return 1;
  no_viable(p_, p_);
  return 0;
}

// Decision 7: another '-' of a negation, or the member.
int Parser::predict_negate_loop() {
  int t1 = la(1);
  if (t1 == kMinus) {
    if ((kPrimaryFirst | bit(kMinus)) & bit(la(2))) return 1;
    no_viable(p_, p_ + 1);
    return 0;
  }
  if (kPrimaryFirst & bit(t1)) return 2;
  no_viable(p_, p_);
  return 0;
}

// Decision 12: select, member call or index.
int Parser::predict_member_op() {
  if (la(1) == kLBracket) return 3;
  int t2 = la(2);
  if (t2 == kQuestion || t2 == kEscIdentifier) return 1;
  if (t2 == kIdentifier) return la(3) == kLParen ? 2 : 1;
  no_viable(p_, p_ + 1);
  return 0;
}

// Decision 25: ident, global call, nested, list, map, message, literal.
int Parser::predict_primary() {
  int t1 = la(1);
  int k = 0;
  if (t1 == kDot) {
    if (la(2) != kIdentifier) {
      no_viable(p_, p_ + 1);
      return 0;
    }
    k = 2;
  } else if (t1 == kIdentifier) {
    k = 1;
  }
  if (k) {
    if (la(k + 1) == kLParen) return 2;
    int j = k + 1;
    while (la(j) == kDot && la(j + 1) == kIdentifier) j += 2;
    return la(j) == kLBrace ? 6 : 1;
  }
  switch (t1) {
    case kLParen:
      return 3;
    case kLBracket:
      return 4;
    case kLBrace:
      return 5;
    case kMinus:
      if (la(2) == kNumInt || la(2) == kNumFloat) return 7;
      no_viable(p_, p_ + 1);
      return 0;
    default:
      if (kLiteralFirst & bit(t1)) return 7;
      no_viable(p_, p_);
      return 0;
  }
}

}  // namespace cryptnode::cel::detail
