// Runtime values of the evaluator (cel-go common/types): errors are values, as in cel-go, so that
// && and || can absorb them.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "ast.h"
#include "cryptnode/engine/cel.h"

namespace cryptnode::cel {

struct Value;
using ListValue = std::vector<Value>;
using MapValue = std::vector<std::pair<Value, Value>>;

struct ErrorValue {
  std::string message;
};
struct TypeValue {
  std::string name;
};
struct MessageValue {
  std::shared_ptr<const DiskFacts> disk;
  std::shared_ptr<const VolumeFacts> volume;
};

struct Value {
  std::variant<NullValue, bool, int64_t, uint64_t, double, std::string, Bytes,
               std::shared_ptr<const ListValue>, std::shared_ptr<const MapValue>, MessageValue,
               TypeValue, ErrorValue>
      v;

  bool is_error() const { return std::holds_alternative<ErrorValue>(v); }
  template <class T>
  const T* get() const {
    return std::get_if<T>(&v);
  }
};

inline Value error_value(std::string message) {
  return Value{ErrorValue{std::move(message)}};
}

// The variables of one evaluation (absent ones are not in the map).
using Activation = std::map<std::string, Value>;

// Evaluates a checked expression; an ErrorValue carries cel-go's evaluation error text.
Value evaluate(const Expr& root, const Activation& activation, Environment env);

}  // namespace cryptnode::cel
