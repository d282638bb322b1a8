// cel-go's type checker (checker/checker.go) over the parsed tree, with its error texts.
#pragma once

#include <vector>

#include "ast.h"
#include "env.h"
#include "types.h"

namespace cryptnode::cel {

struct CheckResult {
  std::vector<Issue> issues;
  TypePtr output;  // type of the whole expression, type parameters replaced by dyn
};

CheckResult check_types(const Expr& root, const Env& env);

}  // namespace cryptnode::cel
