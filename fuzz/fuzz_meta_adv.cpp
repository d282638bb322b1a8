// The META partition's Talos ADV (an image from elsewhere, a disk another OS wrote):
// meta::ADV::unmarshal on one 256 KiB copy and meta::Meta::read / load on a 1 MiB partition.
//
// Input: byte 0 = mode, the rest = the records area of a copy (after the leading magic). The
// target places it into a copy with both magics and, unless mode bit 0 is set, a valid SHA-256
// checksum (a fuzzer cannot forge one). Mode bit 1 damages copy 1 so that Meta::read falls back
// to copy 2; bit 2 puts the raw input at offset 0 of the partition instead (damaged magics); the
// partition is read (Meta::read, Meta::load) only when bit 3 is set.
#include <openssl/sha.h>

#include "cryptnode/engine/meta.h"
#include "fuzz_support.h"

using namespace cryptnode;

namespace {

void put32(std::string& b, size_t off, uint32_t v) {
  for (int i = 0; i < 4; ++i) b[off + i] = static_cast<char>(v >> (24 - 8 * i));
}

std::string make_copy(std::string_view records, bool bad_checksum) {
  std::string copy(meta::kADVLength, '\0');
  put32(copy, 0, meta::kMagic1);
  put32(copy, meta::kADVLength - 4, meta::kMagic2);
  std::memcpy(copy.data() + 4, records.data(), std::min(records.size(), meta::kADVDataLength));
  unsigned char sum[32];
  SHA256(reinterpret_cast<const unsigned char*>(copy.data()), copy.size(), sum);
  if (bad_checksum) sum[0] ^= 1;
  std::memcpy(copy.data() + meta::kADVLength - 36, sum, 32);
  return copy;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t mode = data[0];
  const std::string_view records = fuzz::text(data + 1, size - 1);
  const std::string copy = make_copy(records, mode & 1);

  try {
    meta::ADV adv = meta::ADV::unmarshal(copy);
    // What was read must be written back as Talos' Flush would, and read again the same. Not
    // with a tag 0: a record whose u32 tag has only upper bytes set is stored as tag 0 (Go's
    // uint8 truncation), which a reader takes for adv.End, in Talos as here.
    if (!adv.tags().count(0)) {
      try {
        const meta::ADV again = meta::ADV::unmarshal(adv.marshal());
        fuzz::expect(again.tags() == adv.tags(), "ADV marshal/unmarshal round trip");
      } catch (const Error&) {
      }
    }
    for (const auto& [tag, value] : adv.tags()) adv.set(tag, value + "x");
  } catch (const Error&) {
  }

  if (!(mode & 8)) return 0;  // the partition reads are slow (1 MiB, four checksums): half the time
  std::string partition(meta::kMetaPartitionSize, '\0');
  if (mode & 4) {
    std::memcpy(partition.data(), records.data(), std::min(records.size(), partition.size()));
  } else {
    std::memcpy(partition.data(), copy.data(), copy.size());
    std::memcpy(partition.data() + meta::kADVLength, copy.data(), copy.size());
    if (mode & 2) partition[100] ^= 0x55;
  }
  fuzz::MemoryDevice dev(partition, "mem:META");
  try {
    meta::Meta m = meta::Meta::read(dev);
    fuzz::expect(m.copy_used == 1 || m.copy_used == 2, "Meta::read used a copy");
  } catch (const Error&) {
  }
  try {
    meta::Meta::load(dev);
  } catch (const Error&) {
  }
  return 0;
}
