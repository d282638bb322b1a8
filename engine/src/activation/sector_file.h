// The plaintext of one LUKS2 data segment as a byte-addressed file (internal to the activation
// area): what the FUSE server serves for an open volume. Whole sectors go through Xts in one call
// straight between the device and the caller's buffer; a write that covers part of a sector reads,
// decrypts and re-encrypts that sector (read-modify-write).
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <shared_mutex>

#include "cryptnode/engine/activation/xts.h"
#include "cryptnode/engine/env.h"

namespace cryptnode::activation {

struct SegmentLayout {
  uint64_t offset = 0;  // bytes from the start of the device
  uint64_t size = 0;    // bytes, a multiple of sector
  uint32_t sector = 512;
};

class SectorFile {
 public:
  // xts == nullptr: the ciphertext is served as it is (benchmarks: the same path without the
  // cipher).
  SectorFile(std::unique_ptr<BlockDevice> device, SegmentLayout layout, std::unique_ptr<Xts> xts,
             bool read_only);

  uint64_t size() const { return layout_.size; }
  uint32_t sector_size() const { return layout_.sector; }
  bool read_only() const { return read_only_; }

  // [off, off + len) of the plaintext; the end of the segment shortens a read (0 past it) and
  // fails a write with -ENOSPC. Return the bytes moved or -errno. Thread-safe.
  ssize_t read(uint64_t off, uint8_t* out, size_t len);
  ssize_t write(uint64_t off, const uint8_t* in, size_t len);
  int sync();
  // luksClose: syncs and lets go of the device (and the key with the cipher) once the requests in
  // flight are done; later requests fail with -EIO. The FUSE kernel module may release its
  // handles on the file long after (or, when the server stopped first, never).
  void close();

 private:
  // Reads and decrypts the sectors [a, b) of the segment into out.
  void read_sectors(uint64_t a, uint64_t b, uint8_t* out);

  std::unique_ptr<BlockDevice> device_;  // null once closed
  SegmentLayout layout_;
  std::unique_ptr<Xts> xts_;
  bool passthrough_;
  bool read_only_;
  // Reads and whole-sector writes share it; a read-modify-write holds it alone, so that it cannot
  // put back a stale copy of a sector another request wrote meanwhile; so does close().
  std::shared_mutex mu_;
  // Written through since the last sync; sync_mu_ makes syncs take turns (taken before mu_).
  std::atomic<bool> dirty_{false};
  std::mutex sync_mu_;
};

}  // namespace cryptnode::activation
