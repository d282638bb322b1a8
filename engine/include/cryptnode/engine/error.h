// The one error type of cryptnode: a closed set of codes plus a message. Messages carry Talos'
// exact texts where Talos has one (docs/talos/README.md), and never a secret.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

namespace cryptnode {

enum class Code {
  kInvalidArgument,     // caller passed something malformed (bad option, bad path, bad slot)
  kConfigParse,         // a config document could not be parsed (YAML, unknown field, wrong type)
  kConfigInvalid,       // parsed, but Talos' validation rejected it
  kNotFound,            // a thing that must exist does not (file, tag, keyslot, token, volume)
  kAlreadyExists,       // a thing that must not exist does (node directory, O_EXCL file)
  kCorrupt,             // on-disk data is damaged (META checksums, LUKS2 header, salt file)
  kIO,                  // an OS call failed (errno in the message)
  kKeyRejected,         // "encryption key rejected"
  kTokenInvalid,        // "invalid token"
  kNoToken,             // "no token with supplied id exists"
  kDeviceNotReady,      // "device is not ready"
  kDeviceBusy,          // "mapped device is still in use"
  kHeaderValidation,    // "LUKS2 header validation error: ..."
  kUnsupported,         // the host cannot do it (no device-mapper, ...)
  kUnavailable,         // a service is unreachable (KMS down, TPM absent)
  kTimeout,             // a deadline passed
  kFailedPrecondition,  // the operation is not allowed in the current state
  kLocked,              // another process holds the resource (node directory lock)
  kInternal,            // a bug in cryptnode
};

// Returns the stable lower-case name of a code ("key_rejected"), used by Python and the CLI.
std::string_view code_name(Code code);

class Error : public std::runtime_error {
 public:
  Error(Code code, std::string message, bool retryable = false)
      : std::runtime_error(std::move(message)), code_(code), retryable_(retryable) {}

  Code code() const noexcept { return code_; }
  // Talos tags some errors Retryable: the volume manager retries them on its 30 s ticker.
  bool retryable() const noexcept { return retryable_; }

  // The same error with "<prefix>: " in front of the message (Go's fmt.Errorf("%s: %w")).
  Error wrap(std::string_view prefix) const;

 private:
  Code code_;
  bool retryable_;
};

// Throws Error(kIO, "<what>: <strerror(errno)>").
[[noreturn]] void throw_errno(std::string_view what, int err);

}  // namespace cryptnode
