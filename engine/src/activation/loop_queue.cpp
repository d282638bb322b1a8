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
  q.direct_io = ::ioctl(fd, LOOP_SET_DIRECT_IO, 1UL) == 0;
  q.read_ahead = ::ioctl(fd, BLKRASET, static_cast<unsigned long>(kLoopReadAhead / 512)) == 0;
  ::close(fd);
  return q;
}

}  // namespace cryptnode::activation
