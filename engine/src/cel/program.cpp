// Stub: replaced by the real parser/checker/evaluator.
#include "cryptnode/engine/cel.h"
#include "cryptnode/engine/error.h"

namespace cryptnode::cel {

namespace detail {
struct Compiled {
  Environment env;
  std::string expression;
};
}  // namespace detail

std::string check(std::string_view, Environment) {
  return "";
}

Program Program::compile(std::string_view expression, Environment env) {
  return Program(
      std::make_shared<detail::Compiled>(detail::Compiled{env, std::string(expression)}));
}
Environment Program::environment() const {
  return impl_->env;
}
const std::string& Program::expression() const {
  return impl_->expression;
}
bool Program::evaluate(const DiskActivation&) const {
  throw Error(Code::kUnsupported, "cel: not implemented yet");
}
bool Program::evaluate(const VolumeActivation&) const {
  throw Error(Code::kUnsupported, "cel: not implemented yet");
}

}  // namespace cryptnode::cel
