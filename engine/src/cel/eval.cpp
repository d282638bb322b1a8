// The evaluator: cel-go's interpreter semantics (interpreter/interpretable.go, common/types/*.go)
// for the types and functions the selector environments declare. Error texts are cel-go's:
// "no such attribute(s): x", "no such key: k", "index out of bounds: i", "integer overflow",
// "unsigned integer overflow", "division by zero", "modulus by zero", "no such overload".
#include <charconv>
#include <cmath>
#include <limits>

#include "env.h"
#include "functions.h"
#include "value.h"

namespace cryptnode::cel {

namespace {

Value field_of(const MessageValue& m, const std::string& name, bool* found) {
  *found = true;
  auto list = [](const std::vector<std::string>& items) {
    auto l = std::make_shared<ListValue>();
    for (const auto& s : items) l->push_back(Value{s});
    return Value{std::shared_ptr<const ListValue>(l)};
  };
  if (m.disk) {
    const DiskFacts& d = *m.disk;
    if (name == "size") return Value{d.size};
    if (name == "io_size") return Value{d.io_size};
    if (name == "sector_size") return Value{d.sector_size};
    if (name == "readonly") return Value{d.readonly};
    if (name == "model") return Value{d.model};
    if (name == "serial") return Value{d.serial};
    if (name == "modalias") return Value{d.modalias};
    if (name == "wwid") return Value{d.wwid};
    if (name == "bus_path") return Value{d.bus_path};
    if (name == "sub_system") return Value{d.sub_system};
    if (name == "transport") return Value{d.transport};
    if (name == "rotational") return Value{d.rotational};
    if (name == "cdrom") return Value{d.cdrom};
    if (name == "dev_path") return Value{d.dev_path};
    if (name == "pretty_size") return Value{d.pretty_size};
    if (name == "secondary_disks") return list(d.secondary_disks);
    if (name == "uuid") return Value{d.uuid};
    if (name == "symlinks") return list(d.symlinks);
  } else if (m.volume) {
    const VolumeFacts& v = *m.volume;
    if (name == "size") return Value{v.size};
    if (name == "sector_size") return Value{v.sector_size};
    if (name == "io_size") return Value{v.io_size};
    if (name == "name") return Value{v.name};
    if (name == "uuid") return Value{v.uuid};
    if (name == "label") return Value{v.label};
    if (name == "block_size") return Value{uint64_t{v.block_size}};
    if (name == "filesystem_block_size") return Value{uint64_t{v.filesystem_block_size}};
    if (name == "probed_size") return Value{v.probed_size};
    if (name == "partition_uuid") return Value{v.partition_uuid};
    if (name == "partition_type") return Value{v.partition_type};
    if (name == "partition_label") return Value{v.partition_label};
    if (name == "partition_index") return Value{v.partition_index};
    if (name == "type") return Value{v.type};
    if (name == "device_path") return Value{v.device_path};
    if (name == "parent") return Value{v.parent};
    if (name == "dev_path") return Value{v.dev_path};
    if (name == "parent_dev_path") return Value{v.parent_dev_path};
    if (name == "pretty_size") return Value{v.pretty_size};
    if (name == "offset") return Value{v.offset};
  }
  *found = false;
  return error_value("no such field '" + name + "'");
}

// proto3 presence: a scalar is set when it is not its zero value, a list when it is not empty.
bool present(const Value& v) {
  if (auto b = v.get<bool>()) return *b;
  if (auto i = v.get<uint64_t>()) return *i != 0;
  if (auto s = v.get<std::string>()) return !s->empty();
  if (auto l = v.get<std::shared_ptr<const ListValue>>()) return !(*l)->empty();
  return false;
}

class Evaluator {
 public:
  Evaluator(const Activation& activation, const Env& env) : activation_(activation), env_(env) {}

  Value eval(const Expr& e) {
    switch (e.kind) {
      case ExprKind::kLiteral:
        return literal(e.literal);
      case ExprKind::kIdent:
        return ident(e.name);
      case ExprKind::kSelect:
        return select(e);
      case ExprKind::kCall:
        return call(e);
      case ExprKind::kList: {
        auto l = std::make_shared<ListValue>();
        for (const auto& a : e.args) {
          Value v = eval(*a);
          if (v.is_error()) return v;
          l->push_back(std::move(v));
        }
        return Value{std::shared_ptr<const ListValue>(l)};
      }
      case ExprKind::kMap: {
        auto m = std::make_shared<MapValue>();
        for (const Entry& en : e.entries) {
          Value k = eval(*en.key);
          if (k.is_error()) return k;
          Value v = eval(*en.value);
          if (v.is_error()) return v;
          for (const auto& [ek, ev] : *m) {
            if (values_equal(ek, k))
              return error_value("insert failed: key " + display(k) + " already exists");
          }
          m->emplace_back(std::move(k), std::move(v));
        }
        return Value{std::shared_ptr<const MapValue>(m)};
      }
      case ExprKind::kComprehension:
        return comprehension(e);
      default:
        return error_value("no such overload");
    }
  }

 private:
  static Value literal(const Literal& l) {
    return std::visit([](const auto& x) { return Value{x}; }, l);
  }

  Value ident(const std::string& raw) {
    for (auto it = locals_.rbegin(); it != locals_.rend(); ++it) {
      if (it->first == raw) return it->second;
    }
    std::string name = !raw.empty() && raw[0] == '.' ? raw.substr(1) : raw;
    auto a = activation_.find(name);
    if (a != activation_.end()) return a->second;
    auto c = env_.constants.find(name);
    if (c != env_.constants.end()) return literal(c->second);
    auto t = env_.variables.find(name);
    if (t != env_.variables.end() && t->second->kind == Kind::kType) return Value{TypeValue{name}};
    return error_value("no such attribute(s): " + name);
  }

  Value select(const Expr& e) {
    Value operand = eval(*e.target);
    if (operand.is_error()) return operand;
    if (auto m = operand.get<MessageValue>()) {
      bool found;
      Value v = field_of(*m, e.name, &found);
      if (e.test_only) return found ? Value{present(v)} : v;
      return v;
    }
    if (auto m = operand.get<std::shared_ptr<const MapValue>>()) {
      for (const auto& [k, v] : **m) {
        if (auto s = k.get<std::string>(); s && *s == e.name) return e.test_only ? Value{true} : v;
      }
      return e.test_only ? Value{false} : error_value("no such key: " + e.name);
    }
    return error_value("no such overload");
  }

  Value call(const Expr& e) {
    const std::string& fn = e.name;
    if (fn == op::kLogicalAnd || fn == op::kLogicalOr) {
      bool absorbing = fn == op::kLogicalOr;  // true absorbs for ||, false for &&
      Value l = eval(*e.args[0]);
      if (auto b = l.get<bool>(); b && *b == absorbing) return l;
      Value r = eval(*e.args[1]);
      if (auto b = r.get<bool>(); b && *b == absorbing) return r;
      if (l.get<bool>() && r.get<bool>()) return Value{!absorbing};
      if (l.is_error()) return l;
      if (r.is_error()) return r;
      return error_value("no such overload");
    }
    if (fn == op::kConditional) {
      Value c = eval(*e.args[0]);
      if (c.is_error()) return c;
      auto b = c.get<bool>();
      if (!b) return error_value("no such overload");
      return eval(*e.args[*b ? 1 : 2]);
    }
    if (fn == op::kNotStrictlyFalse) {
      Value v = eval(*e.args[0]);
      if (v.get<bool>()) return v;
      return Value{true};
    }
    std::vector<Value> args;
    if (e.target) {
      Value t = eval(*e.target);
      if (t.is_error()) return t;
      args.push_back(std::move(t));
    }
    for (const auto& a : e.args) {
      Value v = eval(*a);
      if (v.is_error()) return v;
      args.push_back(std::move(v));
    }
    return apply_function(fn, e.target != nullptr, args);
  }

  Value comprehension(const Expr& e) {
    Value range = eval(*e.iter_range);
    if (range.is_error()) return range;
    std::vector<Value> items;
    if (auto l = range.get<std::shared_ptr<const ListValue>>()) {
      items = **l;
    } else if (auto m = range.get<std::shared_ptr<const MapValue>>()) {
      for (const auto& kv : **m) items.push_back(kv.first);
    } else {
      return error_value("no such overload");
    }
    Value acc = eval(*e.accu_init);
    locals_.emplace_back(e.accu_var, acc);
    size_t accu_slot = locals_.size() - 1;
    for (const Value& item : items) {
      locals_.emplace_back(e.iter_var, item);
      Value cond = eval(*e.loop_condition);
      if (auto b = cond.get<bool>(); b && !*b) {
        locals_.pop_back();
        break;
      }
      Value step = eval(*e.loop_step);
      locals_.pop_back();
      locals_[accu_slot].second = std::move(step);
    }
    Value out = eval(*e.result);
    locals_.pop_back();
    return out;
  }

  const Activation& activation_;
  const Env& env_;
  std::vector<std::pair<std::string, Value>> locals_;
};

}  // namespace

Value evaluate(const Expr& root, const Activation& activation, Environment env) {
  return Evaluator(activation, environment(env)).eval(root);
}

}  // namespace cryptnode::cel
