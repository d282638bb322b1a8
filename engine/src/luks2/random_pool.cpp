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
// open(2), close(2) and read(2) (its global offset table entries) at the functions below:
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
// CRYPTNODE_LIBCRYPTSETUP_RANDOM=kernel in the environment) nothing is changed and libcryptsetup
// reads /dev/urandom itself, as before: slower, the same bytes' quality.
#include "random_pool.h"

#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdarg>
#include <cstdlib>
#include <cstring>
#include <mutex>

namespace cryptnode::luks2 {
namespace {

constexpr size_t kPoolBytes = 64 << 10;

// The pool and its fill level share one WIPEONFORK mapping: after fork both read zero.
struct Pool {
  size_t left;  // bytes not handed out yet, at the end of `bytes`
  unsigned char bytes[kPoolBytes];
};

using OpenFn = int (*)(const char*, int, ...);
using CloseFn = int (*)(int);
using ReadFn = ssize_t (*)(int, void*, size_t);

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

// The loaded libcryptsetup, found by its file name.
struct Found {
  const dl_phdr_info* info = nullptr;
};

int find_libcryptsetup(dl_phdr_info* info, size_t, void* data) {
  const char* name = info->dlpi_name;
  if (!name) return 0;
  const char* base = std::strrchr(name, '/');
  base = base ? base + 1 : name;
  if (std::strncmp(base, "libcryptsetup.so", 16) != 0) return 0;
  static dl_phdr_info copy;
  copy = *info;
  static_cast<Found*>(data)->info = &copy;
  return 1;
}

// Points the table entry `slot` at `fn`: the entry sits in RELRO (libcryptsetup is linked with
// -z now -z relro), so its page is made writable for the store and read-only again after.
bool redirect(void** slot, void* fn) {
  const long page = ::sysconf(_SC_PAGESIZE);
  auto start = reinterpret_cast<uintptr_t>(slot) & ~static_cast<uintptr_t>(page - 1);
  void* p = reinterpret_cast<void*>(start);
  if (::mprotect(p, static_cast<size_t>(page), PROT_READ | PROT_WRITE) != 0) return false;
  __atomic_store_n(slot, fn, __ATOMIC_RELEASE);
  ::mprotect(p, static_cast<size_t>(page), PROT_READ);
  return true;
}

// The table entries of libcryptsetup that import `open`, `close` and `read`, redirected. Only
// when all three are found is any of them changed.
bool patch(const dl_phdr_info& info) {
  const ElfW(Dyn)* dyn = nullptr;
  for (int i = 0; i < info.dlpi_phnum; ++i)
    if (info.dlpi_phdr[i].p_type == PT_DYNAMIC)
      dyn = reinterpret_cast<const ElfW(Dyn)*>(info.dlpi_addr + info.dlpi_phdr[i].p_vaddr);
  if (!dyn) return false;
  // glibc rewrites these tags to run-time addresses when it loads an object; other loaders may
  // leave them as offsets from the load address.
  auto addr = [&](ElfW(Addr) v) { return v < info.dlpi_addr ? v + info.dlpi_addr : v; };
  const ElfW(Sym)* symtab = nullptr;
  const char* strtab = nullptr;
  const ElfW(Rela)* jmprel = nullptr, *rela = nullptr;
  size_t jmprel_size = 0, rela_size = 0;
  for (const ElfW(Dyn)* d = dyn; d->d_tag != DT_NULL; ++d) {
    switch (d->d_tag) {
      case DT_SYMTAB:
        symtab = reinterpret_cast<const ElfW(Sym)*>(addr(d->d_un.d_ptr));
        break;
      case DT_STRTAB:
        strtab = reinterpret_cast<const char*>(addr(d->d_un.d_ptr));
        break;
      case DT_JMPREL:
        jmprel = reinterpret_cast<const ElfW(Rela)*>(addr(d->d_un.d_ptr));
        break;
      case DT_PLTRELSZ:
        jmprel_size = d->d_un.d_val;
        break;
      case DT_RELA:
        rela = reinterpret_cast<const ElfW(Rela)*>(addr(d->d_un.d_ptr));
        break;
      case DT_RELASZ:
        rela_size = d->d_un.d_val;
        break;
      default:
        break;
    }
  }
  if (!symtab || !strtab) return false;
  struct Target {
    const char* name;
    void* fn;
    void** slot;
  } targets[] = {{"open", reinterpret_cast<void*>(&cn_open), nullptr},
                 {"close", reinterpret_cast<void*>(&cn_close), nullptr},
                 {"read", reinterpret_cast<void*>(&cn_read), nullptr}};
  auto scan = [&](const ElfW(Rela) * r, size_t bytes) {
    for (size_t i = 0; r && i < bytes / sizeof(ElfW(Rela)); ++i) {
      const auto type = ELF64_R_TYPE(r[i].r_info);
      if (type != R_X86_64_JUMP_SLOT && type != R_X86_64_GLOB_DAT) continue;
      const char* name = strtab + symtab[ELF64_R_SYM(r[i].r_info)].st_name;
      for (auto& t : targets)
        if (std::strcmp(name, t.name) == 0)
          t.slot = reinterpret_cast<void**>(info.dlpi_addr + r[i].r_offset);
    }
  };
  scan(jmprel, jmprel_size);
  scan(rela, rela_size);
  for (const auto& t : targets)
    if (!t.slot) return false;
  // read first, then close, then open: until open is redirected no descriptor is remembered, so
  // the other two change nothing.
  return redirect(targets[2].slot, targets[2].fn) && redirect(targets[1].slot, targets[1].fn) &&
         redirect(targets[0].slot, targets[0].fn);
}

}  // namespace

void install_random_pool() {
  static std::once_flag once;
  std::call_once(once, [] {
#if defined(__x86_64__)
    const char* env = std::getenv("CRYPTNODE_LIBCRYPTSETUP_RANDOM");
    if (env && std::strcmp(env, "kernel") == 0) return;
    void* m =
        ::mmap(nullptr, sizeof(Pool), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) return;
    if (::madvise(m, sizeof(Pool), MADV_WIPEONFORK) != 0) {  // no fork safety: no pool
      ::munmap(m, sizeof(Pool));
      return;
    }
    ::madvise(m, sizeof(Pool), MADV_DONTDUMP);
    pool = static_cast<Pool*>(m);
    Found found;
    dl_iterate_phdr(find_libcryptsetup, &found);
    if (found.info && patch(*found.info)) installed.store(true);
#endif
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
