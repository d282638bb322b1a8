// The FUSE server of the userspace backend (internal to the activation area): one mount at
// <runtime_dir>/mapper serving one regular file per open volume, on its own threads (libfuse's
// multi-threaded low-level loop), requests of up to 1 MiB, each file in direct-I/O mode (the loop
// device above keeps the page cache; a second one here would only copy). It mounts with the first
// file and unmounts with the last.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "cryptnode/engine/env.h"
#include "sector_file.h"

struct fuse_session;

namespace cryptnode::activation {

class FuseServer {
 public:
  FuseServer(std::string mountpoint, Env& env);
  ~FuseServer();  // stops
  FuseServer(const FuseServer&) = delete;
  FuseServer& operator=(const FuseServer&) = delete;

  // Serves `file` as <mountpoint>/<name>, mounting first when nothing is served; returns that
  // path. Error(kIO) when the mount fails.
  std::string add(const std::string& name, std::shared_ptr<SectorFile> file);
  // Stops serving <name> (a handle still open keeps working until it is released); unmounts when
  // it was the last.
  void remove(const std::string& name);

  const std::string& mountpoint() const { return mountpoint_; }

  struct Ops;  // the FUSE operations (fuse_server.cpp)

 private:
  struct Node {
    std::string name;
    std::shared_ptr<SectorFile> file;
  };
  void start();  // mu_ held
  void stop();

  Env& env_;
  const std::string mountpoint_;
  std::mutex mu_;
  std::map<uint64_t, Node> nodes_;  // by inode number (1 is the root directory)
  // Open handles (fuse_file_info::fh); those the kernel did not release by stop() are freed there.
  std::set<std::shared_ptr<SectorFile>*> handles_;
  uint64_t next_ino_ = 2;
  fuse_session* se_ = nullptr;
  std::thread loop_;
};

}  // namespace cryptnode::activation
