// The lockToSTATE salt file encryption-salt.yaml, read from the STATE volume
// (keys::parse_salt_yaml). Property: a salt read is written back as text that reads the same.
#include "cryptnode/engine/keys/encryption_salt.h"
#include "fuzz_support.h"

using namespace cryptnode;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Secret salt;
  try {
    salt = keys::parse_salt_yaml(fuzz::text(data, size));
  } catch (const Error&) {
    return 0;
  }
  const Secret yaml = keys::marshal_salt_yaml(salt);
  fuzz::expect(keys::parse_salt_yaml(yaml.view()) == salt, "salt round trip");
  keys::salt_checksum(salt);
  return 0;
}
