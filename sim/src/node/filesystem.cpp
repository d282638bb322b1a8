#include "cryptnode/sim/filesystem.h"

#include <vector>

#include "cryptnode/engine/error.h"

namespace cryptnode::sim {

void make_filesystem(Env& env, const std::string& device, const std::string& type,
                     const std::string& label, uint64_t size) {
  std::vector<std::string> argv;
  if (type == "xfs") {
    // Talos passes `-c options=lts_6.12.conf`. Debian 12's mkfs.xfs 6.1.0 rejects its own
    // lts_6.1.conf ("invalid config file option: nrext64"), so no config file is passed here
    // (decision); the defaults of mkfs.xfs 6.1 are what that file pins anyway.
    argv = {"mkfs.xfs", "-n", "ftype=1"};
    if (!label.empty()) argv.insert(argv.end(), {"-L", label});
    if (size <= 300ull * 1024 * 1024) argv.push_back("--unsupported");
    argv.push_back(device);
  } else if (type == "ext4") {
    argv = {"mkfs.ext4", "-q", "-F"};
    if (!label.empty()) argv.insert(argv.end(), {"-L", label});
    argv.push_back(device);
  } else if (type == "swap") {
    // Talos writes the swap header with go-blockdevice's swap.Format (a new UUID, the volume's
    // label if any); mkswap writes the same header.
    argv = {"mkswap", "-q"};
    if (!label.empty()) argv.insert(argv.end(), {"-L", label});
    argv.push_back(device);
  } else {
    throw Error(Code::kInvalidArgument, "unsupported filesystem type \"" + type + "\"");
  }
  ProcessResult r = env.run(argv, {});
  if (r.exit_code != 0) {
    std::string out = r.output;
    while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
    throw Error(Code::kIO, argv[0] + " failed (exit " + std::to_string(r.exit_code) + "): " + out);
  }
}

void mount_filesystem(Env& env, const std::string& device, const std::string& type,
                      const std::string& dir) {
  env.make_dirs(dir, 0700);
  env.mount(device, dir, type, 0, "");
}

bool is_mount_point(Env& env, const std::string& dir) {
  for (const auto& m : env.mounts())
    if (m.target == dir) return true;
  return false;
}

void unmount_filesystem(Env& env, const std::string& dir) {
  if (!is_mount_point(env, dir)) return;
  try {
    env.unmount(dir, false);
  } catch (const Error&) {
    env.unmount(dir, true);  // busy: detach lazily
  }
}

}  // namespace cryptnode::sim
