// libcryptsetup's /dev/urandom reads served in batches from getrandom(2) (random_pool.cpp says
// how and why; docs/performance.md, "Random bytes for libcryptsetup").
#pragma once

namespace cryptnode::luks2 {

// Redirects libcryptsetup's open/close/read imports once (idempotent, thread-safe). Called before
// the engine's first crypt_init; a no-op where the redirection cannot be made or
// CRYPTNODE_LIBCRYPTSETUP_AS_IS=1.
void install_random_pool();

// Whether the redirection is in effect in this process.
bool random_pool_installed();

// How many of libcryptsetup's urandom reads the pool has served in this process.
unsigned long random_pool_reads();

// Bytes from the pool, as a read of libcryptsetup's urandom descriptor gets them (for tests: the
// pool is process-private after fork). False where the pool is not installed or getrandom failed.
bool random_pool_draw(void* out, unsigned long n);

}  // namespace cryptnode::luks2
