// The public API: Talos' ParseBooleanExpression (pkg/machinery/cel/cel.go) = env.Parse, env.Check,
// then "expression output type is %s, expected bool"; EvalBool = Program + Eval.
#include "ast.h"
#include "checker.h"
#include "cryptnode/engine/cel.h"
#include "cryptnode/engine/error.h"
#include "env.h"
#include "functions.h"
#include "value.h"

namespace cryptnode::cel {

namespace detail {
struct Compiled {
  Environment env;
  std::string expression;
  ExprPtr root;
};
}  // namespace detail

namespace {

// Returns the error text, or "" with the checked tree in *root.
std::string compile(std::string_view expression, Environment env, ExprPtr* root) {
  Source source(expression);
  ParseResult parsed = parse(source);
  if (!parsed.issues.empty()) return render_issues(source, parsed.issues, parsed.reported);
  CheckResult checked = check_types(*parsed.expr, environment(env));
  if (!checked.issues.empty()) {
    return render_issues(source, checked.issues, static_cast<int>(checked.issues.size()));
  }
  if (checked.output->kind != Kind::kBool) {
    return "expression output type is " + type_string(checked.output) + ", expected bool";
  }
  *root = parsed.expr;
  return "";
}

bool finish(const Value& out) {
  if (auto e = out.get<ErrorValue>()) throw Error(Code::kInvalidArgument, e->message);
  if (auto b = out.get<bool>()) return *b;
  throw Error(Code::kInvalidArgument,
              "expression output type is " + display_type(out) + ", expected bool");
}

}  // namespace

std::string check(std::string_view expression, Environment env) {
  ExprPtr root;
  return compile(expression, env, &root);
}

Program Program::compile(std::string_view expression, Environment env) {
  ExprPtr root;
  std::string error = cel::compile(expression, env, &root);
  if (!error.empty()) throw Error(Code::kConfigInvalid, error);
  return Program(std::make_shared<detail::Compiled>(
      detail::Compiled{env, std::string(expression), std::move(root)}));
}

Environment Program::environment() const {
  return impl_->env;
}
const std::string& Program::expression() const {
  return impl_->expression;
}

bool Program::evaluate(const DiskActivation& activation) const {
  if (impl_->env != Environment::kDiskLocator) {
    throw Error(Code::kInvalidArgument,
                "cel: a DiskLocator activation for a VolumeLocator program");
  }
  Activation vars;
  if (activation.disk) {
    vars["disk"] =
        Value{MessageValue{std::make_shared<const DiskFacts>(*activation.disk), nullptr}};
  }
  if (activation.system_disk) vars["system_disk"] = Value{*activation.system_disk};
  return finish(cel::evaluate(*impl_->root, vars, impl_->env));
}

bool Program::evaluate(const VolumeActivation& activation) const {
  if (impl_->env != Environment::kVolumeLocator) {
    throw Error(Code::kInvalidArgument,
                "cel: a VolumeLocator activation for a DiskLocator program");
  }
  Activation vars;
  if (activation.volume) {
    vars["volume"] =
        Value{MessageValue{nullptr, std::make_shared<const VolumeFacts>(*activation.volume)}};
  }
  if (activation.disk) {
    vars["disk"] =
        Value{MessageValue{std::make_shared<const DiskFacts>(*activation.disk), nullptr}};
  }
  return finish(cel::evaluate(*impl_->root, vars, impl_->env));
}

}  // namespace cryptnode::cel
