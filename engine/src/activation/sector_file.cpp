#include "sector_file.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <vector>

#include "cryptnode/engine/error.h"

namespace cryptnode::activation {
namespace {

// Whole-sector requests are ciphered in chunks of this size, each moved to or from the device
// before the next: a chunk stays in the CPU's cache between the cipher and the copy, where a whole
// 1 MiB request would go to memory and back once more (a multiple of every sector size).
constexpr size_t kChunk = 64 << 10;

// The ciphertext of one request: a buffer per thread that grows to the largest request and is
// then reused (FUSE requests are at most 1 MiB). It never holds plaintext after a request.
uint8_t* scratch(size_t n) {
  thread_local std::vector<uint8_t> buf;
  if (buf.size() < n) {
    buf.clear();
    buf.shrink_to_fit();
    buf.resize(n);
  }
  return buf.data();
}

}  // namespace

SectorFile::SectorFile(std::unique_ptr<BlockDevice> device, SegmentLayout layout,
                       std::unique_ptr<Xts> xts, bool read_only)
    : device_(std::move(device)),
      layout_(layout),
      xts_(std::move(xts)),
      passthrough_(!xts_),
      read_only_(read_only) {}

void SectorFile::read_sectors(uint64_t a, uint64_t b, uint8_t* out) {
  device_->read_at(layout_.offset + a, out, b - a);
  xts_->decrypt(a, out, out, b - a);
}

ssize_t SectorFile::read(uint64_t off, uint8_t* out, size_t len) {
  if (off >= layout_.size) return 0;
  len = static_cast<size_t>(std::min<uint64_t>(len, layout_.size - off));
  std::shared_lock<std::shared_mutex> l(mu_);
  if (!device_) return -EIO;
  try {
    const uint64_t ss = layout_.sector;
    const uint64_t a = off / ss * ss, b = (off + len + ss - 1) / ss * ss;
    if (passthrough_ || (a == off && b == off + len)) {
      // Chunk by chunk, deciphered in place in the caller's buffer (passthrough: the same reads).
      for (size_t done = 0; done < len; done += kChunk) {
        const size_t n = std::min(kChunk, len - done);
        device_->read_at(layout_.offset + off + done, out + done, n);
        if (!passthrough_) xts_->decrypt(off + done, out + done, out + done, n);
      }
    } else {
      uint8_t* tmp = scratch(b - a);
      read_sectors(a, b, tmp);
      std::memcpy(out, tmp + (off - a), len);
      wipe(tmp, b - a);
    }
  } catch (const std::exception&) {
    return -EIO;
  }
  return static_cast<ssize_t>(len);
}

ssize_t SectorFile::write(uint64_t off, const uint8_t* in, size_t len) {
  if (read_only_) return -EROFS;
  if (off >= layout_.size) return -ENOSPC;
  len = static_cast<size_t>(std::min<uint64_t>(len, layout_.size - off));
  // Marked once the device writes are done (or failed part way), before the reply: a sync that
  // finds the file clean ran after every write that had been answered was already synced.
  struct MarkDirty {
    std::atomic<bool>& dirty;
    ~MarkDirty() { dirty.store(true); }
  } mark{dirty_};
  try {
    const uint64_t ss = layout_.sector;
    const uint64_t a = off / ss * ss, b = (off + len + ss - 1) / ss * ss;
    if (passthrough_ || (a == off && b == off + len)) {
      // Chunk by chunk, enciphered into a buffer of this thread: the request's buffer stays as it
      // came (passthrough: the same writes, straight from it).
      std::shared_lock<std::shared_mutex> l(mu_);
      if (!device_) return -EIO;
      uint8_t* tmp = passthrough_ ? nullptr : scratch(kChunk);
      for (size_t done = 0; done < len; done += kChunk) {
        const size_t n = std::min(kChunk, len - done);
        const uint8_t* chunk = in + done;
        if (!passthrough_) {
          xts_->encrypt(off + done, chunk, tmp, n);
          chunk = tmp;
        }
        device_->write_at(layout_.offset + off + done, chunk, n);
      }
    } else {
      std::unique_lock<std::shared_mutex> l(mu_);
      if (!device_) return -EIO;
      uint8_t* tmp = scratch(b - a);
      if (off != a) read_sectors(a, a + ss, tmp);
      if (off + len != b && (b - ss != a || off == a)) read_sectors(b - ss, b, tmp + (b - ss - a));
      std::memcpy(tmp + (off - a), in, len);
      xts_->encrypt(a, tmp, tmp, b - a);
      device_->write_at(layout_.offset + a, tmp, b - a);
    }
  } catch (const std::exception&) {
    return -EIO;
  }
  return static_cast<ssize_t>(len);
}

int SectorFile::sync() {
  // One at a time: a sync that finds the file clean returns only once the sync that cleaned it
  // is done. Nothing written through this file since the last sync: nothing to sync (the flushes
  // of XFS' mount and unmount, the close after LOOP_CONFIGURE, the loop detach).
  std::lock_guard<std::mutex> one(sync_mu_);
  if (!dirty_.exchange(false)) return 0;
  std::shared_lock<std::shared_mutex> l(mu_);
  try {
    if (device_) device_->sync();
  } catch (const std::exception&) {
    dirty_.store(true);
    return -EIO;
  }
  return 0;
}

void SectorFile::close() {
  std::lock_guard<std::mutex> one(sync_mu_);
  std::unique_lock<std::shared_mutex> l(mu_);
  if (!device_) return;
  try {
    if (dirty_.exchange(false)) device_->sync();
  } catch (const std::exception&) {
  }
  device_.reset();
  xts_.reset();  // the round keys are wiped with it
}

}  // namespace cryptnode::activation
