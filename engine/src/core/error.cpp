#include "cryptnode/engine/error.h"

#include <cstring>
#include <string>

namespace cryptnode {

std::string_view code_name(Code code) {
  switch (code) {
    case Code::kInvalidArgument:
      return "invalid_argument";
    case Code::kConfigParse:
      return "config_parse";
    case Code::kConfigInvalid:
      return "config_invalid";
    case Code::kNotFound:
      return "not_found";
    case Code::kAlreadyExists:
      return "already_exists";
    case Code::kCorrupt:
      return "corrupt";
    case Code::kIO:
      return "io";
    case Code::kKeyRejected:
      return "key_rejected";
    case Code::kTokenInvalid:
      return "token_invalid";
    case Code::kNoToken:
      return "no_token";
    case Code::kDeviceNotReady:
      return "device_not_ready";
    case Code::kDeviceBusy:
      return "device_busy";
    case Code::kHeaderValidation:
      return "header_validation";
    case Code::kUnsupported:
      return "unsupported";
    case Code::kUnavailable:
      return "unavailable";
    case Code::kTimeout:
      return "timeout";
    case Code::kFailedPrecondition:
      return "failed_precondition";
    case Code::kLocked:
      return "locked";
    case Code::kInternal:
      return "internal";
  }
  return "internal";
}

Error Error::wrap(std::string_view prefix) const {
  std::string m(prefix);
  m += ": ";
  m += what();
  return Error(code_, std::move(m), retryable_);
}

void throw_errno(std::string_view what, int err) {
  std::string m(what);
  m += ": ";
  m += std::strerror(err);
  throw Error(Code::kIO, std::move(m));
}

}  // namespace cryptnode
