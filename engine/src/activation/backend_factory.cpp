// Picking a backend: auto | kernel | userspace.
#include "activation_backends.h"
#include "cryptnode/engine/error.h"

namespace cryptnode::activation {

bool device_mapper_available(Env& env) {
  if (!env.exists("/dev/mapper/control")) return false;
  const std::optional<std::string> misc = env.read_file("/proc/misc");
  return misc && misc->find("device-mapper") != std::string::npos;
}

std::unique_ptr<ActivationBackend> make_activation_backend(const std::string& kind,
                                                           const std::string& runtime_dir, Env& env,
                                                           luks2::LogSink log) {
  if (kind == "kernel") return make_kernel_backend(env, std::move(log));
  if (kind == "userspace") return make_userspace_backend(runtime_dir, env, std::move(log));
  if (kind == "auto")
    return device_mapper_available(env) ? make_kernel_backend(env, std::move(log))
                                        : make_userspace_backend(runtime_dir, env, std::move(log));
  throw Error(Code::kInvalidArgument,
              "activation backend \"" + kind + "\" is not one of auto, kernel, userspace");
}

}  // namespace cryptnode::activation
