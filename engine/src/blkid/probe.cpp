// blkid.Probe: read the magic buffer, run the probers whose magic matches in chain order, take the
// first answer, then probe a partition table's partitions (go-blockdevice blkid/probe.go,
// blkid/internal/chain/chain.go).
#include <algorithm>

#include "cryptnode/engine/blkid.h"
#include "cryptnode/engine/error.h"
#include "prober.h"

namespace cryptnode::blkid {
namespace {

using internal::Found;
using internal::Magic;
using internal::Prober;
using internal::Reader;

struct Match {
  const Prober* prober;
  Magic magic;
};

uint64_t max_magic_size() {
  uint64_t size = 0;
  for (const auto& p : internal::default_chain())
    for (const Magic& m : p->magics()) size = std::max(size, m.block_size());
  return size;
}

std::vector<Match> magic_matches(std::string_view buf) {
  std::vector<Match> out;
  for (const auto& p : internal::default_chain())
    for (const Magic& m : p->magics())
      if (m.block_size() <= buf.size() && m.matches(buf)) out.push_back({p.get(), m});
  return out;
}

struct Probed {
  Found found;
  std::string name;
};

// Info.probe: nullopt when nothing matched; throws the go-blockdevice texts.
std::optional<Probed> probe_range(BlockDevice& dev, uint64_t device_size, uint64_t offset,
                                  uint64_t length, const ProbeOptions& o) {
  if (offset + length > device_size)
    throw Error(Code::kIO, "probing range is out of bounds: offset " + std::to_string(offset) +
                               " + len " + std::to_string(length) + " > size " +
                               std::to_string(device_size));
  if (length < kMinProbeSize)
    throw Error(Code::kIO, "probing range is too small: len " + std::to_string(length) +
                               " < min probe size " + std::to_string(kMinProbeSize));
  const uint64_t read_size =
      std::min<uint64_t>(std::max<uint64_t>(max_magic_size(), o.io_size), length);
  std::string buf(read_size, '\0');
  try {
    dev.read_at(offset, buf.data(), buf.size());
  } catch (const Error& e) {
    throw e.wrap("error reading magic buffer");
  }
  Reader reader(dev, offset, length, o.sector_size);
  for (const Match& m : magic_matches(buf)) {
    std::optional<Found> found;
    try {
      found = m.prober->probe(reader, m.magic);
    } catch (const Error&) {
      // "magic matched, but probe failed": go-blockdevice skips the prober
    }
    if (found) return Probed{std::move(*found), std::string(m.prober->name())};
  }
  return std::nullopt;
}

ProbeResult to_result(const Probed& p) {
  ProbeResult r;
  r.name = p.name;
  r.uuid = p.found.uuid;
  r.label = p.found.label;
  r.block_size = p.found.block_size;
  r.filesystem_block_size = p.found.filesystem_block_size;
  r.probed_size = p.found.probed_size;
  return r;
}

void fill_nested(BlockDevice& dev, uint64_t device_size, uint64_t offset,
                 const std::vector<internal::Partition>& parts, std::vector<NestedProbeResult>& out,
                 const ProbeOptions& o) {
  for (const auto& part : parts) {
    NestedProbeResult n;
    n.partition_index = part.index;
    n.partition_uuid = part.uuid;
    n.partition_type = part.type_uuid;
    n.partition_label = part.label;
    n.partition_offset = part.offset;
    n.partition_size = part.size;
    std::optional<Probed> probed;
    try {
      probed = probe_range(dev, device_size, offset + part.offset, part.size, o);
    } catch (const Error& e) {
      throw e.wrap("error probing nested");
    }
    if (probed) {
      n.probed = to_result(*probed);
      try {
        fill_nested(dev, device_size, offset + part.offset, probed->found.parts, n.parts, o);
      } catch (const Error& e) {
        throw e.wrap("error probing nested");
      }
    }
    out.push_back(std::move(n));
  }
}

}  // namespace

Info probe_info(BlockDevice& dev, const ProbeOptions& options) {
  Info info;
  info.size = dev.size();
  try {
    std::optional<Probed> probed;
    try {
      probed = probe_range(dev, info.size, 0, info.size, options);
    } catch (const Error& e) {
      throw e.wrap("error probing");
    }
    if (!probed) return info;
    info.probed = to_result(*probed);
    try {
      fill_nested(dev, info.size, 0, probed->found.parts, info.parts, options);
    } catch (const Error& e) {
      throw e.wrap("error probing nested");
    }
  } catch (const Error& e) {
    throw e.wrap("failed to probe");
  }
  return info;
}

std::string probe(BlockDevice& dev) {
  return probe_info(dev, ProbeOptions{}).probed.name;
}

}  // namespace cryptnode::blkid
