#include "cryptnode/sim/gpt.h"

#include <algorithm>
#include <cstring>

#include "cryptnode/engine/error.h"

namespace cryptnode::sim {
namespace {

constexpr int kEntries = 128;
constexpr int kEntrySize = 128;

uint32_t crc32(const uint8_t* p, size_t n) {
  static uint32_t table[256];
  static bool init = [] {
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      table[i] = c;
    }
    return true;
  }();
  (void)init;
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; ++i) c = table[(c ^ p[i]) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

void put(uint8_t* p, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
uint64_t get(const uint8_t* p, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = v << 8 | p[i];
  return v;
}

// Text GUID <-> GPT mixed-endian bytes (first three fields little-endian).
std::array<uint8_t, 16> guid_bytes(const std::string& text) {
  std::string hex;
  for (char c : text)
    if (c != '-') hex += c;
  if (hex.size() != 32) throw Error(Code::kInvalidArgument, "invalid GUID " + text);
  uint8_t raw[16];
  for (int i = 0; i < 16; ++i)
    raw[i] = static_cast<uint8_t>(std::stoi(hex.substr(2 * i, 2), nullptr, 16));
  std::array<uint8_t, 16> g{};
  const int order[16] = {3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15};
  for (int i = 0; i < 16; ++i) g[i] = raw[order[i]];
  return g;
}

std::string guid_text(const uint8_t* g) {
  const int order[16] = {3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15};
  static const char hex[] = "0123456789ABCDEF";
  std::string out;
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out += '-';
    uint8_t b = g[order[i]];
    out += hex[b >> 4];
    out += hex[b & 15];
  }
  return out;
}

std::string random_guid(RandomSource& r) {
  uint8_t b[16];
  r.fill(b, 16);
  b[6] = static_cast<uint8_t>((b[6] & 0x0F) | 0x40);  // v4, in the text form's byte order
  b[8] = static_cast<uint8_t>((b[8] & 0x3F) | 0x80);
  const int order[16] = {3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15};
  uint8_t mixed[16];
  for (int i = 0; i < 16; ++i) mixed[order[i]] = b[i];
  return guid_text(mixed);
}

}  // namespace

Gpt Gpt::create(uint64_t disk_size, RandomSource& random) {
  if (disk_size < 4 * 1024 * 1024) throw Error(Code::kInvalidArgument, "disk too small for a GPT");
  Gpt g;
  g.disk_size_ = disk_size;
  g.last_lba_ = disk_size / kSector - 1;
  g.disk_guid_ = guid_bytes(random_guid(random));
  g.slots_.resize(kEntries);
  return g;
}

Gpt Gpt::read(BlockDevice& dev) {
  uint8_t hdr[512];
  dev.read_at(kSector, hdr, sizeof(hdr));
  if (std::memcmp(hdr, "EFI PART", 8) != 0)
    throw Error(Code::kCorrupt, dev.path() + ": no GPT (primary header signature missing)");
  Gpt g;
  g.disk_size_ = dev.size();
  g.last_lba_ = dev.size() / kSector - 1;
  std::memcpy(g.disk_guid_.data(), hdr + 56, 16);
  const uint64_t entries_lba = get(hdr + 72, 8);
  std::vector<uint8_t> ent(kEntries * kEntrySize);
  dev.read_at(entries_lba * kSector, ent.data(), ent.size());
  g.slots_.resize(kEntries);
  for (int i = 0; i < kEntries; ++i) {
    const uint8_t* e = ent.data() + i * kEntrySize;
    bool empty = true;
    for (int k = 0; k < 16; ++k) empty &= e[k] == 0;
    if (empty) continue;
    GptPartition p;
    p.index = i + 1;
    p.type_guid = guid_text(e);
    p.unique_guid = guid_text(e + 16);
    p.first_lba = get(e + 32, 8);
    p.last_lba = get(e + 40, 8);
    p.attributes = get(e + 48, 8);
    for (int k = 0; k < 36; ++k) {
      uint16_t c = static_cast<uint16_t>(get(e + 56 + 2 * k, 2));
      if (c == 0) break;
      p.label += c < 0x80 ? static_cast<char>(c) : '?';
    }
    g.slots_[i] = p;
  }
  return g;
}

void Gpt::write(BlockDevice& dev) const {
  std::vector<uint8_t> ent(kEntries * kEntrySize, 0);
  for (int i = 0; i < kEntries; ++i) {
    if (!slots_[i]) continue;
    const GptPartition& p = *slots_[i];
    uint8_t* e = ent.data() + i * kEntrySize;
    auto t = guid_bytes(p.type_guid), u = guid_bytes(p.unique_guid);
    std::memcpy(e, t.data(), 16);
    std::memcpy(e + 16, u.data(), 16);
    put(e + 32, p.first_lba, 8);
    put(e + 40, p.last_lba, 8);
    put(e + 48, p.attributes, 8);
    for (size_t k = 0; k < p.label.size() && k < 36; ++k)
      put(e + 56 + 2 * k, static_cast<uint8_t>(p.label[k]), 2);
  }
  const uint32_t ent_crc = crc32(ent.data(), ent.size());
  const uint64_t entry_sectors = kEntries * kEntrySize / kSector;  // 32
  auto header = [&](uint64_t my, uint64_t alt, uint64_t entries_lba) {
    std::vector<uint8_t> h(kSector, 0);
    std::memcpy(h.data(), "EFI PART", 8);
    put(&h[8], 0x00010000, 4);
    put(&h[12], 92, 4);
    put(&h[24], my, 8);
    put(&h[32], alt, 8);
    put(&h[40], kAlign, 8);          // first usable: aligned, as go-blockdevice writes it
    put(&h[48], last_lba_ - 33, 8);  // last usable
    std::memcpy(&h[56], disk_guid_.data(), 16);
    put(&h[72], entries_lba, 8);
    put(&h[80], kEntries, 4);
    put(&h[84], kEntrySize, 4);
    put(&h[88], ent_crc, 4);
    put(&h[16], crc32(h.data(), 92), 4);
    return h;
  };
  // Primary header, primary entries, secondary header, secondary entries, PMBR.
  auto primary = header(1, last_lba_, 2);
  auto secondary = header(last_lba_, 1, last_lba_ - entry_sectors);
  dev.write_at(kSector, primary.data(), primary.size());
  dev.write_at(2 * kSector, ent.data(), ent.size());
  dev.write_at(last_lba_ * kSector, secondary.data(), secondary.size());
  dev.write_at((last_lba_ - entry_sectors) * kSector, ent.data(), ent.size());
  uint8_t mbr[512];
  dev.read_at(0, mbr, sizeof(mbr));
  std::memset(mbr + 446, 0, 64);
  uint8_t* pe = mbr + 446;
  pe[0] = 0x00;
  pe[1] = 0x00, pe[2] = 0x02, pe[3] = 0x00;
  pe[4] = 0xEE;
  pe[5] = 0xFF, pe[6] = 0xFF, pe[7] = 0xFF;
  put(pe + 8, 1, 4);
  put(pe + 12, std::min<uint64_t>(last_lba_, 0xFFFFFFFFu), 4);
  mbr[510] = 0x55;
  mbr[511] = 0xAA;
  dev.write_at(0, mbr, sizeof(mbr));
  dev.sync();
}

std::vector<GptPartition> Gpt::partitions() const {
  std::vector<GptPartition> out;
  for (const auto& s : slots_)
    if (s) out.push_back(*s);
  return out;
}

std::optional<GptPartition> Gpt::find(const std::string& label) const {
  for (const auto& s : slots_)
    if (s && s->label == label) return s;
  return std::nullopt;
}

std::vector<Gpt::Range> Gpt::free_ranges() const {
  std::vector<GptPartition> parts = partitions();
  std::sort(parts.begin(), parts.end(),
            [](const auto& a, const auto& b) { return a.first_lba < b.first_lba; });
  const uint64_t last_usable = (last_lba_ - 33) / kAlign * kAlign - 1;
  std::vector<Range> out;
  uint64_t low = kAlign;
  auto push = [&](uint64_t lo, uint64_t hi) {  // [lo, hi] inclusive, aligned
    lo = (lo + kAlign - 1) / kAlign * kAlign;
    if (hi + 1 < kAlign) return;
    hi = (hi + 1) / kAlign * kAlign - 1;
    if (hi > lo) out.push_back({lo, hi});
  };
  for (const auto& p : parts) {
    if (p.first_lba > low) push(low, p.first_lba - 1);
    low = std::max(low, p.last_lba + 1);
  }
  if (last_usable > low) push(low, last_usable);
  return out;
}

uint64_t Gpt::largest_free() const {
  uint64_t best = 0;
  for (const auto& r : free_ranges()) best = std::max(best, (r.last - r.first + 1) * kSector);
  return best;
}

GptPartition Gpt::add(const std::string& label, uint64_t size, const std::string& type_guid,
                      RandomSource& random, uint64_t attributes) {
  if (label.size() > 36) throw Error(Code::kInvalidArgument, "partition label too long: " + label);
  std::optional<Range> pick;
  for (const auto& r : free_ranges()) {
    const uint64_t bytes = (r.last - r.first + 1) * kSector;
    if (size == 0) {
      if (!pick || bytes > (pick->last - pick->first + 1) * kSector) pick = r;
    } else if (bytes >= size && (!pick || bytes < (pick->last - pick->first + 1) * kSector)) {
      pick = r;
    }
  }
  if (!pick)
    throw Error(Code::kFailedPrecondition,
                "no free space for partition " + label + " (" + std::to_string(size) + " bytes)");
  GptPartition p;
  p.label = label;
  p.type_guid = type_guid;
  p.unique_guid = random_guid(random);
  p.attributes = attributes;
  p.first_lba = pick->first;
  p.last_lba = size == 0 ? pick->last : pick->first + size / kSector - 1;
  for (int i = 0; i < kEntries; ++i)
    if (!slots_[i]) {
      p.index = i + 1;
      slots_[i] = p;
      return p;
    }
  throw Error(Code::kFailedPrecondition, "no free GPT entry");
}

void Gpt::remove(int index) {
  if (index < 1 || index > kEntries || !slots_[index - 1])
    throw Error(Code::kNotFound, "no partition " + std::to_string(index));
  slots_[index - 1].reset();
}

}  // namespace cryptnode::sim
