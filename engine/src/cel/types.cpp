#include "types.h"

namespace cryptnode::cel {

namespace types {
namespace {
TypePtr make(Kind k) {
  return std::make_shared<const Type>(Type{k, "", {}});
}
}  // namespace
TypePtr dyn() {
  static TypePtr t = make(Kind::kDyn);
  return t;
}
TypePtr error() {
  static TypePtr t = make(Kind::kError);
  return t;
}
TypePtr boolean() {
  static TypePtr t = make(Kind::kBool);
  return t;
}
TypePtr int64() {
  static TypePtr t = make(Kind::kInt);
  return t;
}
TypePtr uint64() {
  static TypePtr t = make(Kind::kUint);
  return t;
}
TypePtr double_() {
  static TypePtr t = make(Kind::kDouble);
  return t;
}
TypePtr string() {
  static TypePtr t = make(Kind::kString);
  return t;
}
TypePtr bytes() {
  static TypePtr t = make(Kind::kBytes);
  return t;
}
TypePtr null() {
  static TypePtr t = make(Kind::kNull);
  return t;
}
TypePtr list(TypePtr elem) {
  return std::make_shared<const Type>(Type{Kind::kList, "", {std::move(elem)}});
}
TypePtr map(TypePtr key, TypePtr value) {
  return std::make_shared<const Type>(Type{Kind::kMap, "", {std::move(key), std::move(value)}});
}
TypePtr message(const std::string& name) {
  return std::make_shared<const Type>(Type{Kind::kMessage, name, {}});
}
TypePtr param(const std::string& name) {
  return std::make_shared<const Type>(Type{Kind::kTypeParam, name, {}});
}
TypePtr type(TypePtr of) {
  std::vector<TypePtr> params;
  if (of) params.push_back(std::move(of));
  return std::make_shared<const Type>(Type{Kind::kType, "", std::move(params)});
}
}  // namespace types

namespace {

const char* base_name(Kind k) {
  switch (k) {
    case Kind::kDyn:
      return "dyn";
    case Kind::kError:
      return "error";
    case Kind::kBool:
      return "bool";
    case Kind::kInt:
      return "int";
    case Kind::kUint:
      return "uint";
    case Kind::kDouble:
      return "double";
    case Kind::kString:
      return "string";
    case Kind::kBytes:
      return "bytes";
    case Kind::kNull:
      return "null_type";
    case Kind::kList:
      return "list";
    case Kind::kMap:
      return "map";
    case Kind::kType:
      return "type";
    default:
      return "";
  }
}

bool is_dyn(const TypePtr& t) {
  return t->kind == Kind::kDyn;
}
bool is_dyn_or_error(const TypePtr& t) {
  return t->kind == Kind::kDyn || t->kind == Kind::kError;
}

bool find(const Mapping& m, const TypePtr& t, TypePtr* out) {
  if (t->kind != Kind::kTypeParam) return false;
  auto it = m.find(t->name);
  if (it == m.end()) return false;
  *out = it->second;
  return true;
}

bool not_referenced_in(const Mapping& m, const TypePtr& t, const TypePtr& within) {
  if (exact(t, within)) return false;
  if (within->kind == Kind::kTypeParam) {
    TypePtr sub;
    if (!find(m, within, &sub)) return true;
    return not_referenced_in(m, t, sub);
  }
  for (const auto& p : within->params) {
    if (!not_referenced_in(m, t, p)) return false;
  }
  return true;
}

bool internal_assignable(Mapping& m, const TypePtr& t1, const TypePtr& t2);

// checker.isValidTypeSubstitution
bool valid_substitution(Mapping& m, const TypePtr& t1, const TypePtr& t2, bool* has_sub) {
  *has_sub = false;
  if (t1->kind == t2->kind && exact(t1, t2)) {
    *has_sub = true;
    return true;
  }
  TypePtr sub;
  if (find(m, t2, &sub)) {
    *has_sub = true;
    if (t1->kind == sub->kind && exact(t1, sub)) return true;
    if (internal_assignable(m, t1, sub)) {
      TypePtr next = most_general(t1, sub);
      if (not_referenced_in(m, t2, next)) m[t2->name] = next;
      return true;
    }
    return false;
  }
  if (not_referenced_in(m, t2, t1)) {
    m[t2->name] = t1;
    return true;
  }
  return false;
}

bool internal_assignable_list(Mapping& m, const std::vector<TypePtr>& l1,
                              const std::vector<TypePtr>& l2) {
  if (l1.size() != l2.size()) return false;
  for (size_t i = 0; i < l1.size(); ++i) {
    if (!internal_assignable(m, l1[i], l2[i])) return false;
  }
  return true;
}

bool internal_assignable(Mapping& m, const TypePtr& t1, const TypePtr& t2) {
  if (t2->kind == Kind::kTypeParam) {
    bool has_sub;
    if (valid_substitution(m, t1, t2, &has_sub)) return true;
    if (has_sub) return false;
  }
  if (t1->kind == Kind::kTypeParam) {
    bool has_sub;
    return valid_substitution(m, t2, t1, &has_sub);
  }
  if (is_dyn_or_error(t1) || is_dyn_or_error(t2)) return true;
  if (t1->kind == Kind::kNull) return t2->kind == Kind::kMessage || t2->kind == Kind::kNull;
  if (t2->kind == Kind::kNull) return t1->kind == Kind::kMessage;
  switch (t1->kind) {
    case Kind::kType:
      return t2->kind == Kind::kType;
    case Kind::kList:
    case Kind::kMap:
      return t1->kind == t2->kind && internal_assignable_list(m, t1->params, t2->params);
    default:
      return exact(t1, t2);
  }
}

bool equal_or_less_specific(const TypePtr& t1, const TypePtr& t2) {
  if (is_dyn(t1) || t1->kind == Kind::kTypeParam) return true;
  if (is_dyn(t2) || t2->kind == Kind::kTypeParam) return false;
  if (t1->kind != t2->kind) return false;
  switch (t1->kind) {
    case Kind::kList:
      return equal_or_less_specific(t1->params[0], t2->params[0]);
    case Kind::kMap:
      return equal_or_less_specific(t1->params[0], t2->params[0]) &&
             equal_or_less_specific(t1->params[1], t2->params[1]);
    case Kind::kType:
      return true;
    default:
      return exact(t1, t2);
  }
}

}  // namespace

bool exact(const TypePtr& a, const TypePtr& b) {
  if (a->kind != b->kind || a->name != b->name || a->params.size() != b->params.size()) {
    return false;
  }
  for (size_t i = 0; i < a->params.size(); ++i) {
    if (!exact(a->params[i], b->params[i])) return false;
  }
  return true;
}

std::string format_type(const TypePtr& t) {
  switch (t->kind) {
    case Kind::kError:
      return "!error!";
    case Kind::kNull:
      return "null";
    case Kind::kTypeParam:
    case Kind::kMessage:
      return t->name;
    default:
      break;
  }
  std::string out = base_name(t->kind);
  if (t->params.empty()) return out;
  out += "(";
  for (size_t i = 0; i < t->params.size(); ++i) {
    if (i) out += ", ";
    out += format_type(t->params[i]);
  }
  return out + ")";
}

std::string type_string(const TypePtr& t) {
  if (t->kind == Kind::kTypeParam) return "<" + t->name + ">";
  std::string out = t->kind == Kind::kMessage ? t->name : base_name(t->kind);
  if (t->params.empty()) return out;
  out += "(";
  for (size_t i = 0; i < t->params.size(); ++i) {
    if (i) out += ", ";
    out += type_string(t->params[i]);
  }
  return out + ")";
}

bool is_assignable(Mapping& m, const TypePtr& t1, const TypePtr& t2) {
  Mapping copy = m;
  if (!internal_assignable(copy, t1, t2)) return false;
  m = std::move(copy);
  return true;
}

bool is_assignable_list(Mapping& m, const std::vector<TypePtr>& l1,
                        const std::vector<TypePtr>& l2) {
  Mapping copy = m;
  if (!internal_assignable_list(copy, l1, l2)) return false;
  m = std::move(copy);
  return true;
}

TypePtr substitute(const Mapping& m, const TypePtr& t, bool params_to_dyn) {
  TypePtr sub;
  if (find(m, t, &sub)) return substitute(m, sub, params_to_dyn);
  if (params_to_dyn && t->kind == Kind::kTypeParam) return types::dyn();
  if (t->params.empty()) return t;
  auto out = std::make_shared<Type>(*t);
  for (auto& p : out->params) p = substitute(m, p, params_to_dyn);
  return out;
}

TypePtr most_general(const TypePtr& a, const TypePtr& b) {
  return equal_or_less_specific(a, b) ? a : b;
}

}  // namespace cryptnode::cel
