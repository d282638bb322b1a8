// go-blockdevice's blkid probers (blkid::probe_info / probe): whatever a disk holds, written by
// anyone, decides whether Talos opens, formats or refuses a volume.
//
// Input: the first bytes of the device; the device is the input zero-padded to 256 KiB (the
// probers read superblocks up to 64 KiB in, and nested GPT partitions further). The last input
// byte's low bit selects 4096-byte logical sectors instead of 512.
#include "cryptnode/engine/blkid.h"
#include "fuzz_support.h"

using namespace cryptnode;

namespace {

void walk(const std::vector<blkid::NestedProbeResult>& parts, int depth) {
  fuzz::expect(depth < 64, "nested partitions stop");
  for (const auto& p : parts) walk(p.parts, depth + 1);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  constexpr size_t kDevice = 256 << 10;
  if (size > kDevice) return 0;
  std::string image(fuzz::text(data, size));
  image.resize(kDevice, '\0');
  blkid::ProbeOptions options;
  if (size && (data[size - 1] & 1)) options.sector_size = options.io_size = 4096;
  fuzz::MemoryDevice dev(std::move(image), "/dev/mem0p1");
  try {
    blkid::Info info = blkid::probe_info(dev, options);
    walk(info.parts, 0);
  } catch (const Error&) {
  }
  try {
    blkid::probe(dev);
  } catch (const Error&) {
  }
  return 0;
}
