#include "cryptnode/sim/node_lock.h"

#include <unistd.h>

#include "cryptnode/engine/error.h"

namespace cryptnode::sim {

NodeLock::NodeLock(const std::string& dir, Env& env) {
  try {
    lock_ = env.lock_file(dir + "/node.lock", std::to_string(::getpid()) + "\n");
  } catch (const Error& e) {
    if (e.code() != Code::kLocked) throw;
    const std::string pid = *e.what() ? e.what() : "?";
    throw Error(Code::kLocked,
                "node directory " + dir + " is locked by another process (pid " + pid + ")");
  }
}

}  // namespace cryptnode::sim
