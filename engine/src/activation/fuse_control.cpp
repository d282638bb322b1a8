#include "fuse_control.h"

#include <fcntl.h>
#include <unistd.h>

#include "cryptnode/engine/error.h"

namespace cryptnode::activation {

std::string mount_devno(Env& env, const std::string& dir) {
  std::string found;
  for (const auto& m : env.mounts())
    if (m.target == dir) found = m.devno;
  return found;
}

bool abort_fuse_connection(Env& env, const std::string& devno) {
  if (devno.empty()) return false;
  const std::string conn = devno.substr(devno.find(':') + 1);
  const std::string ctl = "/sys/fs/fuse/connections";
  if (!env.exists(ctl + "/" + conn)) {
    try {
      env.mount("fusectl", ctl, "fusectl", 0, "");
    } catch (const Error&) {
      return false;  // the caller falls back to waking its threads
    }
  }
  // The one write outside Env: Env has no call for writing a control file in place (its writes
  // are atomic renames, and fusectl's abort is not seekable, so BlockDevice::write_at fails).
  int fd = ::open((ctl + "/" + conn + "/abort").c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  bool ok = ::write(fd, "1", 1) == 1;
  ::close(fd);
  return ok;
}

}  // namespace cryptnode::activation
