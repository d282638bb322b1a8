// Redirects a loaded library's imports — the entries of its global offset table — to functions of
// ours, leaving every other object of the process bound as before. Used for libcryptsetup only
// (random_pool.h, digest_cache.h): its calls that cost most on this machine kind go through
// cheaper equivalents, and nothing else in the process changes.
#pragma once

#include <initializer_list>

namespace cryptnode::luks2 {

struct ImportRedirect {
  const char* symbol;  // the imported function, as the library names it (e.g. "read")
  void* replacement;   // a function with the same signature
};

// Redirects each listed import of the loaded object whose file name begins with `library`
// ("libcryptsetup.so"), in the order given. Nothing is changed unless the object is loaded and
// every import is found; true when all were redirected. x86-64 only (false elsewhere).
bool redirect_imports(const char* library, std::initializer_list<ImportRedirect> redirects);

// Whether CRYPTNODE_LIBCRYPTSETUP_AS_IS=1 asks for libcryptsetup exactly as shipped: no redirect.
bool libcryptsetup_as_is();

}  // namespace cryptnode::luks2
