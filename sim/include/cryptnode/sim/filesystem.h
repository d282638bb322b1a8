// Filesystems on volumes, as Talos makes them (TALOS-DISK.md §2.3): mkfs.xfs with Talos' flags,
// mkfs.ext4, and mounting with mount(2).
#pragma once

#include <cstdint>
#include <string>

namespace cryptnode::sim {

// mkfs.xfs -n ftype=1 -c options=<lts conf> [-L label] [--unsupported when size <= 300 MiB] dev
// (Talos 1.12 uses lts_6.12.conf; Debian 12's xfsprogs ships up to lts_6.1.conf, the newest
// available is used: decision.) ext4: mkfs.ext4 -q [-L label] dev.
void make_filesystem(const std::string& device, const std::string& type, const std::string& label,
                     uint64_t size);
void mount_filesystem(const std::string& device, const std::string& type, const std::string& dir);
// Unmounts; a busy mount is detached lazily so teardown never leaves it behind.
void unmount_filesystem(const std::string& dir);
bool is_mount_point(const std::string& dir);

}  // namespace cryptnode::sim
