// A small CEL (Common Expression Language) implementation covering what Talos' selector
// environments accept: pkg/machinery/cel/cel.go and pkg/machinery/cel/celenv/celenv.go
// (DiskLocator, VolumeLocator), release-1.12, built on github.com/google/cel-go v0.29.0.
//
// check() and Program::compile() parse and type-check like cel-go's env.Parse + env.Check and then
// require a bool result like Talos' ParseBooleanExpression; error texts are cel-go's
// Issues.Err().Error() ("ERROR: <input>:L:C: msg\n | source\n | ...^") or Talos'
// "expression output type is <t>, expected bool".
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cryptnode::cel {

// Talos celenv.DiskLocator() / celenv.VolumeLocator().
enum class Environment { kDiskLocator, kVolumeLocator };

// Parses and type-checks `expression` in `env` (the result must be bool, as Talos requires).
// Returns "" when valid, else cel-go's error text exactly as Talos would embed it after
// "disk selector is invalid: " (or the volume equivalent).
std::string check(std::string_view expression, Environment env);

// talos.resource.definitions.block.DiskSpec (api/resource/definitions/block/block.proto): the
// CEL variable `disk`.
struct DiskFacts {
  uint64_t size = 0;
  uint64_t io_size = 0;
  uint64_t sector_size = 0;
  bool readonly = false;
  std::string model;
  std::string serial;
  std::string modalias;
  std::string wwid;
  std::string bus_path;
  std::string sub_system;
  std::string transport;
  bool rotational = false;
  bool cdrom = false;
  std::string dev_path;
  std::string pretty_size;
  std::vector<std::string> secondary_disks;
  std::string uuid;
  std::vector<std::string> symlinks;
};

// talos.resource.definitions.block.DiscoveredVolumeSpec: the CEL variable `volume`.
struct VolumeFacts {
  uint64_t size = 0;
  uint64_t sector_size = 0;
  uint64_t io_size = 0;
  std::string name;  // filesystem type ("xfs", "luks", "" when unknown)
  std::string uuid;
  std::string label;
  uint32_t block_size = 0;
  uint32_t filesystem_block_size = 0;
  uint64_t probed_size = 0;
  std::string partition_uuid;
  std::string partition_type;
  std::string partition_label;
  uint64_t partition_index = 0;
  std::string type;  // "disk", "partition"
  std::string device_path;
  std::string parent;
  std::string dev_path;
  std::string parent_dev_path;
  std::string pretty_size;
  uint64_t offset = 0;
};

// The variables of one evaluation. A variable left empty is absent from the activation, as when
// Talos does not put it in the map (locate.go passes only "disk" for a DiskMatch locator, and no
// "disk" for a volume whose parent disk is unknown): referencing it is then cel-go's
// "no such attribute(s): <name>" evaluation error.
struct DiskActivation {
  std::optional<DiskFacts> disk;
  std::optional<bool> system_disk;
};
struct VolumeActivation {
  std::optional<VolumeFacts> volume;
  std::optional<DiskFacts> disk;
};

namespace detail {
struct Compiled;
}

// A parsed and checked bool expression; cheap to copy, immutable, safe to share between threads.
class Program {
 public:
  // Throws Error(Code::kConfigInvalid, <the text check() would return>).
  static Program compile(std::string_view expression, Environment env);

  Environment environment() const;
  const std::string& expression() const;

  // Evaluates against the variables of a DiskLocator (or VolumeLocator) program; throws
  // Error(Code::kInvalidArgument, <cel-go's evaluation error text>) on an evaluation error
  // (e.g. "no such attribute(s): disk", "return error overflow") or when the activation does not
  // belong to the program's environment.
  bool evaluate(const DiskActivation& activation) const;
  bool evaluate(const VolumeActivation& activation) const;

 private:
  explicit Program(std::shared_ptr<const detail::Compiled> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<const detail::Compiled> impl_;
};

}  // namespace cryptnode::cel
