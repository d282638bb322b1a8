// A machine-wide cap on concurrent argon2 jobs. Every libcryptsetup call that runs a KDF (format,
// add a keyslot, open, test a passphrase, read the volume key) holds one KdfSlot: with the
// production PBKDF one job takes up to 1 GiB and 4 threads, and nodes booted in parallel (pytest
// -n, the concurrency bench) would otherwise run them all at once.
//
// The slots are files <dir>/argon2.<i>, i < CRYPTNODE_ARGON2_JOBS (default 2), held with flock: a
// slot is free again when its holder closes it or dies, whatever process or thread held it. <dir>
// is CRYPTNODE_KDF_SLOTS_DIR, or /run/cryptnode (root) or /tmp/cryptnode-<uid> (anyone else).
#pragma once

#include <optional>
#include <string>

namespace cryptnode::luks2 {

class KdfSlot {
 public:
  // Blocks until one of the slots is free. Throws Error(kInvalidArgument) naming
  // CRYPTNODE_ARGON2_JOBS when it is not a number in 1..64, and an errno Error naming the slot
  // file when it cannot be created.
  static KdfSlot acquire();
  // A free slot now, or nullopt when all are held.
  static std::optional<KdfSlot> try_acquire();

  KdfSlot(KdfSlot&& o) noexcept : fd_(o.fd_), index_(o.index_) { o.fd_ = -1; }
  KdfSlot& operator=(KdfSlot&&) = delete;
  KdfSlot(const KdfSlot&) = delete;
  ~KdfSlot();

  int index() const { return index_; }

 private:
  KdfSlot(int fd, int index) : fd_(fd), index_(index) {}
  int fd_;
  int index_;
};

int kdf_slot_count();         // CRYPTNODE_ARGON2_JOBS, validated
std::string kdf_slots_dir();  // where the slot files live

}  // namespace cryptnode::luks2
