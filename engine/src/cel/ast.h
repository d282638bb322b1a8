// The parsed expression tree, shaped like cel-go's common/ast (macros already expanded into
// comprehensions, as parser/macro.go expands them).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "source.h"

namespace cryptnode::cel {

struct NullValue {
  bool operator==(const NullValue&) const { return true; }
};
struct Bytes {
  std::string data;
  bool operator==(const Bytes& o) const { return data == o.data; }
};
using Literal = std::variant<NullValue, bool, int64_t, uint64_t, double, std::string, Bytes>;

enum class ExprKind {
  kError,
  kLiteral,
  kIdent,
  kSelect,
  kCall,
  kList,
  kMap,
  kStruct,
  kComprehension
};

struct Expr;
using ExprPtr = std::shared_ptr<Expr>;

struct Entry {
  Location location;  // the ':' of the entry
  ExprPtr key;        // map entries
  std::string field;  // message fields
  ExprPtr value;
};

struct Expr {
  int64_t id = 0;
  Location location;
  ExprKind kind = ExprKind::kError;
  Literal literal;
  std::string name;           // identifier, selected field, function, or message type name
  ExprPtr target;             // select operand or receiver of a member call
  bool test_only = false;     // has()
  std::vector<ExprPtr> args;  // call arguments or list elements
  std::vector<Entry> entries;
  // Comprehensions (all, exists, exists_one, map, filter).
  std::string iter_var;
  std::string accu_var;
  ExprPtr iter_range, accu_init, loop_condition, loop_step, result;
  int visit_depth = 0;  // cel-go's visitor recursion count for this subtree
};

// Function names cel-go gives operators (common/operators/operators.go).
namespace op {
inline constexpr const char* kConditional = "_?_:_";
inline constexpr const char* kLogicalAnd = "_&&_";
inline constexpr const char* kLogicalOr = "_||_";
inline constexpr const char* kLogicalNot = "!_";
inline constexpr const char* kNegate = "-_";
inline constexpr const char* kEquals = "_==_";
inline constexpr const char* kNotEquals = "_!=_";
inline constexpr const char* kLess = "_<_";
inline constexpr const char* kLessEquals = "_<=_";
inline constexpr const char* kGreater = "_>_";
inline constexpr const char* kGreaterEquals = "_>=_";
inline constexpr const char* kIn = "@in";
inline constexpr const char* kAdd = "_+_";
inline constexpr const char* kSubtract = "_-_";
inline constexpr const char* kMultiply = "_*_";
inline constexpr const char* kDivide = "_/_";
inline constexpr const char* kModulo = "_%_";
inline constexpr const char* kIndex = "_[_]";
inline constexpr const char* kNotStrictlyFalse = "@not_strictly_false";
}  // namespace op

struct ParseResult {
  ExprPtr expr;               // null when there are issues
  std::vector<Issue> issues;  // unsorted
  int reported = 0;           // issues reported, including any beyond the 100 kept
};

// cel-go's parser limits; the defaults are cel.NewEnv()'s (parser/parser.go NewParser).
struct ParseOptions {
  int max_recursion_depth = 250;
  int error_recovery_limit = 30;
  int lookahead_token_limit = 256;
  int error_reporting_limit = 100;
  int code_point_limit = 100000;
};

// cel-go's parser as Talos' environments configure it: standard macros, optional syntax off,
// backtick identifier escapes on.
ParseResult parse(const Source& source, const ParseOptions& options = {});

}  // namespace cryptnode::cel
