// GPT (go-blockdevice blkid/internal/partitions/gpt, internal/gptstructs): no magic (tried on
// every device); the primary header at LBA 1, else the backup at the last LBA, each checked as
// the kernel does ("EFI PART", header size, header CRC32, my_lba, usable range, 128-byte entries,
// at most 128 of them, entries CRC32). A primary header sector that is all zeroes (wiped) is not
// recovered from the backup. The partitions with a type GUID inside the usable range are listed,
// and probed in turn.
#include <algorithm>

#include "prober.h"

namespace cryptnode::blkid::internal {
namespace {

constexpr uint64_t kSignature = 0x5452415020494645;  // "EFI PART"
constexpr uint32_t kHeaderSize = 92;
constexpr uint32_t kEntrySize = 128;
constexpr uint32_t kMaxEntries = 128;

struct Table {
  std::string header;
  std::string entries;
};

std::optional<Table> read_header(Reader& r, uint64_t lba, uint64_t last_lba) {
  const uint32_t ss = r.sector_size();
  auto hdr = r.read(lba * ss, ss);
  if (!hdr || hdr->size() < kHeaderSize) return std::nullopt;
  if (le64(*hdr, 0) != kSignature) return std::nullopt;
  const uint32_t header_size = le32(*hdr, 12);
  if (header_size < kHeaderSize || header_size > ss) return std::nullopt;
  std::string copy = hdr->substr(0, kHeaderSize);
  std::fill(copy.begin() + 16, copy.begin() + 20, '\0');
  if (le32(*hdr, 16) != crc32_ieee(copy)) return std::nullopt;
  if (le64(*hdr, 24) != lba) return std::nullopt;
  const uint64_t first_usable = le64(*hdr, 40), last_usable = le64(*hdr, 48);
  if (last_usable < first_usable || first_usable > last_lba || last_usable > last_lba)
    return std::nullopt;
  if (first_usable < lba && lba < last_usable) return std::nullopt;
  if (le32(*hdr, 84) != kEntrySize) return std::nullopt;
  const uint32_t count = le32(*hdr, 80);
  if (count == 0 || count > kMaxEntries) return std::nullopt;
  auto entries = r.read(le64(*hdr, 72) * ss, size_t{count} * kEntrySize);
  if (!entries || crc32_ieee(*entries) != le32(*hdr, 88)) return std::nullopt;
  return Table{std::move(*hdr), std::move(*entries)};
}

class Gpt final : public Prober {
 public:
  std::string_view name() const override { return "gpt"; }
  std::vector<Magic> magics() const override { return {Magic{}}; }
  std::optional<Found> probe(Reader& r, const Magic&) const override {
    const uint32_t ss = r.sector_size();
    if (ss == 0 || ss > r.size()) return std::nullopt;
    const uint64_t last_lba = r.size() / ss - 1;
    std::optional<Table> t = read_header(r, 1, last_lba);
    if (!t) {
      auto primary = r.read(ss, ss);
      if (!primary) return std::nullopt;
      if (primary->find_first_not_of('\0') == std::string::npos) return std::nullopt;
      t = read_header(r, last_lba, last_lba);
    }
    if (!t) return std::nullopt;
    const std::string& h = t->header;
    const uint64_t first_usable = le64(h, 40), last_usable = le64(h, 48);
    Found f;
    f.uuid = guid_string(std::string_view(h).substr(56, 16));
    f.block_size = ss;
    f.probed_size = uint64_t{ss} * (last_usable - first_usable + 1);
    const std::string zero(16, '\0');
    uint32_t index = 1;
    for (size_t at = 0; at + kEntrySize <= t->entries.size(); at += kEntrySize, ++index) {
      std::string_view e = std::string_view(t->entries).substr(at, kEntrySize);
      const uint64_t start = le64(e, 32), end = le64(e, 40);
      if (start < first_usable || end > last_usable) continue;
      if (e.substr(0, 16) == zero) continue;
      Partition p;
      p.type_uuid = guid_string(e.substr(0, 16));
      p.uuid = guid_string(e.substr(16, 16));
      p.label = utf16_to_utf8(e.substr(56, 72), false);
      while (!p.label.empty() && p.label.back() == '\0') p.label.pop_back();
      p.index = index;
      p.offset = start * ss;
      p.size = (end - start + 1) * ss;
      f.parts.push_back(std::move(p));
    }
    return f;
  }
};

}  // namespace

std::unique_ptr<Prober> make_gpt() {
  return std::make_unique<Gpt>();
}

}  // namespace cryptnode::blkid::internal
