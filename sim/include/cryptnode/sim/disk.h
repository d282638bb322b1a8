// A node's disk while powered on: a loop device over the image with every GPT partition added
// with ioctl(BLKPG) so /dev/loopNpM exist (the host kernel does not scan GPT). Detached in the
// destructor, also after errors. Plus Talos' blkid semantics (probe) and reset wipe.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "cryptnode/engine/env.h"
#include "cryptnode/sim/gpt.h"

namespace cryptnode::sim {

class AttachedDisk {
 public:
  AttachedDisk(std::string name, const std::string& image, Env& env);
  ~AttachedDisk();
  AttachedDisk(const AttachedDisk&) = delete;
  AttachedDisk& operator=(const AttachedDisk&) = delete;

  const std::string& name() const { return name_; }
  const std::string& device() const { return loop_->path(); }
  std::string partition_device(int index) const;  // /dev/loopNpM
  uint64_t size() const { return size_; }

  Gpt read_gpt() const;  // throws kCorrupt when the disk has no GPT
  bool has_gpt() const;
  // Adds a partition to the GPT and to the kernel, and wipes it as Talos does after creating one.
  GptPartition add_partition(const std::string& label, uint64_t size, const std::string& type);
  // Talos' reset of one partition: signature ranges + first/last 1 MiB zeroed (FastWipe) ...
  void wipe(int index);
  // ... and its GPT entry deleted (Talos 1.12+).
  void wipe_and_delete(int index);
  // The whole disk wiped as Talos' WipeWithSignatures does for a reset without labels: every
  // partition gone from the kernel, the partition tables (first and last MiB) zeroed.
  void wipe_all();
  void detach();

 private:
  void add_to_kernel(const GptPartition& p);
  void remove_from_kernel(int index);
  std::string name_;
  Env& env_;
  std::unique_ptr<LoopDevice> loop_;
  uint64_t size_ = 0;
  std::vector<int> kernel_parts_;
};

// Talos' go-blockdevice blkid answer for a device: "" (nothing it knows, LUKS1 included), "luks"
// (LUKS2), "xfs", "ext4", "vfat", "swap", "talosmeta".
std::string probe(const std::string& device, Env& env);
// Zeroes the first and last 1 MiB (the whole device when under 2 MiB), after BLKDISCARD.
void fast_wipe(const std::string& device, Env& env);

}  // namespace cryptnode::sim
