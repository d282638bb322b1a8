// The kernel backend: libcryptsetup activation into dm-crypt, as Talos' `cryptsetup luksOpen`.
#include <libcryptsetup.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <mutex>
#include <set>

#include "activation_backends.h"
#include "cryptnode/engine/error.h"

namespace cryptnode::activation {
namespace {

class KernelBackend final : public ActivationBackend {
 public:
  std::string kind() const override { return "kernel"; }

  std::string open(const std::string& device, int keyslot, const Secret& passphrase,
                   const std::string& name, const OpenOptions& o) override {
    crypt_device* cd = nullptr;
    if (int r = crypt_init(&cd, device.c_str()); r < 0) throw_errno(device, -r);
    int r = crypt_load(cd, CRYPT_LUKS2, nullptr);
    uint32_t flags = 0;
    for (const auto& p : o.perf_options) {
      if (p == "no_read_workqueue") flags |= CRYPT_ACTIVATE_NO_READ_WORKQUEUE;
      if (p == "no_write_workqueue") flags |= CRYPT_ACTIVATE_NO_WRITE_WORKQUEUE;
      if (p == "same_cpu_crypt") flags |= CRYPT_ACTIVATE_SAME_CPU_CRYPT;
    }
    if (o.allow_discards) flags |= CRYPT_ACTIVATE_ALLOW_DISCARDS;
    if (o.read_only) flags |= CRYPT_ACTIVATE_READONLY;
    if (r >= 0)
      r = crypt_activate_by_passphrase(cd, name.c_str(), keyslot, passphrase.view().data(),
                                       passphrase.size(), flags);
    crypt_free(cd);
    if (r == -EPERM) throw Error(Code::kKeyRejected, "encryption key rejected");
    if (r == -EBUSY || r == -EEXIST)
      throw Error(Code::kDeviceBusy, "mapped device is still in use");
    if (r < 0) throw_errno("luksOpen " + device + " " + name, -r);
    std::lock_guard<std::mutex> l(mu_);
    names_.insert(name);
    return "/dev/mapper/" + name;
  }

  void close(const std::string& name) override {
    crypt_device* cd = nullptr;
    if (crypt_init_by_name(&cd, name.c_str()) == 0) {
      int r = crypt_deactivate(cd, name.c_str());
      crypt_free(cd);
      if (r == -EBUSY) throw Error(Code::kDeviceBusy, "mapped device is still in use");
    }
    std::lock_guard<std::mutex> l(mu_);
    names_.erase(name);
  }

  bool is_open(const std::string& name) const override {
    return crypt_status(nullptr, name.c_str()) == CRYPT_ACTIVE;
  }
  std::vector<std::string> open_names() const override {
    std::lock_guard<std::mutex> l(mu_);
    return {names_.begin(), names_.end()};
  }

 private:
  mutable std::mutex mu_;
  std::set<std::string> names_;
};

}  // namespace

bool device_mapper_available() {
  if (::access("/dev/mapper/control", F_OK) != 0) return false;
  std::ifstream misc("/proc/misc");
  std::string line;
  while (std::getline(misc, line))
    if (line.find("device-mapper") != std::string::npos) return true;
  return false;
}

std::unique_ptr<ActivationBackend> make_kernel_backend() {
  if (!device_mapper_available())
    throw Error(Code::kUnsupported,
                "the kernel activation backend needs device-mapper, which this host does not have "
                "(no /dev/mapper/control); use the userspace backend");
  return std::make_unique<KernelBackend>();
}

std::unique_ptr<ActivationBackend> make_activation_backend(const std::string& kind,
                                                           const std::string& runtime_dir,
                                                           Env& env) {
  if (kind == "kernel") return make_kernel_backend();
  if (kind == "userspace") return make_userspace_backend(runtime_dir, env);
  if (kind == "auto")
    return device_mapper_available() ? make_kernel_backend()
                                     : make_userspace_backend(runtime_dir, env);
  throw Error(Code::kInvalidArgument,
              "activation backend \"" + kind + "\" is not one of auto, kernel, userspace");
}

}  // namespace cryptnode::activation
