// ext2/ext3/ext4 (go-blockdevice blkid/internal/filesystems/ext): magic 0xEF53 at 0x438, the
// superblock checksum when metadata_csum is set, then libblkid's feature rules decide the name:
// ext4 uses a feature ext3 does not know, ext3 has a journal and nothing unknown, ext2 neither.
#include "prober.h"

namespace cryptnode::blkid::internal {
namespace {

constexpr uint64_t kSbOffset = 0x400;
constexpr size_t kSuperBlockSize = 1024;

constexpr uint32_t kRoCompatMetadataCsum = 0x0400;
constexpr uint32_t kCompatHasJournal = 0x0004;
constexpr uint32_t kIncompatJournalDev = 0x0008;
constexpr uint32_t kExt2RoCompatUnsupported = ~uint32_t{0x0001 | 0x0002 | 0x0004};
constexpr uint32_t kExt2IncompatUnsupported = ~uint32_t{0x0002 | 0x0010};
constexpr uint32_t kExt3RoCompatUnsupported = ~uint32_t{0x0001 | 0x0002 | 0x0004};
constexpr uint32_t kExt3IncompatUnsupported = ~uint32_t{0x0002 | 0x0004 | 0x0010};

enum class Kind { kExt4, kExt3, kExt2 };

class Ext final : public Prober {
 public:
  explicit Ext(Kind kind) : kind_(kind) {}
  std::string_view name() const override {
    return kind_ == Kind::kExt4 ? "ext4" : kind_ == Kind::kExt3 ? "ext3" : "ext2";
  }
  std::vector<Magic> magics() const override { return {{kSbOffset + 0x38, "\x53\xef"}}; }
  std::optional<Found> probe(Reader& r, const Magic&) const override {
    auto sb = r.read(kSbOffset, kSuperBlockSize);
    if (!sb) return std::nullopt;
    const uint32_t compat = le32(*sb, 92), incompat = le32(*sb, 96), ro_compat = le32(*sb, 100);
    if ((ro_compat & kRoCompatMetadataCsum) && crc32c_linux(sb->substr(0, 1020)) != le32(*sb, 1020))
      return std::nullopt;
    switch (kind_) {
      case Kind::kExt4:
        if (incompat & kIncompatJournalDev) return std::nullopt;  // a jbd journal device
        if (!(ro_compat & kExt3RoCompatUnsupported) && !(incompat & kExt3IncompatUnsupported))
          return std::nullopt;
        break;
      case Kind::kExt3:
        if (!(compat & kCompatHasJournal)) return std::nullopt;
        if ((ro_compat & kExt3RoCompatUnsupported) || (incompat & kExt3IncompatUnsupported))
          return std::nullopt;
        break;
      case Kind::kExt2:
        if (compat & kCompatHasJournal) return std::nullopt;
        if ((ro_compat & kExt2RoCompatUnsupported) || (incompat & kExt2IncompatUnsupported))
          return std::nullopt;
        break;
    }
    Found f;
    f.uuid = uuid_string(sb->substr(104, 16));
    const uint32_t log = le32(*sb, 24);
    const uint32_t block_size = log >= 32 ? 0 : uint32_t{1024} << log;
    f.block_size = f.filesystem_block_size = block_size;
    f.probed_size = uint64_t{le32(*sb, 4)} * block_size;
    f.label = c_label(sb->substr(120, 16));
    return f;
  }

 private:
  Kind kind_;
};

}  // namespace

std::unique_ptr<Prober> make_ext4() {
  return std::make_unique<Ext>(Kind::kExt4);
}
std::unique_ptr<Prober> make_ext3() {
  return std::make_unique<Ext>(Kind::kExt3);
}
std::unique_ptr<Prober> make_ext2() {
  return std::make_unique<Ext>(Kind::kExt2);
}

}  // namespace cryptnode::blkid::internal
