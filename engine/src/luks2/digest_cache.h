// libcryptsetup's message digests fetched once per name (digest_cache.cpp says how and why;
// docs/performance.md, "Digests for libcryptsetup").
#pragma once

namespace cryptnode::luks2 {

// Redirects libcryptsetup's EVP_MD_fetch import once (idempotent, thread-safe). A no-op where the
// redirection cannot be made or CRYPTNODE_LIBCRYPTSETUP_AS_IS=1.
void install_digest_cache();

// Whether the redirection is in effect in this process.
bool digest_cache_installed();

// How many of libcryptsetup's fetches were answered from the cache in this process.
unsigned long digest_cache_hits();

}  // namespace cryptnode::luks2
