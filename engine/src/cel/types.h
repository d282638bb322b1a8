// CEL types as cel-go's checker sees them (common/types/types.go, checker/types.go,
// checker/format.go): assignability with type parameters, and the two printed forms
// (FormatCELType in checker errors, Type.String() in Talos' "expression output type is ...").
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace cryptnode::cel {

enum class Kind {
  kDyn,
  kError,
  kBool,
  kInt,
  kUint,
  kDouble,
  kString,
  kBytes,
  kNull,
  kList,
  kMap,
  kMessage,
  kTypeParam,
  kType
};

struct Type;
using TypePtr = std::shared_ptr<const Type>;

struct Type {
  Kind kind;
  std::string name;  // message full name or type-parameter name
  std::vector<TypePtr> params;
};

namespace types {
TypePtr dyn();
TypePtr error();
TypePtr boolean();
TypePtr int64();
TypePtr uint64();
TypePtr double_();
TypePtr string();
TypePtr bytes();
TypePtr null();
TypePtr list(TypePtr elem);
TypePtr map(TypePtr key, TypePtr value);
TypePtr message(const std::string& name);
TypePtr param(const std::string& name);
TypePtr type(TypePtr of);
}  // namespace types

bool exact(const TypePtr& a, const TypePtr& b);
std::string format_type(const TypePtr& t);  // checker.FormatCELType
std::string type_string(const TypePtr& t);  // (*types.Type).String()

// Type-parameter substitutions (checker/mapping.go).
using Mapping = std::map<std::string, TypePtr>;
// checker.isAssignable: on success `m` holds the extended substitutions.
bool is_assignable(Mapping& m, const TypePtr& t1, const TypePtr& t2);
bool is_assignable_list(Mapping& m, const std::vector<TypePtr>& l1, const std::vector<TypePtr>& l2);
TypePtr substitute(const Mapping& m, const TypePtr& t, bool params_to_dyn);
TypePtr most_general(const TypePtr& a, const TypePtr& b);

}  // namespace cryptnode::cel
