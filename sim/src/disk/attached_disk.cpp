#include <algorithm>
#include <cstring>

#include "cryptnode/engine/blkid.h"
#include "cryptnode/engine/error.h"
#include "cryptnode/sim/disk.h"

namespace cryptnode::sim {

AttachedDisk::AttachedDisk(std::string name, const std::string& image, Env& env)
    : name_(std::move(name)), env_(env) {
  loop_ = env_.attach_loop(image, 512, false, false);
  auto dev = env_.open_block(loop_->path(), false);
  size_ = dev->size();
  if (has_gpt())
    for (const auto& p : read_gpt().partitions()) add_to_kernel(p);
}

AttachedDisk::~AttachedDisk() {
  try {
    detach();
  } catch (...) {
  }
}

void AttachedDisk::detach() {
  if (!loop_) return;
  for (int idx : std::vector<int>(kernel_parts_)) {
    try {
      remove_from_kernel(idx);
    } catch (...) {
    }
  }
  loop_.reset();
}

std::string AttachedDisk::partition_device(int index) const {
  return loop_->path() + "p" + std::to_string(index);
}

bool AttachedDisk::has_gpt() const {
  auto dev = env_.open_block(loop_->path(), false);
  char sig[8];
  dev->read_at(512, sig, 8);
  return std::memcmp(sig, "EFI PART", 8) == 0;
}

Gpt AttachedDisk::read_gpt() const {
  auto dev = env_.open_block(loop_->path(), false);
  return Gpt::read(*dev);
}

void AttachedDisk::add_to_kernel(const GptPartition& p) {
  env_.add_partition(loop_->path(), p.index, p.offset(), p.size());
  kernel_parts_.push_back(p.index);
}

void AttachedDisk::remove_from_kernel(int index) {
  env_.delete_partition(loop_->path(), index);
  kernel_parts_.erase(std::remove(kernel_parts_.begin(), kernel_parts_.end(), index),
                      kernel_parts_.end());
}

GptPartition AttachedDisk::add_partition(const std::string& label, uint64_t size,
                                         const std::string& type) {
  auto dev = env_.open_block(loop_->path(), true);
  Gpt gpt = has_gpt() ? Gpt::read(*dev) : Gpt::create(size_, env_.random());
  GptPartition p = gpt.add(label, size, type, env_.random());
  gpt.write(*dev);
  add_to_kernel(p);
  fast_wipe(partition_device(p.index), env_);
  return p;
}

void AttachedDisk::wipe_all() {
  for (int idx : std::vector<int>(kernel_parts_)) remove_from_kernel(idx);
  fast_wipe(loop_->path(), env_);
}

void AttachedDisk::wipe(int index) {
  fast_wipe(partition_device(index), env_);
  env_.fault_point("reset.after_wipe");
}

void AttachedDisk::wipe_and_delete(int index) {
  wipe(index);
  env_.fault_point("reset.before_gpt_delete");
  auto dev = env_.open_block(loop_->path(), true);
  Gpt gpt = Gpt::read(*dev);
  gpt.remove(index);
  gpt.write(*dev);
  remove_from_kernel(index);
}

std::string probe(const std::string& device, Env& env) {
  // go-blockdevice's blkid, as Talos runs it (engine/include/cryptnode/engine/blkid.h): the
  // simulation's loop devices have 512-byte sectors.
  return blkid::probe(*env.open_block(device, false));
}

void fast_wipe(const std::string& device, Env& env) {
  auto dev = env.open_block(device, true);
  const uint64_t size = dev->size();
  dev->discard(0, size);  // errors ignored, as go-blockdevice does
  const uint64_t mib = 1 << 20;
  std::string zeros(static_cast<size_t>(std::min(size, mib)), '\0');
  dev->write_at(0, zeros.data(), zeros.size());
  if (size >= 2 * mib) dev->write_at(size - mib, zeros.data(), zeros.size());
  dev->sync();
}

}  // namespace cryptnode::sim
