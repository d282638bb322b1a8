#include "import_table.h"

#include <elf.h>
#include <link.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace cryptnode::luks2 {
namespace {

struct Search {
  const char* library;
  bool found = false;
  dl_phdr_info info{};
};

int find_object(dl_phdr_info* info, size_t, void* data) {
  auto* s = static_cast<Search*>(data);
  const char* name = info->dlpi_name;
  if (!name) return 0;
  const char* base = std::strrchr(name, '/');
  base = base ? base + 1 : name;
  if (std::strncmp(base, s->library, std::strlen(s->library)) != 0) return 0;
  s->info = *info;
  s->found = true;
  return 1;
}

// Points the table entry `slot` at `fn`. The entry sits in RELRO (libcryptsetup is linked with
// -z now -z relro), so its page is made writable for the store and read-only again after.
bool store(void** slot, void* fn) {
  const long page = ::sysconf(_SC_PAGESIZE);
  auto start = reinterpret_cast<uintptr_t>(slot) & ~static_cast<uintptr_t>(page - 1);
  void* p = reinterpret_cast<void*>(start);
  if (::mprotect(p, static_cast<size_t>(page), PROT_READ | PROT_WRITE) != 0) return false;
  __atomic_store_n(slot, fn, __ATOMIC_RELEASE);
  ::mprotect(p, static_cast<size_t>(page), PROT_READ);
  return true;
}

}  // namespace

bool libcryptsetup_as_is() {
  const char* v = std::getenv("CRYPTNODE_LIBCRYPTSETUP_AS_IS");
  return v && *v && std::strcmp(v, "0") != 0;
}

bool redirect_imports(const char* library, std::initializer_list<ImportRedirect> redirects) {
#if defined(__x86_64__)
  Search s{library};
  dl_iterate_phdr(find_object, &s);
  if (!s.found) return false;
  const dl_phdr_info& info = s.info;
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
    if (d->d_tag == DT_SYMTAB) symtab = reinterpret_cast<const ElfW(Sym)*>(addr(d->d_un.d_ptr));
    if (d->d_tag == DT_STRTAB) strtab = reinterpret_cast<const char*>(addr(d->d_un.d_ptr));
    if (d->d_tag == DT_JMPREL) jmprel = reinterpret_cast<const ElfW(Rela)*>(addr(d->d_un.d_ptr));
    if (d->d_tag == DT_PLTRELSZ) jmprel_size = d->d_un.d_val;
    if (d->d_tag == DT_RELA) rela = reinterpret_cast<const ElfW(Rela)*>(addr(d->d_un.d_ptr));
    if (d->d_tag == DT_RELASZ) rela_size = d->d_un.d_val;
  }
  if (!symtab || !strtab) return false;
  std::vector<void**> slots(redirects.size(), nullptr);
  auto scan = [&](const ElfW(Rela) * r, size_t bytes) {
    for (size_t i = 0; r && i < bytes / sizeof(ElfW(Rela)); ++i) {
      const auto type = ELF64_R_TYPE(r[i].r_info);
      if (type != R_X86_64_JUMP_SLOT && type != R_X86_64_GLOB_DAT) continue;
      const char* name = strtab + symtab[ELF64_R_SYM(r[i].r_info)].st_name;
      size_t k = 0;
      for (const auto& want : redirects) {
        if (std::strcmp(name, want.symbol) == 0)
          slots[k] = reinterpret_cast<void**>(info.dlpi_addr + r[i].r_offset);
        ++k;
      }
    }
  };
  scan(jmprel, jmprel_size);
  scan(rela, rela_size);
  for (void** slot : slots)
    if (!slot) return false;
  size_t k = 0;
  for (const auto& want : redirects)
    if (!store(slots[k++], want.replacement)) return false;
  return true;
#else
  (void)library;
  (void)redirects;
  return false;
#endif
}

}  // namespace cryptnode::luks2
