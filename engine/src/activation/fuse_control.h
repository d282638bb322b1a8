// What the userspace backend knows about ending a FUSE connection (internal to the activation
// area), shared by the FUSE server's stop and by crash recovery.
#pragma once

#include <string>

#include "cryptnode/engine/env.h"

namespace cryptnode::activation {

// "major:minor" of the filesystem mounted at `dir`, from mountinfo (a stat() of a FUSE mount point
// would itself be a request that nobody may answer any more); "" when nothing is mounted there.
std::string mount_devno(Env& env, const std::string& dir);

// Aborts the FUSE connection of the filesystem with that devno through fusectl
// (/sys/fs/fuse/connections/<minor>/abort): every request in flight and every later one fails
// with ENOTCONN/ENODEV, and server threads blocked reading /dev/fuse return. fusectl (mounted by
// systemd on most hosts) is mounted when it is not, and left mounted: unmounting it could race
// another node's abort (decision). Returns false when the abort could not be written.
bool abort_fuse_connection(Env& env, const std::string& devno);

}  // namespace cryptnode::activation
