// Loop devices (LOOP_CONFIGURE through /dev/loop-control), as RAII. Used for the node's disks and
// for the block device over a userspace-decrypted volume.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace cryptnode::activation {

class LoopDevice {
 public:
  // Attaches `file` (retrying when another process grabs the same free device). block_size is the
  // logical block size (LUKS2 sector size for a volume, like `losetup -b`).
  LoopDevice(const std::string& file, uint32_t block_size = 512, bool partscan = false);
  ~LoopDevice();  // detach()
  LoopDevice(const LoopDevice&) = delete;
  LoopDevice& operator=(const LoopDevice&) = delete;

  const std::string& path() const { return path_; }
  int number() const { return number_; }
  int fd() const { return fd_; }
  // LOOP_CLR_FD, then waits until the kernel has really released it. Idempotent.
  void detach();

 private:
  std::string path_;
  int number_ = -1;
  int fd_ = -1;
};

// Every attached loop device whose backing file lies under `dir` ("/dev/loopN").
std::vector<std::string> loop_devices_backed_under(const std::string& dir);
// Detaches a loop device by path (for recovering after a crash). Errors are ignored.
void force_detach(const std::string& loop_path);

}  // namespace cryptnode::activation
