// XFS (go-blockdevice blkid/internal/filesystems/xfs): "XFSB" at 0, then the superblock sanity
// checks of libblkid's xfs_verify_sb (sizes and their logs agree, an AG count, data blocks).
#include "prober.h"

namespace cryptnode::blkid::internal {
namespace {

constexpr size_t kSuperBlockSize = 208;

bool valid(std::string_view sb) {
  const uint32_t blocksize = be32(sb, 4);
  const uint64_t dblocks = be64(sb, 8);
  const uint32_t rextsize = be32(sb, 80);
  const uint32_t agcount = be32(sb, 88);
  const uint16_t sectsize = be16(sb, 102);
  const uint16_t inodesize = be16(sb, 104);
  const uint8_t blocklog = static_cast<uint8_t>(sb[120]);
  const uint8_t sectlog = static_cast<uint8_t>(sb[121]);
  const uint8_t inodelog = static_cast<uint8_t>(sb[122]);
  const uint8_t inopblog = static_cast<uint8_t>(sb[123]);
  const uint8_t imax_pct = static_cast<uint8_t>(sb[127]);
  const uint32_t rtext_bytes = rextsize * blocksize;  // uint32 arithmetic, as in Go
  return !(agcount == 0 || sectsize < 512 || sectsize > 32768 || sectlog < 9 || sectlog > 15 ||
           sectsize != (1u << sectlog) || blocksize < 512 || blocksize > 65536 || blocklog < 9 ||
           blocklog > 16 || blocksize != (1u << blocklog) || inodesize < 256 || inodesize > 2048 ||
           inodelog < 8 || inodelog > 11 || inodesize != (1u << inodelog) ||
           static_cast<uint8_t>(blocklog - inodelog) != inopblog ||
           rtext_bytes > 1024u * 1024 * 1024 || rtext_bytes < 4096 || imax_pct > 100 ||
           dblocks == 0);
}

class Xfs final : public Prober {
 public:
  std::string_view name() const override { return "xfs"; }
  std::vector<Magic> magics() const override { return {{0, "XFSB"}}; }
  std::optional<Found> probe(Reader& r, const Magic&) const override {
    auto sb = r.read(0, kSuperBlockSize);
    if (!sb || !valid(*sb)) return std::nullopt;
    Found f;
    f.uuid = uuid_string(sb->substr(32, 16));
    f.block_size = be16(*sb, 102);
    f.filesystem_block_size = be32(*sb, 4);
    const uint64_t log_blocks = be64(*sb, 48) != 0 ? be32(*sb, 96) : 0;
    f.probed_size = (be64(*sb, 8) - log_blocks) * be32(*sb, 4);
    f.label = c_label(sb->substr(108, 12));
    return f;
  }
};

}  // namespace

std::unique_ptr<Prober> make_xfs() {
  return std::make_unique<Xfs>();
}

}  // namespace cryptnode::blkid::internal
