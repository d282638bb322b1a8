#include "checker.h"

#include <map>

namespace cryptnode::cel {

namespace {

class Checker {
 public:
  explicit Checker(const Env& env) : env_(env) {}

  CheckResult run(const Expr& root) {
    check(root);
    return {issues_, substitute(m_, type_of(root), true)};
  }

 private:
  void error(Location at, std::string message) { issues_.push_back({at, std::move(message)}); }
  void set(const Expr& e, TypePtr t) { types_[e.id] = std::move(t); }
  TypePtr type_of(const Expr& e) {
    auto it = types_.find(e.id);
    return it == types_.end() ? types::error() : it->second;
  }
  TypePtr fresh() { return types::param("_var" + std::to_string(free_++)); }
  bool assignable(const TypePtr& a, const TypePtr& b) { return is_assignable(m_, a, b); }

  void check(const Expr& e) {
    switch (e.kind) {
      case ExprKind::kLiteral:
        set(e, literal_type(e.literal));
        break;
      case ExprKind::kIdent:
        check_ident(e);
        break;
      case ExprKind::kSelect:
        check_select(e);
        break;
      case ExprKind::kCall:
        check_call(e);
        break;
      case ExprKind::kList:
        check_list(e);
        break;
      case ExprKind::kMap:
        check_map(e);
        break;
      case ExprKind::kStruct:
        check_struct(e);
        break;
      case ExprKind::kComprehension:
        check_comprehension(e);
        break;
      case ExprKind::kError:
        set(e, types::error());
        break;
    }
  }

  static TypePtr literal_type(const Literal& l) {
    switch (l.index()) {
      case 0:
        return types::null();
      case 1:
        return types::boolean();
      case 2:
        return types::int64();
      case 3:
        return types::uint64();
      case 4:
        return types::double_();
      case 5:
        return types::string();
      default:
        return types::bytes();
    }
  }

  void check_ident(const Expr& e) {
    for (auto it = scopes_.rbegin(); it != scopes_.rend(); ++it) {
      auto found = it->find(e.name);
      if (found != it->end()) return set(e, found->second);
    }
    std::string name = e.name;
    if (!name.empty() && name[0] == '.') name = name.substr(1);
    auto found = env_.variables.find(name);
    if (found != env_.variables.end()) return set(e, found->second);
    set(e, types::error());
    error(e.location, "undeclared reference to '" + e.name + "' (in container '')");
  }

  void check_select(const Expr& e) {
    check(*e.target);
    TypePtr operand = substitute(m_, type_of(*e.target), false);
    TypePtr result = types::error();
    switch (operand->kind) {
      case Kind::kMap:
        result = operand->params[1];
        break;
      case Kind::kMessage: {
        auto msg = env_.messages.find(operand->name);
        if (msg == env_.messages.end()) {
          error(e.location, "unexpected failed resolution of '" + operand->name + "'");
          break;
        }
        auto field = msg->second.find(e.name);
        if (field == msg->second.end()) {
          error(e.location, "undefined field '" + e.name + "'");
        } else {
          result = field->second;
        }
        break;
      }
      case Kind::kTypeParam:
        assignable(types::dyn(), operand);
        result = types::dyn();
        break;
      default:
        if (operand->kind != Kind::kDyn && operand->kind != Kind::kError) {
          error(e.location, "type '" + format_type(operand) + "' does not support field selection");
        }
        result = types::dyn();
    }
    if (e.test_only) result = types::boolean();
    set(e, substitute(m_, result, false));
  }

  void check_call(const Expr& e) {
    for (const auto& a : e.args) check(*a);
    if (e.target) check(*e.target);
    auto fn = env_.functions.find(e.name);
    if (fn == env_.functions.end()) {
      set(e, types::error());
      error(e.location, "undeclared reference to '" + e.name + "' (in container '')");
      return;
    }
    std::vector<TypePtr> arg_types;
    if (e.target) arg_types.push_back(type_of(*e.target));
    for (const auto& a : e.args) arg_types.push_back(type_of(*a));

    if (e.name == op::kLogicalAnd || e.name == op::kLogicalOr) {
      bool bad = false;
      for (size_t i = 0; i < arg_types.size(); ++i) {
        if (!assignable(arg_types[i], types::boolean())) {
          error(e.args[i]->location,
                "expected type 'bool' but found '" + format_type(arg_types[i]) + "'");
          bad = true;
        }
      }
      set(e, bad ? types::error() : types::boolean());
      return;
    }

    TypePtr result;
    for (const Overload& o : fn->second.overloads) {
      if (o.member != (e.target != nullptr)) continue;
      // Instantiate the overload's type parameters with fresh type variables.
      Mapping fresh_params;
      std::vector<TypePtr> params;
      for (const TypePtr& t : o.args) params.push_back(instantiate(t, fresh_params));
      TypePtr out = instantiate(o.result, fresh_params);
      if (!is_assignable_list(m_, arg_types, params)) continue;
      TypePtr r = substitute(m_, out, false);
      if (!result) {
        result = r;
      } else if (result->kind != Kind::kDyn && !exact(r, result)) {
        result = types::dyn();
      }
    }
    if (!result) {
      std::string sig;
      size_t first = 0;
      if (e.target) {
        sig = format_type(substitute(m_, arg_types[0], true)) + ".";
        first = 1;
      }
      sig += "(";
      for (size_t i = first; i < arg_types.size(); ++i) {
        if (i > first) sig += ", ";
        sig += format_type(substitute(m_, arg_types[i], true));
      }
      sig += ")";
      error(e.location, "found no matching overload for '" + e.name + "' applied to '" + sig + "'");
      set(e, types::error());
      return;
    }
    set(e, result);
  }

  TypePtr instantiate(const TypePtr& t, Mapping& fresh_params) {
    if (t->kind == Kind::kTypeParam) {
      auto it = fresh_params.find(t->name);
      if (it != fresh_params.end()) return it->second;
      TypePtr v = fresh();
      fresh_params[t->name] = v;
      return v;
    }
    if (t->params.empty()) return t;
    auto out = std::make_shared<Type>(*t);
    for (auto& p : out->params) p = instantiate(p, fresh_params);
    return out;
  }

  TypePtr join(const TypePtr& previous, const TypePtr& current) {
    if (!previous) return current;
    if (assignable(previous, current)) return most_general(previous, current);
    return types::dyn();  // cel-go's default: aggregate literals of mixed types are dyn
  }

  void check_list(const Expr& e) {
    TypePtr elem;
    for (const auto& a : e.args) {
      check(*a);
      elem = join(elem, type_of(*a));
    }
    set(e, types::list(elem ? elem : fresh()));
  }

  void check_map(const Expr& e) {
    TypePtr key, value;
    for (const Entry& en : e.entries) {
      check(*en.key);
      key = join(key, type_of(*en.key));
      check(*en.value);
      value = join(value, type_of(*en.value));
    }
    if (!key) {
      key = fresh();
      value = fresh();
    }
    set(e, types::map(key, value));
  }

  void check_struct(const Expr& e) {
    std::string name = e.name;
    if (!name.empty() && name[0] == '.') name = name.substr(1);
    auto msg = env_.messages.find(name);
    if (msg == env_.messages.end()) {
      error(e.location, "undeclared reference to '" + e.name + "' (in container '')");
      set(e, types::error());
      return;
    }
    set(e, types::message(name));
    for (const Entry& f : e.entries) {
      check(*f.value);
      auto field = msg->second.find(f.field);
      TypePtr ft = types::error();
      if (field == msg->second.end()) {
        error(f.location, "undefined field '" + f.field + "'");
      } else {
        ft = field->second;
      }
      TypePtr vt = type_of(*f.value);
      if (!assignable(ft, vt)) {
        error(f.location, "expected type of field '" + f.field + "' is '" + format_type(ft) +
                              "' but provided type is '" + format_type(vt) + "'");
      }
    }
  }

  void check_comprehension(const Expr& e) {
    check(*e.iter_range);
    check(*e.accu_init);
    TypePtr range = substitute(m_, type_of(*e.iter_range), false);
    TypePtr accu = type_of(*e.accu_init);
    scopes_.push_back({{e.accu_var, accu}});
    TypePtr var;
    switch (range->kind) {
      case Kind::kList:
      case Kind::kMap:
        var = range->params[0];
        break;
      case Kind::kDyn:
      case Kind::kError:
      case Kind::kTypeParam:
        assignable(types::dyn(), range);
        var = types::dyn();
        break;
      default:
        error(e.iter_range->location, "expression of type '" + format_type(range) +
                                          "' cannot be range of a comprehension (must be list, "
                                          "map, or dynamic)");
        var = types::error();
    }
    scopes_.push_back({{e.iter_var, var}});
    check(*e.loop_condition);
    assert_type(*e.loop_condition, types::boolean());
    check(*e.loop_step);
    assert_type(*e.loop_step, accu);
    scopes_.pop_back();
    check(*e.result);
    scopes_.pop_back();
    set(e, substitute(m_, type_of(*e.result), false));
  }

  void assert_type(const Expr& e, const TypePtr& t) {
    if (!assignable(t, type_of(e))) {
      error(e.location,
            "expected type '" + format_type(t) + "' but found '" + format_type(type_of(e)) + "'");
    }
  }

  const Env& env_;
  std::vector<Issue> issues_;
  Mapping m_;
  int free_ = 0;
  std::map<int64_t, TypePtr> types_;
  std::vector<std::map<std::string, TypePtr>> scopes_;
};

}  // namespace

CheckResult check_types(const Expr& root, const Env& env) {
  return Checker(env).run(root);
}

}  // namespace cryptnode::cel
