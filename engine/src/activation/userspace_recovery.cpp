// Crash recovery of the userspace backend: what a process that died while it owned the FUSE server
// of <runtime_dir>/mapper left behind (mounts on its loop devices, the orphaned FUSE connection,
// the loop devices themselves), removed at the next power-on.
#include <algorithm>

#include "cryptnode/engine/activation/backend.h"
#include "fuse_control.h"

namespace cryptnode::activation {

void recover_userspace_backend(const std::string& runtime_dir, Env& env) {
  const std::string mapper = runtime_dir + "/mapper";
  // Loop devices standing on the mapper files, found by their backing path while it is still
  // mounted (asking the loop device itself would stat the file through the dead connection).
  const std::vector<std::string> loops = env.loops_backed_under(mapper + "/");
  std::vector<std::string> stale;
  for (const auto& m : env.mounts())
    if (m.target.rfind(runtime_dir + "/", 0) == 0 && m.target != mapper) stale.push_back(m.target);
  std::sort(stale.rbegin(), stale.rend());  // deeper paths first
  for (const auto& m : stale) env.unmount(m, true);
  abort_fuse_connection(env, mount_devno(env, mapper));
  for (const auto& l : loops) env.detach_loop(l);
  env.unmount(mapper, true);
}

}  // namespace cryptnode::activation
