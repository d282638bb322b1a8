#include "cryptnode/sim/filesystem.h"

#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "cryptnode/engine/error.h"
#include "cryptnode/sim/process.h"

namespace cryptnode::sim {
namespace {}  // namespace

void make_filesystem(const std::string& device, const std::string& type, const std::string& label,
                     uint64_t size) {
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
  } else {
    throw Error(Code::kInvalidArgument, "unsupported filesystem type \"" + type + "\"");
  }
  run_checked(argv);
}

void mount_filesystem(const std::string& device, const std::string& type, const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (::mount(device.c_str(), dir.c_str(), type.c_str(), 0, nullptr) != 0)
    throw_errno("mount " + device + " on " + dir, errno);
}

bool is_mount_point(const std::string& dir) {
  std::ifstream f("/proc/self/mounts");
  std::string line;
  while (std::getline(f, line)) {
    std::istringstream ss(line);
    std::string dev, mnt;
    ss >> dev >> mnt;
    if (mnt == dir) return true;
  }
  return false;
}

void unmount_filesystem(const std::string& dir) {
  if (!is_mount_point(dir)) return;
  if (::umount2(dir.c_str(), 0) == 0) return;
  if (errno == EBUSY && ::umount2(dir.c_str(), MNT_DETACH) == 0) return;
  throw_errno("umount " + dir, errno);
}

}  // namespace cryptnode::sim
