#include <fcntl.h>
#include <linux/blkpg.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <thread>

#include "cryptnode/engine/error.h"
#include "cryptnode/sim/disk.h"

namespace cryptnode::sim {

AttachedDisk::AttachedDisk(std::string name, const std::string& image) : name_(std::move(name)) {
  loop_ = std::make_unique<activation::LoopDevice>(image, 512);
  auto dev = Env::posix().open_block(loop_->path(), false);
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
  auto dev = Env::posix().open_block(loop_->path(), false);
  char sig[8];
  dev->read_at(512, sig, 8);
  return std::memcmp(sig, "EFI PART", 8) == 0;
}

Gpt AttachedDisk::read_gpt() const {
  auto dev = Env::posix().open_block(loop_->path(), false);
  return Gpt::read(*dev);
}

void AttachedDisk::add_to_kernel(const GptPartition& p) {
  blkpg_partition part{};
  part.start = static_cast<long long>(p.offset());
  part.length = static_cast<long long>(p.size());
  part.pno = p.index;
  blkpg_ioctl_arg arg{};
  arg.op = BLKPG_ADD_PARTITION;
  arg.datalen = sizeof(part);
  arg.data = &part;
  int fd = ::open(loop_->path().c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) throw_errno(loop_->path(), errno);
  int r = ::ioctl(fd, BLKPG, &arg);
  int e = errno;
  ::close(fd);
  if (r != 0 && e != EBUSY)
    throw_errno(loop_->path() + ": BLKPG add partition " + std::to_string(p.index), e);
  kernel_parts_.push_back(p.index);
  // devtmpfs creates /dev/loopNpM; make the node ourselves if it has not (no udev here).
  const std::string node = partition_device(p.index);
  for (int i = 0; i < 100 && ::access(node.c_str(), F_OK) != 0; ++i) {
    std::ifstream devno("/sys/class/block/" + node.substr(5) + "/dev");
    unsigned maj = 0, min = 0;
    char colon;
    if (devno >> maj >> colon >> min) {
      ::mknod(node.c_str(), S_IFBLK | 0600, makedev(maj, min));
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

void AttachedDisk::remove_from_kernel(int index) {
  blkpg_partition part{};
  part.pno = index;
  blkpg_ioctl_arg arg{};
  arg.op = BLKPG_DEL_PARTITION;
  arg.datalen = sizeof(part);
  arg.data = &part;
  int fd = ::open(loop_->path().c_str(), O_RDWR | O_CLOEXEC);
  if (fd >= 0) {
    for (int i = 0; i < 100; ++i) {  // EBUSY while a closing user still holds it
      if (::ioctl(fd, BLKPG, &arg) == 0 || errno != EBUSY) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ::close(fd);
  }
  kernel_parts_.erase(std::remove(kernel_parts_.begin(), kernel_parts_.end(), index),
                      kernel_parts_.end());
}

GptPartition AttachedDisk::add_partition(const std::string& label, uint64_t size,
                                         const std::string& type) {
  auto dev = Env::posix().open_block(loop_->path(), true);
  Gpt gpt = has_gpt() ? Gpt::read(*dev) : Gpt::create(size_, Env::posix().random());
  GptPartition p = gpt.add(label, size, type, Env::posix().random());
  gpt.write(*dev);
  add_to_kernel(p);
  fast_wipe(partition_device(p.index));
  return p;
}

void AttachedDisk::wipe_and_delete(int index) {
  fast_wipe(partition_device(index));
  auto dev = Env::posix().open_block(loop_->path(), true);
  Gpt gpt = Gpt::read(*dev);
  gpt.remove(index);
  gpt.write(*dev);
  remove_from_kernel(index);
}

namespace {

bool read_at(int fd, uint64_t off, void* buf, size_t len) {
  return ::pread(fd, buf, len, static_cast<off_t>(off)) == static_cast<ssize_t>(len);
}

}  // namespace

std::string probe(const std::string& device) {
  int fd = ::open(device.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw_errno(device, errno);
  uint8_t b[0x1000] = {};
  std::string kind;
  if (read_at(fd, 0, b, sizeof(b))) {
    if (std::memcmp(b, "LUKS\xba\xbe", 6) == 0) {
      kind = (b[6] << 8 | b[7]) == 2 ? "luks" : "";  // LUKS1 is not recognised
    } else if (std::memcmp(b, "XFSB", 4) == 0) {
      kind = "xfs";
    } else if (b[0x438] == 0x53 && b[0x439] == 0xEF) {
      kind = "ext4";
    } else if (std::memcmp(b + 0x52, "FAT32", 5) == 0 || std::memcmp(b + 0x36, "FAT", 3) == 0) {
      kind = "vfat";
    } else if (std::memcmp(b + 0xff6, "SWAPSPACE2", 10) == 0) {
      kind = "swap";
    } else {
      auto be32 = [](const uint8_t* p) {
        return static_cast<uint32_t>(p[0]) << 24 | p[1] << 16 | p[2] << 8 | p[3];
      };
      uint8_t m2[4];
      for (uint64_t off : {0ull, 256ull * 1024}) {
        uint8_t m1[4];
        if (read_at(fd, off, m1, 4) && be32(m1) == 0x5a4b3c2d &&
            read_at(fd, off + 256 * 1024 - 4, m2, 4) && be32(m2) == 0xa5b4c3d2) {
          kind = "talosmeta";
          break;
        }
      }
    }
  }
  ::close(fd);
  return kind;
}

void fast_wipe(const std::string& device) {
  int fd = ::open(device.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) throw_errno(device, errno);
  uint64_t size = 0;
  struct stat st {};
  ::fstat(fd, &st);
  if (S_ISBLK(st.st_mode))
    ::ioctl(fd, BLKGETSIZE64, &size);
  else
    size = static_cast<uint64_t>(st.st_size);
  uint64_t range[2] = {0, size};
  ::ioctl(fd, BLKDISCARD, range);  // errors ignored, as go-blockdevice does
  const uint64_t mib = 1 << 20;
  std::string zeros(static_cast<size_t>(std::min(size, mib)), '\0');
  auto zero = [&](uint64_t off, uint64_t len) {
    if (::pwrite(fd, zeros.data(), static_cast<size_t>(len), static_cast<off_t>(off)) < 0) {
      int e = errno;
      ::close(fd);
      throw_errno(device + ": wipe", e);
    }
  };
  zero(0, std::min(size, mib));
  if (size >= 2 * mib) zero(size - mib, mib);
  ::fsync(fd);
  ::close(fd);
}

}  // namespace cryptnode::sim
