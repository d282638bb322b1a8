// The request queue of the loop device that stands for /dev/mapper/<name> in the userspace backend
// (internal to the activation area). A loop device in its default (buffered) mode hands the FUSE
// file one synchronous request at a time, so the server's threads take turns and every request
// waits for the cipher of the one before; in direct-I/O mode it submits them as asynchronous direct
// I/O, many in flight, which the FUSE server's threads cipher side by side (dm-crypt's kcryptd
// workers do the same across CPUs).
#pragma once

#include <cstdint>
#include <string>

namespace cryptnode::activation {

// The loop device's readahead: a sequential read on the filesystem above reaches the FUSE server as
// requests in flight that add up to this, each up to the 1 MiB a FUSE request carries.
constexpr uint64_t kLoopReadAhead = 4u << 20;

struct LoopQueue {
  bool direct_io = false;   // the device runs direct I/O
  bool read_ahead = false;  // BLKRASET took
};

// Makes sure `loop` (a /dev/loopN attached to a file of the FUSE server, asked for direct I/O at
// attach) runs direct I/O and sets its readahead to kLoopReadAhead. Each step may be refused (an
// older kernel, a backing file without O_DIRECT): the device keeps working in its default mode,
// only slower; the result says which took. The ioctls go to the device node itself: Env has no
// call for them (as fuse_control.cpp's abort).
LoopQueue tune_loop_queue(const std::string& loop);

}  // namespace cryptnode::activation
