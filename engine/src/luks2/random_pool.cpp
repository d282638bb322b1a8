// libcryptsetup's random bytes in batches instead of one read(2) per 64 bytes.
//
// libcryptsetup 2.6 (Debian 12) draws its CRYPT_RND_NORMAL and CRYPT_RND_SALT bytes by read(2) on a
// /dev/urandom descriptor it opens once (lib/random.c: crypt_random_init, _get_urandom). Its
// anti-forensic split (lib/luks1/af.c: AF_split) asks for one stripe at a time: 3999 reads of
// 64 bytes (an aes-xts-plain64 512-bit key) for every keyslot it writes. A system call costs about
// 1.2 µs on this machine kind (a VM with a paravirtualised MMU), a 64-byte urandom read about
// 2 µs: 8.5 ms per keyslot, a third of the engine's FormatAndEncrypt and syncKeys time
// (docs/performance.md, "Random bytes for libcryptsetup"). The library has no hook for its RNG.
//
// So, once, before the engine's first crypt_init, this file points libcryptsetup's own imports of
// open(2), close(2) and read(2) (its global offset table entries, import_table.h) at the
// functions below:
// - open remembers the descriptor libcryptsetup opens on /dev/urandom; close forgets it;
// - read of that descriptor is served from a pool filled by getrandom(2), the same kernel CRNG
//   /dev/urandom reads from, 64 KiB at a time; every byte handed out is wiped from the pool;
//   requests of the pool's size or more go to getrandom directly;
// - every other call goes to libc unchanged.
// Nothing else in the process is affected (only libcryptsetup's table entries change), and what
// libcryptsetup computes and writes is what it always does: the bytes come from the same generator.
// The pool lives in a mapping with MADV_WIPEONFORK (a forked child finds it empty and refills it
// from its own getrandom calls: no two processes hand out the same bytes) and MADV_DONTDUMP.
// Where anything is missing (another libcryptsetup, a table entry not found, mprotect refused,
// CRYPTNODE_LIBCRYPTSETUP_AS_IS=1 in the environment) nothing is changed and libcryptsetup reads
// /dev/urandom itself, as before: slower, the same bytes' quality.
#include "random_pool.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdarg>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "import_table.h"

namespace cryptnode::luks2 {
namespace {

constexpr size_t kPoolBytes = 64 << 10;

// The pool and its fill level share one WIPEONFORK mapping: after fork both read zero.
struct Pool {
  size_t left;  // bytes not handed out yet, at the end of `bytes`
  unsigned char bytes[kPoolBytes];
};

std::atomic<int> urandom_fd{-1};
std::atomic<unsigned long> pooled_reads{0};
std::atomic<bool> installed{false};
std::mutex pool_mu;
Pool* pool = nullptr;

bool fill(void* out, size_t n) {
  auto* p = static_cast<unsigned char*>(out);
  while (n) {
    ssize_t r = ::getrandom(p, n, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    p += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

ssize_t pooled_read(void* buf, size_t n) {
  if (n >= kPoolBytes) return fill(buf, n) ? static_cast<ssize_t>(n) : -1;
  std::lock_guard<std::mutex> l(pool_mu);
  if (pool->left < n) {
    if (!fill(pool->bytes, kPoolBytes)) return -1;
    pool->left = kPoolBytes;
  }
  unsigned char* from = pool->bytes + (kPoolBytes - pool->left);
  std::memcpy(buf, from, n);
  explicit_bzero(from, n);
  pool->left -= n;
  pooled_reads.fetch_add(1, std::memory_order_relaxed);
  return static_cast<ssize_t>(n);
}

int cn_open(const char* path, int flags, ...) {
  mode_t mode = 0;
  if ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE) {
    va_list a;
    va_start(a, flags);
    mode = static_cast<mode_t>(va_arg(a, int));
    va_end(a);
  }
  int fd = ::open(path, flags, mode);
  if (fd >= 0 && path && std::strcmp(path, "/dev/urandom") == 0 && (flags & O_ACCMODE) == O_RDONLY)
    urandom_fd.store(fd, std::memory_order_release);
  return fd;
}

int cn_close(int fd) {
  int expected = fd;
  urandom_fd.compare_exchange_strong(expected, -1, std::memory_order_acq_rel);
  return ::close(fd);
}

ssize_t cn_read(int fd, void* buf, size_t n) {
  if (fd >= 0 && fd == urandom_fd.load(std::memory_order_acquire)) {
    ssize_t r = pooled_read(buf, n);
    if (r >= 0) return r;
  }
  return ::read(fd, buf, n);
}

}  // namespace

void install_random_pool() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (libcryptsetup_as_is()) return;
    void* m =
        ::mmap(nullptr, sizeof(Pool), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) return;
    if (::madvise(m, sizeof(Pool), MADV_WIPEONFORK) != 0) {  // no fork safety: no pool
      ::munmap(m, sizeof(Pool));
      return;
    }
    ::madvise(m, sizeof(Pool), MADV_DONTDUMP);
    pool = static_cast<Pool*>(m);
    // read first, then close, then open: until open is redirected no descriptor is remembered,
    // so the other two change nothing.
    installed = redirect_imports("libcryptsetup.so", {{"read", reinterpret_cast<void*>(&cn_read)},
                                                      {"close", reinterpret_cast<void*>(&cn_close)},
                                                      {"open", reinterpret_cast<void*>(&cn_open)}});
  });
}

bool random_pool_installed() {
  return installed.load();
}

unsigned long random_pool_reads() {
  return pooled_reads.load(std::memory_order_relaxed);
}

bool random_pool_draw(void* out, unsigned long n) {
  return installed.load() && pooled_read(out, n) == static_cast<ssize_t>(n);
}

}  // namespace cryptnode::luks2
