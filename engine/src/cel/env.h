// The declarations of Talos' CEL environments (pkg/machinery/cel/celenv/celenv.go, release-1.12):
// cel-go's standard library (the subset this engine evaluates), the message types of
// api/resource/definitions/block/block.proto, the variables and the size-unit constants.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "ast.h"
#include "cryptnode/engine/cel.h"
#include "types.h"

namespace cryptnode::cel {

inline constexpr const char* kDiskSpec = "talos.resource.definitions.block.DiskSpec";
inline constexpr const char* kVolumeSpec = "talos.resource.definitions.block.DiscoveredVolumeSpec";

struct Overload {
  std::string id;
  bool member = false;
  std::vector<TypePtr> args;  // receiver first for member overloads
  TypePtr result;
};

struct Function {
  std::vector<Overload> overloads;
};

struct Env {
  std::map<std::string, TypePtr> variables;  // includes constants and type identifiers
  std::map<std::string, Literal> constants;  // KiB ... EB
  std::map<std::string, Function> functions;
  std::map<std::string, std::map<std::string, TypePtr>> messages;  // full name -> fields
};

const Env& environment(Environment which);

}  // namespace cryptnode::cel
