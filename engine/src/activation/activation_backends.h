// Factories of the two backends (internal to the activation area).
#pragma once

#include <memory>
#include <string>

#include "cryptnode/engine/activation/backend.h"

namespace cryptnode::activation {
std::unique_ptr<ActivationBackend> make_kernel_backend(Env& env, luks2::LogSink log);
std::unique_ptr<ActivationBackend> make_userspace_backend(const std::string& runtime_dir, Env& env,
                                                          luks2::LogSink log);
}  // namespace cryptnode::activation
