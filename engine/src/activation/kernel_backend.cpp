// The kernel backend: luksOpen into dm-crypt through luks2::Device, as Talos does
// (go-blockdevice `encryption/luks/luks.go` Open/Close).
#include <mutex>
#include <set>

#include "activation_backends.h"
#include "cryptnode/engine/error.h"
#include "cryptnode/engine/luks2.h"

namespace cryptnode::activation {
namespace {

class KernelBackend final : public ActivationBackend {
 public:
  explicit KernelBackend(luks2::LogSink log) : log_(std::move(log)) {}

  std::string kind() const override { return "kernel"; }

  std::string open(const std::string& device, int keyslot, const Secret& passphrase,
                   const std::string& name, const OpenOptions& o) override {
    luks2::ActivateOptions a;
    a.perf_options = o.perf_options;
    a.allow_discards = o.allow_discards;
    a.read_only = o.read_only;
    luks2::Device::load(device, log_).activate(name, keyslot, passphrase, a);
    std::lock_guard<std::mutex> l(mu_);
    names_.insert(name);
    return "/dev/mapper/" + name;
  }

  void close(const std::string& name) override {
    luks2::Device::deactivate(name, log_);
    std::lock_guard<std::mutex> l(mu_);
    names_.erase(name);
  }

  bool is_open(const std::string& name) const override { return luks2::Device::active(name); }

  std::string path(const std::string& name) const override {
    if (!is_open(name)) throw Error(Code::kNotFound, name + ": not an open mapping");
    return "/dev/mapper/" + name;
  }

  std::vector<std::string> open_names() const override {
    std::lock_guard<std::mutex> l(mu_);
    return {names_.begin(), names_.end()};
  }

 private:
  luks2::LogSink log_;
  mutable std::mutex mu_;
  std::set<std::string> names_;
};

}  // namespace

std::unique_ptr<ActivationBackend> make_kernel_backend(Env& env, luks2::LogSink log) {
  if (!device_mapper_available(env))
    throw Error(Code::kUnsupported,
                "the kernel activation backend needs device-mapper, which this host does not have "
                "(no /dev/mapper/control); use the userspace backend");
  return std::make_unique<KernelBackend>(std::move(log));
}

}  // namespace cryptnode::activation
