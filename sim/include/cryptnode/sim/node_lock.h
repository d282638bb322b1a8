// One process owns a node directory at a time (like a VM process owns its VM): an exclusive flock
// on <node>/node.lock, holding the owner's pid for the error message.
#pragma once

#include <string>

namespace cryptnode::sim {

class NodeLock {
 public:
  // Throws Error(kLocked, "node directory <dir> is locked by another process (pid N)").
  explicit NodeLock(const std::string& dir);
  ~NodeLock();
  NodeLock(const NodeLock&) = delete;
  NodeLock& operator=(const NodeLock&) = delete;

 private:
  int fd_ = -1;
};

}  // namespace cryptnode::sim
