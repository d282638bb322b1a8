// Filesystems on volumes, as Talos makes them (docs/disk-layout.md): mkfs.xfs with Talos' flags,
// mkfs.ext4, and mounting, through Env.
#pragma once

#include <cstdint>
#include <string>

#include "cryptnode/engine/env.h"

namespace cryptnode::sim {

// mkfs.xfs -n ftype=1 [-L label] [--unsupported when size <= 300 MiB] dev (Talos also passes
// -c options=lts_6.12.conf: see filesystem.cpp). ext4: mkfs.ext4 -q [-L label] dev.
void make_filesystem(Env& env, const std::string& device, const std::string& type,
                     const std::string& label, uint64_t size);
void mount_filesystem(Env& env, const std::string& device, const std::string& type,
                      const std::string& dir);
// Unmounts; a busy mount is detached lazily so teardown never leaves it behind.
void unmount_filesystem(Env& env, const std::string& dir);
bool is_mount_point(Env& env, const std::string& dir);

}  // namespace cryptnode::sim
