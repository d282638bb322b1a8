// Activation backends (docs/design.md, "Activation backends"): how an opened LUKS2 volume's
// plaintext becomes a block device. `kernel`: luksOpen into dm-crypt (/dev/mapper/luks2-<volumeID>)
// through luks2::Device, as Talos does. `userspace`: where there is no device-mapper, one FUSE
// mount per node serves a file per open volume with the decrypted data segment (AES-XTS, plain64
// IV, xts.h), and a loop device over that file stands in for the mapper device. `auto` picks
// kernel where device-mapper exists. Which cipher each one serves: luks2::kCiphers.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "cryptnode/engine/activation/xts.h"
#include "cryptnode/engine/env.h"
#include "cryptnode/engine/luks2.h"
#include "cryptnode/engine/secret.h"

namespace cryptnode::activation {

struct OpenOptions {
  // luks2::kPerfOptions names (no_read_workqueue, no_write_workqueue, same_cpu_crypt): dm-crypt
  // flags for the kernel backend, validated and otherwise without effect in userspace.
  std::vector<std::string> perf_options;
  bool allow_discards = false;
  bool read_only = false;
  // Benchmarks only: serve the segment without decryption (the same FUSE + loop path).
  bool passthrough = false;
  // Userspace backend: the XTS implementation (tests and benchmarks compare them).
  XtsImpl xts = XtsImpl::kAuto;
};

class ActivationBackend {
 public:
  virtual ~ActivationBackend() = default;
  virtual std::string kind() const = 0;  // "kernel" | "userspace"
  // luksOpen <device> <name> --key-slot=<keyslot>: returns the block device standing in for
  // /dev/mapper/<name>. Throws Error(kKeyRejected) for a wrong passphrase, kDeviceBusy when <name>
  // is already open, kUnsupported ("<name>: ...") for a volume this backend cannot serve (the
  // userspace backend: another cipher than aes-xts-plain64, a sector size other than
  // 512/1024/2048/4096), kCorrupt ("<name>: ...") when the data segment lies beyond the device.
  // A failed open leaves nothing mounted or attached.
  virtual std::string open(const std::string& device, int keyslot, const Secret& passphrase,
                           const std::string& name, const OpenOptions& options) = 0;
  // luksClose: the caller unmounted first (kDeviceBusy, "mapped device is still in use", while
  // the device is mounted). Closing an unknown name is not an error.
  virtual void close(const std::string& name) = 0;
  virtual bool is_open(const std::string& name) const = 0;
  // The block device of the open mapping <name> (what open() returned); Error(kNotFound) when
  // <name> is not open.
  virtual std::string path(const std::string& name) const = 0;
  virtual std::vector<std::string> open_names() const = 0;
};

// /dev/mapper/control exists and /proc/misc lists device-mapper.
bool device_mapper_available(Env& env);

// After a crash of the process that owned a userspace backend: unmounts what is left under
// runtime_dir, aborts the orphaned FUSE connection of <runtime_dir>/mapper and detaches the loop
// devices that were standing on it. Safe to call when nothing is left.
void recover_userspace_backend(const std::string& runtime_dir, Env& env);

// kind: auto | kernel | userspace. runtime_dir: a directory of the node's own (the userspace
// backend mounts its FUSE filesystem at <runtime_dir>/mapper). log: libcryptsetup's messages
// while volumes are opened and closed (luks2::LogSink; empty: dropped).
std::unique_ptr<ActivationBackend> make_activation_backend(const std::string& kind,
                                                           const std::string& runtime_dir, Env& env,
                                                           luks2::LogSink log = {});

}  // namespace cryptnode::activation
