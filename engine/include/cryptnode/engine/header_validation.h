// Talos' LUKS2 header validation before unlock (v1.12.x, go-blockdevice encryption/luks/header.go;
// TALOS-SPEC.md §5): both binary headers and JSON areas are read from the device, checked, and the
// one with the higher seqid is validated. Errors are Error(kHeaderValidation) with Talos' texts.
#pragma once

#include <string>

#include "cryptnode/engine/env.h"

namespace cryptnode::luks2 {

struct ValidatedHeader {
  uint64_t seqid = 0;
  int selected = 1;  // 1: primary, 2: secondary
  std::string json;  // the selected JSON area (trimmed)
};

ValidatedHeader validate_header(BlockDevice& dev);
ValidatedHeader validate_header(const std::string& path, Env& env);

}  // namespace cryptnode::luks2
