// META partition I/O: both ADV copies with fallback, and the legacy syslinux area
// (docs/disk-layout.md#where-meta-is, docs/disk-layout.md#the-talos-adv NewADV/Reload/Flush).
#include <string>

#include "cryptnode/engine/error.h"
#include "cryptnode/engine/meta.h"

namespace cryptnode::meta {
namespace {

Meta read_copies(BlockDevice& dev, bool strict) {
  if (dev.size() < kADVSize + kLegacyADVSize)
    throw Error(Code::kCorrupt, "META: partition " + dev.path() + " is too small (" +
                                    std::to_string(dev.size()) + " bytes)");
  Meta m;
  std::string buf(kADVLength, '\0');
  for (int copy = 1; copy <= 2 && m.copy_used == 0; ++copy) {
    dev.read_at((copy - 1) * kADVLength, buf.data(), buf.size());
    try {
      m.adv = ADV::unmarshal(buf);
      m.copy_used = copy;
    } catch (const Error& e) {
      m.problems.push_back("copy " + std::to_string(copy) + ": " + e.what());
    }
  }
  if (m.copy_used == 0 && strict)
    throw Error(Code::kCorrupt,
                "META: both ADV copies are damaged: " + m.problems[0] + "; " + m.problems[1]);
  m.legacy.assign(kLegacyADVSize, '\0');
  dev.read_at(dev.size() - kLegacyADVSize, m.legacy.data(), kLegacyADVSize);
  return m;
}

}  // namespace

Meta Meta::read(BlockDevice& dev) {
  return read_copies(dev, true);
}
Meta Meta::load(BlockDevice& dev) {
  Meta m = read_copies(dev, false);
  if (m.copy_used == 0) m.adv = ADV();
  return m;
}

void Meta::write(BlockDevice& dev, Env& env) const {
  if (dev.size() < kADVSize + kLegacyADVSize)
    throw Error(Code::kCorrupt, "META: partition " + dev.path() + " is too small");
  const std::string copy = adv.marshal();
  const size_t half = copy.size() / 2;
  dev.write_at(0, copy.data(), half);
  env.fault_point("meta.mid_copy");
  dev.write_at(half, copy.data() + half, copy.size() - half);
  env.fault_point("meta.between_copies");
  dev.write_at(kADVLength, copy.data(), copy.size());
  if (legacy.size() == kLegacyADVSize)
    dev.write_at(dev.size() - kLegacyADVSize, legacy.data(), legacy.size());
  dev.sync();
}

}  // namespace cryptnode::meta
