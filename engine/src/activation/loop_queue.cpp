#include "loop_queue.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <linux/loop.h>
#include <sys/ioctl.h>
#include <unistd.h>

namespace cryptnode::activation {

LoopQueue tune_loop_queue(const std::string& loop) {
  LoopQueue q;
  int fd = ::open(loop.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return q;
  // Attached with direct I/O already (Env::attach_loop): LOOP_SET_DIRECT_IO only where the kernel
  // left the device buffered at LOOP_CONFIGURE (it costs a queue freeze and an fsync).
  loop_info64 info{};
  q.direct_io =
      (::ioctl(fd, LOOP_GET_STATUS64, &info) == 0 && (info.lo_flags & LO_FLAGS_DIRECT_IO) != 0) ||
      ::ioctl(fd, LOOP_SET_DIRECT_IO, 1UL) == 0;
  q.read_ahead = ::ioctl(fd, BLKRASET, static_cast<unsigned long>(kLoopReadAhead / 512)) == 0;
  ::close(fd);
  return q;
}

}  // namespace cryptnode::activation
