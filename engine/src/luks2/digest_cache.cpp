// libcryptsetup's message digests fetched once per (library context, name).
//
// libcryptsetup 2.6 built against OpenSSL 3 fetches the digest anew for every hash it computes
// (lib/crypto_backend/crypto_openssl.c: crypt_hash_init → EVP_MD_fetch, crypt_hash_destroy →
// EVP_MD_free), and its anti-forensic split and merge hash every 32-byte block of every stripe
// (lib/luks1/af.c: diffuse → hash_buf): 8000 fetches per keyslot written, opened or tested. A fetch
// takes OpenSSL's method-store lock and searches its cache by name: about a fifth of a keyslot
// sync's time with the cheap PBKDF (docs/performance.md, "Digests for libcryptsetup").
//
// So libcryptsetup's import of EVP_MD_fetch (import_table.h) is pointed at cn_md_fetch: a fetch
// with no property query is answered, after the first, with the EVP_MD fetched then for the same
// library context and name, its reference count raised as a fetch raises it (libcryptsetup's
// EVP_MD_free lowers it again; this cache keeps one reference, so the object stays alive). An
// EVP_MD is immutable once fetched and OpenSSL shares it between threads; the hashes computed
// are the same. Property queries, and names beyond the table's 16 entries, go to OpenSSL as
// before. The entries live until the process exits (libcryptsetup keeps its library context as
// long).
#include "digest_cache.h"

#include <openssl/evp.h>

#include <atomic>
#include <cstring>
#include <mutex>
#include <string>

#include "import_table.h"

namespace cryptnode::luks2 {
namespace {

struct Entry {
  OSSL_LIB_CTX* ctx = nullptr;
  std::string name;
  EVP_MD* md = nullptr;
};

constexpr size_t kEntries = 16;
std::mutex mu;
Entry entries[kEntries];
size_t used = 0;
std::atomic<unsigned long> hits{0};
std::atomic<bool> installed{false};

EVP_MD* cn_md_fetch(OSSL_LIB_CTX* ctx, const char* name, const char* props) {
  if (props || !name) return EVP_MD_fetch(ctx, name, props);
  {
    std::lock_guard<std::mutex> l(mu);
    for (size_t i = 0; i < used; ++i)
      if (entries[i].ctx == ctx && entries[i].name == name && EVP_MD_up_ref(entries[i].md)) {
        hits.fetch_add(1, std::memory_order_relaxed);
        return entries[i].md;
      }
  }
  EVP_MD* md = EVP_MD_fetch(ctx, name, nullptr);
  if (!md) return nullptr;
  std::lock_guard<std::mutex> l(mu);
  if (used < kEntries && EVP_MD_up_ref(md)) entries[used++] = Entry{ctx, name, md};
  return md;
}

}  // namespace

void install_digest_cache() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (libcryptsetup_as_is()) return;
    installed = redirect_imports("libcryptsetup.so",
                                 {{"EVP_MD_fetch", reinterpret_cast<void*>(&cn_md_fetch)}});
  });
}

bool digest_cache_installed() {
  return installed.load();
}

unsigned long digest_cache_hits() {
  return hits.load(std::memory_order_relaxed);
}

}  // namespace cryptnode::luks2
