#include "functions.h"

#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>

#include "source.h"

namespace cryptnode::cel {

namespace {

using List = std::shared_ptr<const ListValue>;
using Map = std::shared_ptr<const MapValue>;

Value no_overload() {
  return error_value("no such overload");
}

std::string go_float(double d) {
  if (std::isnan(d)) return "NaN";
  if (std::isinf(d)) return d > 0 ? "+Inf" : "-Inf";
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof(buf), d);
  return std::string(buf, r.ptr);
}

// -1, 0, 1, or 2 when the two are not comparable.
int compare_numbers(const Value& a, const Value& b) {
  auto as_double = [](const Value& v, double* out) {
    if (auto i = v.get<int64_t>()) return *out = static_cast<double>(*i), true;
    if (auto u = v.get<uint64_t>()) return *out = static_cast<double>(*u), true;
    if (auto d = v.get<double>()) return *out = *d, true;
    return false;
  };
  auto ia = a.get<int64_t>(), ib = b.get<int64_t>();
  auto ua = a.get<uint64_t>(), ub = b.get<uint64_t>();
  if (ia && ib) return *ia < *ib ? -1 : (*ia > *ib ? 1 : 0);
  if (ua && ub) return *ua < *ub ? -1 : (*ua > *ub ? 1 : 0);
  if (ia && ub)
    return *ia < 0
               ? -1
               : (static_cast<uint64_t>(*ia) < *ub ? -1
                                                   : (static_cast<uint64_t>(*ia) > *ub ? 1 : 0));
  if (ua && ib) return -compare_numbers(b, a);
  double x, y;
  if (!as_double(a, &x) || !as_double(b, &y)) return 2;
  if (std::isnan(x) || std::isnan(y)) return 3;
  return x < y ? -1 : (x > y ? 1 : 0);
}

int compare(const Value& a, const Value& b) {
  int n = compare_numbers(a, b);
  if (n != 2) return n;
  if (a.v.index() != b.v.index()) return 2;
  if (auto x = a.get<bool>()) return *x == *b.get<bool>() ? 0 : (*x ? 1 : -1);
  if (auto x = a.get<std::string>())
    return x->compare(*b.get<std::string>()) < 0 ? -1 : (*x == *b.get<std::string>() ? 0 : 1);
  if (auto x = a.get<Bytes>()) {
    int c = x->data.compare(b.get<Bytes>()->data);
    return c < 0 ? -1 : (c > 0 ? 1 : 0);
  }
  return 2;
}

size_t code_points(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

Value checked_int(__int128 v) {
  if (v > std::numeric_limits<int64_t>::max() || v < std::numeric_limits<int64_t>::min()) {
    return error_value("integer overflow");
  }
  return Value{static_cast<int64_t>(v)};
}

Value checked_uint(__int128 v) {
  if (v < 0 || v > static_cast<__int128>(std::numeric_limits<uint64_t>::max())) {
    return error_value("unsigned integer overflow");
  }
  return Value{static_cast<uint64_t>(v)};
}

Value arithmetic(const std::string& fn, const Value& a, const Value& b) {
  if (a.v.index() != b.v.index()) return no_overload();
  if (auto x = a.get<int64_t>()) {
    __int128 l = *x, r = *b.get<int64_t>();
    if (fn == op::kAdd) return checked_int(l + r);
    if (fn == op::kSubtract) return checked_int(l - r);
    if (fn == op::kMultiply) return checked_int(l * r);
    if (r == 0) return error_value(fn == op::kDivide ? "division by zero" : "modulus by zero");
    if (fn == op::kDivide) return checked_int(l / r);
    if (l == std::numeric_limits<int64_t>::min() && r == -1) return error_value("integer overflow");
    return Value{static_cast<int64_t>(l % r)};
  }
  if (auto x = a.get<uint64_t>()) {
    __int128 l = *x, r = *b.get<uint64_t>();
    if (fn == op::kAdd) return checked_uint(l + r);
    if (fn == op::kSubtract) return checked_uint(l - r);
    if (fn == op::kMultiply) return checked_uint(l * r);
    if (r == 0) return error_value(fn == op::kDivide ? "division by zero" : "modulus by zero");
    return Value{static_cast<uint64_t>(fn == op::kDivide ? l / r : l % r)};
  }
  if (auto x = a.get<double>()) {
    double l = *x, r = *b.get<double>();
    if (fn == op::kAdd) return Value{l + r};
    if (fn == op::kSubtract) return Value{l - r};
    if (fn == op::kMultiply) return Value{l * r};
    if (fn == op::kDivide) return Value{l / r};
    return no_overload();
  }
  if (fn != op::kAdd) return no_overload();
  if (auto x = a.get<std::string>()) return Value{*x + *b.get<std::string>()};
  if (auto x = a.get<Bytes>()) return Value{Bytes{x->data + b.get<Bytes>()->data}};
  if (auto x = a.get<List>()) {
    auto out = std::make_shared<ListValue>(**x);
    out->insert(out->end(), (*b.get<List>())->begin(), (*b.get<List>())->end());
    return Value{List(out)};
  }
  return no_overload();
}

Value convert(const std::string& fn, const Value& v) {
  if (fn == "dyn") return v;
  if (fn == "int") {
    if (v.get<int64_t>()) return v;
    if (auto u = v.get<uint64_t>()) return checked_int(static_cast<__int128>(*u));
    if (auto d = v.get<double>()) {
      if (!(*d > -9223372036854775808.0 && *d < 9223372036854775807.0)) {
        return error_value("integer overflow");
      }
      return Value{static_cast<int64_t>(*d)};
    }
    if (auto s = v.get<std::string>()) {
      int64_t out;
      auto r = std::from_chars(s->data(), s->data() + s->size(), out);
      if (r.ec == std::errc::result_out_of_range) {
        return error_value("strconv.ParseInt: parsing \"" + *s + "\": value out of range");
      }
      if (r.ec != std::errc() || r.ptr != s->data() + s->size()) {
        return error_value("strconv.ParseInt: parsing \"" + *s + "\": invalid syntax");
      }
      return Value{out};
    }
  }
  if (fn == "uint") {
    if (v.get<uint64_t>()) return v;
    if (auto i = v.get<int64_t>()) return checked_uint(static_cast<__int128>(*i));
    if (auto d = v.get<double>()) {
      if (!(*d > -1.0 && *d < 18446744073709551616.0))
        return error_value("unsigned integer overflow");
      return Value{static_cast<uint64_t>(*d)};
    }
    if (auto s = v.get<std::string>()) {
      uint64_t out;
      auto r = std::from_chars(s->data(), s->data() + s->size(), out);
      if (r.ec == std::errc::result_out_of_range) {
        return error_value("strconv.ParseUint: parsing \"" + *s + "\": value out of range");
      }
      if (r.ec != std::errc() || r.ptr != s->data() + s->size()) {
        return error_value("strconv.ParseUint: parsing \"" + *s + "\": invalid syntax");
      }
      return Value{out};
    }
  }
  if (fn == "double") {
    if (v.get<double>()) return v;
    if (auto i = v.get<int64_t>()) return Value{static_cast<double>(*i)};
    if (auto u = v.get<uint64_t>()) return Value{static_cast<double>(*u)};
    if (auto s = v.get<std::string>()) {
      char* end = nullptr;
      double d = std::strtod(s->c_str(), &end);
      if (s->empty() || *end != '\0') {
        return error_value("strconv.ParseFloat: parsing \"" + *s + "\": invalid syntax");
      }
      return Value{d};
    }
  }
  if (fn == "string") {
    if (v.get<std::string>()) return v;
    if (auto b = v.get<bool>()) return Value{std::string(*b ? "true" : "false")};
    if (auto i = v.get<int64_t>()) return Value{std::to_string(*i)};
    if (auto u = v.get<uint64_t>()) return Value{std::to_string(*u)};
    if (auto d = v.get<double>()) return Value{go_float(*d)};
    if (auto b = v.get<Bytes>()) {
      std::u32string runes = decode_utf8(b->data);
      std::string back;
      for (char32_t r : runes) back += to_utf8(r);
      if (back != b->data) return error_value("invalid UTF-8 in bytes, cannot convert to string");
      return Value{b->data};
    }
  }
  if (fn == "bytes") {
    if (v.get<Bytes>()) return v;
    if (auto s = v.get<std::string>()) return Value{Bytes{*s}};
  }
  if (fn == "bool") {
    if (v.get<bool>()) return v;
    if (auto s = v.get<std::string>()) {
      if (*s == "1" || *s == "t" || *s == "T" || *s == "true" || *s == "TRUE" || *s == "True") {
        return Value{true};
      }
      if (*s == "0" || *s == "f" || *s == "F" || *s == "false" || *s == "FALSE" || *s == "False") {
        return Value{false};
      }
      return error_value("type conversion error from 'string' to 'bool'");
    }
  }
  return no_overload();
}

}  // namespace

std::string display_type(const Value& v) {
  switch (v.v.index()) {
    case 0:
      return "null_type";
    case 1:
      return "bool";
    case 2:
      return "int";
    case 3:
      return "uint";
    case 4:
      return "double";
    case 5:
      return "string";
    case 6:
      return "bytes";
    case 7:
      return "list";
    case 8:
      return "map";
    case 9:
      return v.get<MessageValue>()->disk ? "talos.resource.definitions.block.DiskSpec"
                                         : "talos.resource.definitions.block.DiscoveredVolumeSpec";
    case 10:
      return "type";
    default:
      return "error";
  }
}

bool values_equal(const Value& a, const Value& b) {
  int n = compare_numbers(a, b);
  if (n != 2) return n == 0;
  if (a.v.index() != b.v.index()) return false;
  if (a.get<NullValue>()) return true;
  if (auto x = a.get<bool>()) return *x == *b.get<bool>();
  if (auto x = a.get<std::string>()) return *x == *b.get<std::string>();
  if (auto x = a.get<Bytes>()) return x->data == b.get<Bytes>()->data;
  if (auto x = a.get<TypeValue>()) return x->name == b.get<TypeValue>()->name;
  if (auto x = a.get<List>()) {
    const auto& l = **x;
    const auto& r = **b.get<List>();
    if (l.size() != r.size()) return false;
    for (size_t i = 0; i < l.size(); ++i) {
      if (!values_equal(l[i], r[i])) return false;
    }
    return true;
  }
  if (auto x = a.get<Map>()) {
    const auto& l = **x;
    const auto& r = **b.get<Map>();
    if (l.size() != r.size()) return false;
    for (const auto& [k, v] : l) {
      bool found = false;
      for (const auto& [k2, v2] : r) {
        if (values_equal(k, k2)) {
          if (!values_equal(v, v2)) return false;
          found = true;
        }
      }
      if (!found) return false;
    }
    return true;
  }
  if (auto x = a.get<MessageValue>()) {
    const MessageValue* y = b.get<MessageValue>();
    return x->disk == y->disk && x->volume == y->volume;
  }
  return false;
}

std::string display(const Value& v) {
  if (auto s = v.get<std::string>()) return *s;
  if (auto b = v.get<bool>()) return *b ? "true" : "false";
  if (auto i = v.get<int64_t>()) return std::to_string(*i);
  if (auto u = v.get<uint64_t>()) return std::to_string(*u);
  if (auto d = v.get<double>()) return go_float(*d);
  if (v.get<NullValue>()) return "NULL_VALUE";
  return display_type(v);
}

bool glob(const std::string& pattern, const std::string& subject) {
  if (pattern.empty()) return subject.empty();
  if (pattern == "*") return true;
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    size_t star = pattern.find('*', start);
    parts.push_back(
        pattern.substr(start, star == std::string::npos ? std::string::npos : star - start));
    if (star == std::string::npos) break;
    start = star + 1;
  }
  if (parts.size() == 1) return subject == pattern;
  bool leading = pattern.front() == '*';
  bool trailing = pattern.back() == '*';
  std::string subj = subject;
  size_t end = parts.size() - 1;
  for (size_t i = 0; i < end; ++i) {
    size_t idx = subj.find(parts[i]);
    if (i == 0) {
      if (!leading && idx != 0) return false;
    } else if (idx == std::string::npos) {
      return false;
    }
    // Go slices with idx == -1 only when leading is set and the part is missing: strings.Index
    // returns -1 and subj[-1+len:] keeps the tail; mirror that.
    long from = static_cast<long>(idx == std::string::npos ? -1 : static_cast<long>(idx)) +
                static_cast<long>(parts[i].size());
    subj = from >= 0 ? subj.substr(std::min<size_t>(static_cast<size_t>(from), subj.size())) : subj;
  }
  if (trailing) return true;
  const std::string& last = parts[end];
  return subj.size() >= last.size() &&
         subj.compare(subj.size() - last.size(), last.size(), last) == 0;
}

Value apply_function(const std::string& fn, bool member, const std::vector<Value>& args) {
  if (fn == op::kEquals) return Value{values_equal(args[0], args[1])};
  if (fn == op::kNotEquals) return Value{!values_equal(args[0], args[1])};
  if (fn == op::kLess || fn == op::kLessEquals || fn == op::kGreater || fn == op::kGreaterEquals) {
    int c = compare(args[0], args[1]);
    if (c == 3) return Value{false};  // NaN
    if (c == 2) return no_overload();
    if (fn == op::kLess) return Value{c < 0};
    if (fn == op::kLessEquals) return Value{c <= 0};
    if (fn == op::kGreater) return Value{c > 0};
    return Value{c >= 0};
  }
  if (fn == op::kAdd || fn == op::kSubtract || fn == op::kMultiply || fn == op::kDivide ||
      fn == op::kModulo) {
    return arithmetic(fn, args[0], args[1]);
  }
  if (fn == op::kNegate) {
    if (auto i = args[0].get<int64_t>()) return checked_int(-static_cast<__int128>(*i));
    if (auto d = args[0].get<double>()) return Value{-*d};
    return no_overload();
  }
  if (fn == op::kLogicalNot) {
    if (auto b = args[0].get<bool>()) return Value{!*b};
    return no_overload();
  }
  if (fn == op::kIn) {
    if (auto l = args[1].get<List>()) {
      for (const Value& item : **l) {
        if (values_equal(item, args[0])) return Value{true};
      }
      return Value{false};
    }
    if (auto m = args[1].get<Map>()) {
      for (const auto& kv : **m) {
        if (values_equal(kv.first, args[0])) return Value{true};
      }
      return Value{false};
    }
    return no_overload();
  }
  if (fn == op::kIndex) {
    if (auto l = args[0].get<List>()) {
      int64_t i = 0;
      if (auto x = args[1].get<int64_t>()) {
        i = *x;
      } else if (auto u = args[1].get<uint64_t>()) {
        i = static_cast<int64_t>(*u);
      } else {
        return no_overload();
      }
      if (i < 0 || static_cast<size_t>(i) >= (*l)->size()) {
        return error_value("index out of bounds: " + display(args[1]));
      }
      return (**l)[static_cast<size_t>(i)];
    }
    if (auto m = args[0].get<Map>()) {
      for (const auto& kv : **m) {
        if (values_equal(kv.first, args[1])) return kv.second;
      }
      return error_value("no such key: " + display(args[1]));
    }
    return no_overload();
  }
  if (fn == "size") {
    const Value& v = args[0];
    if (auto s = v.get<std::string>()) return Value{static_cast<int64_t>(code_points(*s))};
    if (auto b = v.get<Bytes>()) return Value{static_cast<int64_t>(b->data.size())};
    if (auto l = v.get<List>()) return Value{static_cast<int64_t>((*l)->size())};
    if (auto m = v.get<Map>()) return Value{static_cast<int64_t>((*m)->size())};
    return no_overload();
  }
  if (fn == "contains" || fn == "startsWith" || fn == "endsWith" || fn == "matches" ||
      fn == "glob") {
    if (args.size() != 2) return no_overload();
    auto a = args[0].get<std::string>();
    auto b = args[1].get<std::string>();
    if (!a || !b) return no_overload();
    if (fn == "contains") return Value{a->find(*b) != std::string::npos};
    if (fn == "startsWith")
      return Value{a->compare(0, b->size(), *b) == 0 && a->size() >= b->size()};
    if (fn == "endsWith") {
      return Value{a->size() >= b->size() && a->compare(a->size() - b->size(), b->size(), *b) == 0};
    }
    if (fn == "glob") return Value{glob(*a, *b)};
    return regex_matches(*a, *b);
  }
  if (fn == "type") return Value{TypeValue{display_type(args[0])}};
  if (!member && args.size() == 1) return convert(fn, args[0]);
  return no_overload();
}

}  // namespace cryptnode::cel
