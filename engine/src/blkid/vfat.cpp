// FAT12/16/32 (go-blockdevice blkid/internal/filesystems/vfat): one of six FAT magics at 0x36 or
// 0x52, then the BPB sanity checks (FATs, reserved sectors, media byte, power-of-two cluster and
// sector sizes, 512..4096-byte sectors).
//
// The label: go-blockdevice reads it since v2.0.x (Talos' image cache looks for "TALOS_*"
// labels); here it is libblkid's rule, cheap part only: the volume-label entry of the root
// directory (FAT12/16: the fixed root directory; FAT32: the root's first cluster), else the boot
// sector's label unless it is "NO NAME", trailing spaces trimmed.
#include "prober.h"

namespace cryptnode::blkid::internal {
namespace {

constexpr size_t kBootSectorSize = 512;

std::string trim_spaces(std::string s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\0')) s.pop_back();
  return s;
}

// The volume label entry (attribute 0x08, not a long-name entry) of a directory region.
std::optional<std::string> dir_label(std::string_view dir) {
  for (size_t at = 0; at + 32 <= dir.size(); at += 32) {
    const uint8_t first = static_cast<uint8_t>(dir[at]);
    if (first == 0x00) break;
    if (first == 0xe5) continue;
    const uint8_t attr = static_cast<uint8_t>(dir[at + 11]);
    if ((attr & 0x0f) == 0x0f) continue;
    if ((attr & 0x18) == 0x08) return std::string(dir.substr(at, 11));
  }
  return std::nullopt;
}

std::optional<std::string> label(Reader& r, std::string_view bs) {
  const uint32_t sector = le16(bs, 0x0b);
  const uint32_t reserved = le16(bs, 0x0e);
  const uint32_t fats = static_cast<uint8_t>(bs[0x10]);
  const uint32_t fat16_length = le16(bs, 0x16);
  std::optional<std::string> boot, root;
  if (fat16_length != 0) {  // FAT12/16
    if (static_cast<uint8_t>(bs[0x26]) == 0x29) boot = std::string(bs.substr(0x2b, 11));
    const uint64_t start = (uint64_t{reserved} + uint64_t{fats} * fat16_length) * sector;
    if (auto dir = r.read(start, size_t{le16(bs, 0x11)} * 32)) root = dir_label(*dir);
  } else {  // FAT32
    if (static_cast<uint8_t>(bs[0x42]) == 0x29) boot = std::string(bs.substr(0x47, 11));
    const uint32_t cluster = le32(bs, 0x2c);
    const uint64_t data = (uint64_t{reserved} + uint64_t{fats} * le32(bs, 0x24)) * sector;
    const uint64_t cluster_bytes = uint64_t{static_cast<uint8_t>(bs[0x0d])} * sector;
    if (cluster >= 2 && cluster_bytes <= (1u << 20))
      if (auto dir = r.read(data + (cluster - 2) * cluster_bytes, cluster_bytes))
        root = dir_label(*dir);
  }
  std::string out;
  if (root) {
    out = trim_spaces(*root);
  } else if (boot && *boot != "NO NAME    ") {
    out = trim_spaces(*boot);
  }
  if (out.empty()) return std::nullopt;
  return out;
}

class Vfat final : public Prober {
 public:
  std::string_view name() const override { return "vfat"; }
  std::vector<Magic> magics() const override {
    return {{0x52, "MSWIN"},    {0x52, "FAT32   "}, {0x36, "MSDOS"},
            {0x36, "FAT16   "}, {0x36, "FAT12   "}, {0x36, "FAT     "}};
  }
  std::optional<Found> probe(Reader& r, const Magic&) const override {
    auto bs = r.read(0, kBootSectorSize);
    if (!bs) return std::nullopt;
    const uint16_t sector_size = le16(*bs, 0x0b);
    const uint8_t cluster_size = static_cast<uint8_t>((*bs)[0x0d]);
    const uint8_t media = static_cast<uint8_t>((*bs)[0x15]);
    if (static_cast<uint8_t>((*bs)[0x10]) == 0 || le16(*bs, 0x0e) == 0) return std::nullopt;
    if (!(media >= 0xf8 || media == 0xf0)) return std::nullopt;
    if (!is_power_of_2(cluster_size) || !is_power_of_2(sector_size)) return std::nullopt;
    if (sector_size < 512 || sector_size > 4096) return std::nullopt;
    uint32_t sectors = le16(*bs, 0x13);
    if (sectors == 0) sectors = le32(*bs, 0x20);
    Found f;
    f.block_size = sector_size;
    f.filesystem_block_size = uint32_t{cluster_size} * sector_size;
    f.probed_size = uint64_t{sectors} * sector_size;
    f.label = label(r, *bs);
    return f;
  }
};

}  // namespace

std::unique_ptr<Prober> make_vfat() {
  return std::make_unique<Vfat>();
}

}  // namespace cryptnode::blkid::internal
