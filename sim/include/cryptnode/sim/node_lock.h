// One process owns a node directory at a time (like a VM process owns its VM): an exclusive lock
// on <node>/node.lock, holding the owner's pid for the error message.
#pragma once

#include <memory>
#include <string>

#include "cryptnode/engine/env.h"

namespace cryptnode::sim {

class NodeLock {
 public:
  // Throws Error(kLocked, "node directory <dir> is locked by another process (pid N)").
  NodeLock(const std::string& dir, Env& env);

 private:
  std::unique_ptr<FileLock> lock_;
};

}  // namespace cryptnode::sim
