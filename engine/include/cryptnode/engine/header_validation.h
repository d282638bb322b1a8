// Talos' LUKS2 header validation before unlock (v1.12.x, go-blockdevice encryption/luks/header.go;
// docs/talos/luks2.md): both binary headers and JSON areas are read from the device, checked, and
// the one with the higher seqid is validated. Errors are Error(kHeaderValidation) with Talos'
// texts.
#pragma once

#include <string>

#include "cryptnode/engine/env.h"

namespace cryptnode::luks2 {

struct ValidatedHeader {
  uint64_t seqid = 0;
  int selected = 1;  // 1: primary, 2: secondary
  std::string json;  // the selected JSON area (trimmed)
};

// reject_argon2i: Talos 1.12.7–1.12.8 and 1.13.0–1.13.4 rejected argon2i keyslots (written by
// Talos before 1.3); later releases accept them again (go-blockdevice#156).
ValidatedHeader validate_header(BlockDevice& dev, bool reject_argon2i = false);
ValidatedHeader validate_header(const std::string& path, Env& env, bool reject_argon2i = false);

}  // namespace cryptnode::luks2
