// Machine configuration YAML (what `apply-config`, the platform and the cmdline hand a node):
// config::MachineConfig::parse + validate + encryption_for + lint, and config::check (what
// `cryptnode config validate` prints), for the Talos version the input selects.
//
// Input: YAML text. A leading byte 0x01 followed by one byte N selects known_versions()[N % n]
// instead of the default version.
#include "cryptnode/engine/config.h"
#include "cryptnode/engine/versions.h"
#include "fuzz_support.h"

using namespace cryptnode;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  versions::Version version = versions::default_version();
  if (size >= 2 && data[0] == 0x01) {
    const auto& known = versions::known_versions();
    version = known[data[1] % known.size()];
    data += 2;
    size -= 2;
  }
  const std::string_view yaml = fuzz::text(data, size);
  try {
    config::MachineConfig mc = config::MachineConfig::parse(yaml, version);
    mc.validate();
    for (const std::string& id : mc.user_volume_ids()) mc.encryption_for(id);
    for (const char* id : {"STATE", "EPHEMERAL"})
      if (auto spec = mc.encryption_for(id)) {
        spec->validate();
        spec->effective_cipher();
        for (const auto& k : spec->keys)
          if (k.tpm) k.tpm->pcrs();
      }
    config::lint(mc);
  } catch (const Error&) {
  }
  try {
    config::Report r = config::check(yaml, version);
    config::format_multierror(r.errors);
  } catch (const Error&) {
  }
  return 0;
}
