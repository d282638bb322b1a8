// Filesystems on volumes, as Talos makes them (TALOS-DISK.md §2.3): mkfs.xfs with Talos' flags,
// mkfs.ext4, and mounting with mount(2).
#pragma once

#include <cstdint>
#include <string>

namespace cryptnode::sim {

// mkfs.xfs -n ftype=1 [-L label] [--unsupported when size <= 300 MiB] dev (Talos also passes
// -c options=lts_6.12.conf: see filesystem.cpp). ext4: mkfs.ext4 -q [-L label] dev.
void make_filesystem(const std::string& device, const std::string& type, const std::string& label,
                     uint64_t size);
void mount_filesystem(const std::string& device, const std::string& type, const std::string& dir);
// Unmounts; a busy mount is detached lazily so teardown never leaves it behind.
void unmount_filesystem(const std::string& dir);
bool is_mount_point(const std::string& dir);

}  // namespace cryptnode::sim
