#include "env.h"

namespace cryptnode::cel {

namespace {

using namespace types;  // NOLINT

void add(Env& env, const std::string& name, bool member, std::vector<TypePtr> args,
         TypePtr result) {
  env.functions[name].overloads.push_back(
      Overload{name, member, std::move(args), std::move(result)});
}

// common/stdlib/standard.go, less timestamps, durations and the disabled cross-type numeric
// comparisons (cel.CrossTypeNumericComparisons is off in cel.NewEnv()).
void standard(Env& env) {
  TypePtr a = param("A");
  TypePtr b = param("B");
  add(env, op::kConditional, false, {boolean(), a, a}, a);
  add(env, op::kLogicalAnd, false, {boolean(), boolean()}, boolean());
  add(env, op::kLogicalOr, false, {boolean(), boolean()}, boolean());
  add(env, op::kLogicalNot, false, {boolean()}, boolean());
  add(env, op::kNotStrictlyFalse, false, {boolean()}, boolean());
  add(env, op::kEquals, false, {a, a}, boolean());
  add(env, op::kNotEquals, false, {a, a}, boolean());
  for (TypePtr t : {bytes(), double_(), int64(), list(a), string(), uint64()}) {
    add(env, op::kAdd, false, {t, t}, t);
  }
  for (const char* f : {op::kSubtract, op::kMultiply, op::kDivide}) {
    for (TypePtr t : {double_(), int64(), uint64()}) add(env, f, false, {t, t}, t);
  }
  for (TypePtr t : {int64(), uint64()}) add(env, op::kModulo, false, {t, t}, t);
  for (TypePtr t : {double_(), int64()}) add(env, op::kNegate, false, {t}, t);
  for (const char* f : {op::kLess, op::kLessEquals, op::kGreater, op::kGreaterEquals}) {
    for (TypePtr t : {boolean(), bytes(), double_(), int64(), string(), uint64()}) {
      add(env, f, false, {t, t}, boolean());
    }
  }
  add(env, op::kIndex, false, {list(a), int64()}, a);
  add(env, op::kIndex, false, {map(a, b), a}, b);
  add(env, op::kIn, false, {a, list(a)}, boolean());
  add(env, op::kIn, false, {a, map(a, b)}, boolean());
  for (bool member : {false, true}) {
    for (TypePtr t : {bytes(), list(a), map(a, b), string()})
      add(env, "size", member, {t}, int64());
  }
  for (const char* f : {"contains", "endsWith", "startsWith"}) {
    add(env, f, true, {string(), string()}, boolean());
  }
  add(env, "matches", false, {string(), string()}, boolean());
  add(env, "matches", true, {string(), string()}, boolean());
  for (TypePtr t : {int64(), uint64(), double_(), string()}) add(env, "int", false, {t}, int64());
  for (TypePtr t : {uint64(), int64(), double_(), string()}) add(env, "uint", false, {t}, uint64());
  for (TypePtr t : {double_(), int64(), uint64(), string()}) {
    add(env, "double", false, {t}, double_());
  }
  for (TypePtr t : {string(), boolean(), bytes(), double_(), int64(), uint64()}) {
    add(env, "string", false, {t}, string());
  }
  add(env, "bytes", false, {bytes()}, bytes());
  add(env, "bytes", false, {string()}, bytes());
  add(env, "bool", false, {boolean()}, boolean());
  add(env, "bool", false, {string()}, boolean());
  add(env, "dyn", false, {a}, dyn());
  add(env, "type", false, {a}, type(a));
  for (const char* t : {"bool", "bytes", "double", "int", "uint", "string", "null_type", "type"}) {
    env.variables[t] = type(nullptr);
  }
  env.variables["list"] = type(list(a));
  env.variables["map"] = type(map(a, b));
}

// celenv.go unitMultipliers: uint constants.
void units(Env& env) {
  const std::pair<const char*, uint64_t> kUnits[] = {
      {"KiB", 1ULL << 10},      {"MiB", 1ULL << 20},         {"GiB", 1ULL << 30},
      {"TiB", 1ULL << 40},      {"PiB", 1ULL << 50},         {"EiB", 1ULL << 60},
      {"kB", 1000ULL},          {"MB", 1000000ULL},          {"GB", 1000000000ULL},
      {"TB", 1000000000000ULL}, {"PB", 1000000000000000ULL}, {"EB", 1000000000000000000ULL}};
  for (const auto& [name, value] : kUnits) {
    env.variables[name] = uint64();
    env.constants[name] = value;
  }
}

// block.proto: DiskSpec and DiscoveredVolumeSpec (uint32 fields are CEL uint).
void messages(Env& env) {
  env.messages[kDiskSpec] = {{"size", uint64()},        {"io_size", uint64()},
                             {"sector_size", uint64()}, {"readonly", boolean()},
                             {"model", string()},       {"serial", string()},
                             {"modalias", string()},    {"wwid", string()},
                             {"bus_path", string()},    {"sub_system", string()},
                             {"transport", string()},   {"rotational", boolean()},
                             {"cdrom", boolean()},      {"dev_path", string()},
                             {"pretty_size", string()}, {"secondary_disks", list(string())},
                             {"uuid", string()},        {"symlinks", list(string())}};
  env.messages[kVolumeSpec] = {{"size", uint64()},
                               {"sector_size", uint64()},
                               {"io_size", uint64()},
                               {"name", string()},
                               {"uuid", string()},
                               {"label", string()},
                               {"block_size", uint64()},
                               {"filesystem_block_size", uint64()},
                               {"probed_size", uint64()},
                               {"partition_uuid", string()},
                               {"partition_type", string()},
                               {"partition_label", string()},
                               {"partition_index", uint64()},
                               {"type", string()},
                               {"device_path", string()},
                               {"parent", string()},
                               {"dev_path", string()},
                               {"parent_dev_path", string()},
                               {"pretty_size", string()},
                               {"offset", uint64()}};
  env.variables[kDiskSpec] = type(message(kDiskSpec));
  env.variables[kVolumeSpec] = type(message(kVolumeSpec));
}

Env make(Environment which) {
  Env env;
  standard(env);
  units(env);
  messages(env);
  if (which == Environment::kDiskLocator) {
    env.variables["disk"] = message(kDiskSpec);
    env.variables["system_disk"] = boolean();
    add(env, "glob", false, {string(), string()}, boolean());
  } else {
    env.variables["volume"] = message(kVolumeSpec);
    env.variables["disk"] = message(kDiskSpec);
  }
  return env;
}

}  // namespace

const Env& environment(Environment which) {
  static const Env disk = make(Environment::kDiskLocator);
  static const Env volume = make(Environment::kVolumeLocator);
  return which == Environment::kDiskLocator ? disk : volume;
}

}  // namespace cryptnode::cel
