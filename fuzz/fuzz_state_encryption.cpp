// META tag 0x09: the STATE encryption config JSON (modern shape, legacy v1alpha1 fallback),
// read before any machine config is available (meta::unmarshal_state_encryption).
//
// Input: the tag's value. Property: what was read marshals to JSON that reads back to the same
// marshalled bytes (Talos rewrites the tag from what it read).
#include "cryptnode/engine/state_encryption_meta.h"
#include "fuzz_support.h"

using namespace cryptnode;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view json = fuzz::text(data, size);
  meta::go_json_string(json);
  std::optional<config::EncryptionSpec> spec;
  try {
    spec = meta::unmarshal_state_encryption(json);
  } catch (const Error&) {
    return 0;
  }
  const std::string once = meta::marshal_state_encryption(spec);
  std::optional<config::EncryptionSpec> again;
  try {
    again = meta::unmarshal_state_encryption(once);
  } catch (const Error& e) {
    std::fprintf(stderr, "re-read failed: %s\n%s\n", e.what(), once.c_str());
    fuzz::expect(false, "marshalled tag 0x09 reads back");
  }
  fuzz::expect(meta::marshal_state_encryption(again) == once, "tag 0x09 round trip is stable");
  if (spec) {
    spec->validate();
    spec->enabled();
  }
  return 0;
}
