#include "cryptnode/engine/activation/loop_device.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/loop.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <fstream>
#include <thread>

#include "cryptnode/engine/error.h"

namespace cryptnode::activation {

LoopDevice::LoopDevice(const std::string& file, uint32_t block_size, bool partscan) {
  int ctl = ::open("/dev/loop-control", O_RDWR | O_CLOEXEC);
  if (ctl < 0) throw_errno("/dev/loop-control", errno);
  int backing = ::open(file.c_str(), O_RDWR | O_CLOEXEC);
  if (backing < 0) {
    int e = errno;
    ::close(ctl);
    throw_errno(file, e);
  }
  int last = 0;
  for (int attempt = 0; attempt < 50 && fd_ < 0; ++attempt) {
    int n = ::ioctl(ctl, LOOP_CTL_GET_FREE);
    if (n < 0) {
      last = errno;
      break;
    }
    std::string path = "/dev/loop" + std::to_string(n);
    int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0) {
      last = errno;
      continue;
    }
    loop_config cfg{};
    cfg.fd = static_cast<uint32_t>(backing);
    cfg.block_size = block_size;
    cfg.info.lo_flags = partscan ? LO_FLAGS_PARTSCAN : 0;
    if (::ioctl(fd, LOOP_CONFIGURE, &cfg) == 0) {
      fd_ = fd;
      number_ = n;
      path_ = path;
    } else {
      last = errno;  // EBUSY: raced with another process; take the next free one
      ::close(fd);
    }
  }
  ::close(backing);
  ::close(ctl);
  if (fd_ < 0) throw_errno("cannot attach a loop device to " + file, last ? last : EBUSY);
}

LoopDevice::~LoopDevice() {
  try {
    detach();
  } catch (...) {
  }
}

void LoopDevice::detach() {
  if (fd_ < 0) return;
  ::fsync(fd_);
  for (int i = 0; i < 200; ++i) {
    if (::ioctl(fd_, LOOP_CLR_FD, 0) == 0 || errno == ENXIO) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));  // EBUSY: still in use
  }
  ::close(fd_);
  fd_ = -1;
  // The kernel detaches when the last opener is gone; wait until the backing file is released.
  const std::string sys = "/sys/block/loop" + std::to_string(number_) + "/loop/backing_file";
  for (int i = 0; i < 200 && ::access(sys.c_str(), F_OK) == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
}

std::vector<std::string> loop_devices_backed_under(const std::string& dir) {
  std::vector<std::string> out;
  DIR* d = ::opendir("/sys/block");
  if (!d) return out;
  while (dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name.rfind("loop", 0) != 0) continue;
    std::ifstream f("/sys/block/" + name + "/loop/backing_file");
    std::string backing;
    if (f && std::getline(f, backing) && backing.rfind(dir, 0) == 0) out.push_back("/dev/" + name);
  }
  ::closedir(d);
  return out;
}

void force_detach(const std::string& loop_path) {
  int fd = ::open(loop_path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) return;
  ::ioctl(fd, LOOP_CLR_FD, 0);
  ::close(fd);
}

}  // namespace cryptnode::activation
