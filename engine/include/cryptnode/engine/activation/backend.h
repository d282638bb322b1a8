// Activation backends (DESIGN.md §2): how an opened LUKS2 volume's plaintext becomes a block
// device. `kernel`: libcryptsetup activation into dm-crypt (/dev/mapper/luks2-<volumeID>), as
// Talos does. `userspace`: where there is no device-mapper, one FUSE mount per node serves a file
// per open volume with the decrypted data segment (OpenSSL AES-XTS, plain64 IV), and a loop device
// over that file stands in for the mapper device. `auto` picks kernel where device-mapper exists.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "cryptnode/engine/env.h"
#include "cryptnode/engine/secret.h"

namespace cryptnode::activation {

struct OpenOptions {
  std::vector<std::string> perf_options;  // no_read_workqueue, no_write_workqueue, same_cpu_crypt
  bool allow_discards = false;
  bool read_only = false;
  // Benchmarks only: serve the segment without decryption (the same FUSE + loop path).
  bool passthrough = false;
};

class ActivationBackend {
 public:
  virtual ~ActivationBackend() = default;
  virtual std::string kind() const = 0;  // "kernel" | "userspace"
  // luksOpen <device> <name> --key-slot=<keyslot>: returns the block device standing in for
  // /dev/mapper/<name>. Throws Error(kKeyRejected) for a wrong passphrase, kDeviceBusy when <name>
  // is already open.
  virtual std::string open(const std::string& device, int keyslot, const Secret& passphrase,
                           const std::string& name, const OpenOptions& options) = 0;
  // luksClose: the caller unmounted first. Closing an unknown name is not an error.
  virtual void close(const std::string& name) = 0;
  virtual bool is_open(const std::string& name) const = 0;
  virtual std::vector<std::string> open_names() const = 0;
};

bool device_mapper_available();

// After a crash of the process that owned a userspace backend: unmounts what is left under
// runtime_dir, aborts the orphaned FUSE connection of <runtime_dir>/mapper and detaches the loop
// devices that were standing on it. Safe to call when nothing is left.
void recover_userspace_backend(const std::string& runtime_dir, Env& env);

// kind: auto | kernel | userspace. runtime_dir: a directory of the node's own (the userspace
// backend mounts its FUSE filesystem at <runtime_dir>/mapper).
std::unique_ptr<ActivationBackend> make_activation_backend(const std::string& kind,
                                                           const std::string& runtime_dir,
                                                           Env& env);

}  // namespace cryptnode::activation
