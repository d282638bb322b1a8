// The pieces every prober shares (go-blockdevice blkid/internal/{magic,probe,utils}): the probed
// range, magic values, a prober's answer, and the little-endian/big-endian/UUID/UTF-16 decoding
// the on-disk structures need.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cryptnode/engine/blkid.h"
#include "cryptnode/engine/env.h"

namespace cryptnode::blkid::internal {

// The probed range of a device (go-blockdevice's probeReader over an io.SectionReader): a read
// that does not fit in the range fails, as ReadAt does at io.EOF.
class Reader {
 public:
  Reader(BlockDevice& dev, uint64_t offset, uint64_t size, uint32_t sector_size)
      : dev_(dev), offset_(offset), size_(size), sector_size_(sector_size) {}
  uint64_t size() const { return size_; }
  uint32_t sector_size() const { return sector_size_; }
  BlockDevice& device() const { return dev_; }
  uint64_t offset() const { return offset_; }
  // Exactly `len` bytes at `off` of the range; nullopt when the range ends before.
  std::optional<std::string> read(uint64_t off, size_t len);

 private:
  BlockDevice& dev_;
  uint64_t offset_, size_;
  uint32_t sector_size_;
};

// A magic value at an offset (magic.Magic); an empty value matches always (gpt, zfs).
struct Magic {
  uint64_t offset = 0;
  std::string_view value;
  uint64_t block_size() const { return offset + value.size(); }
  bool matches(std::string_view buf) const {
    return buf.size() >= block_size() && buf.substr(offset, value.size()) == value;
  }
};

// A partition a partition table lists (probe.Partition).
struct Partition {
  std::string uuid, type_uuid, label;
  uint32_t index = 0;
  uint64_t offset = 0, size = 0;
};

// A prober's positive answer (probe.Result).
struct Found {
  std::optional<std::string> uuid, label;
  uint32_t block_size = 0, filesystem_block_size = 0;
  uint64_t probed_size = 0;
  std::vector<Partition> parts;
};

// A prober (probe.Prober). probe() returns nullopt where go-blockdevice returns nil or an error:
// the chain goes on with the next match either way.
class Prober {
 public:
  virtual ~Prober() = default;
  virtual std::string_view name() const = 0;
  virtual std::vector<Magic> magics() const = 0;
  virtual std::optional<Found> probe(Reader& r, const Magic& matched) const = 0;
};

// go-blockdevice's chain.Default(), in its order.
const std::vector<std::unique_ptr<Prober>>& default_chain();

std::unique_ptr<Prober> make_xfs();
std::unique_ptr<Prober> make_ext4();
std::unique_ptr<Prober> make_ext3();
std::unique_ptr<Prober> make_ext2();
std::unique_ptr<Prober> make_btrfs();
std::unique_ptr<Prober> make_vfat();
std::unique_ptr<Prober> make_iso9660();
std::unique_ptr<Prober> make_squashfs();
std::unique_ptr<Prober> make_talosmeta();
std::unique_ptr<Prober> make_gpt();
std::unique_ptr<Prober> make_bluestore();
std::unique_ptr<Prober> make_luks();
std::unique_ptr<Prober> make_swap();
std::unique_ptr<Prober> make_lvm2();
std::unique_ptr<Prober> make_zfs();

// --- decoding helpers (bytes.go-style, on a std::string buffer) -------------------------------
uint16_t le16(std::string_view b, size_t at);
uint32_t le32(std::string_view b, size_t at);
uint64_t le64(std::string_view b, size_t at);
uint16_t be16(std::string_view b, size_t at);
uint32_t be32(std::string_view b, size_t at);
uint64_t be64(std::string_view b, size_t at);
// uuid.FromBytes(16 bytes).String().
std::string uuid_string(std::string_view bytes16);
// A GPT GUID (mixed endian) as a UUID string (gptutil.GUIDToUUID).
std::string guid_string(std::string_view bytes16);
// uuid.ParseBytes: 36-char, {36}, urn:uuid:36 or 32 hex digits; nullopt when it does not parse.
std::optional<std::string> parse_uuid(std::string_view text);
// A label field as go-blockdevice reads it: unset when the first byte is NUL, else up to the
// first NUL.
std::optional<std::string> c_label(std::string_view field);
// golang.org/x/text UTF-16 decoding (IgnoreBOM), invalid surrogates as U+FFFD.
std::string utf16_to_utf8(std::string_view bytes, bool big_endian);
// Go's hash/crc32: ChecksumIEEE, and Castagnoli as utils.CRC32c (the complemented Linux value).
uint32_t crc32_ieee(std::string_view data);
uint32_t crc32c_linux(std::string_view data);
bool is_power_of_2(uint64_t v);

}  // namespace cryptnode::blkid::internal
