// go-blockdevice's probers on images made by the real tools (mkfs.xfs, mkfs.ext2/3/4, mkfs.btrfs,
// mkfs.vfat, mkswap, cryptsetup luksFormat, pvcreate, mksquashfs, xorriso, sfdisk, sgdisk), with
// util-linux's blkid -p as an independent reader; each image also damaged (magic) and truncated.
// A missing tool skips its test, naming the Debian package that brings it.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "cryptnode/engine/blkid.h"
#include "cryptnode/engine/error.h"
#include "support/scratch.h"

using namespace cryptnode;
using cryptnode::testing::run;
using cryptnode::testing::ScratchFile;
using cryptnode::testing::ScratchLoop;

namespace {

constexpr uint64_t MiB = 1 << 20;

bool have(const std::string& tool) {
  return run({"sh", "-c", "command -v " + tool}).status == 0;
}

#define REQUIRE_TOOL(tool, package) \
  if (!have(tool))                  \
  GTEST_SKIP() << (tool) << " is not installed (Debian package " << (package) << ")"

blkid::Info probe_path(const std::string& path) {
  auto dev = Env::posix().open_block(path, false);
  return blkid::probe_info(*dev, {});
}

std::string probe_error(const std::string& path) {
  try {
    probe_path(path);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

void patch(const std::string& path, uint64_t off, const std::string& bytes) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(static_cast<std::streamoff>(off));
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string read_bytes(const std::string& path, uint64_t off, size_t len) {
  std::ifstream f(path, std::ios::binary);
  f.seekg(static_cast<std::streamoff>(off));
  std::string out(len, '\0');
  f.read(out.data(), static_cast<std::streamsize>(len));
  return out;
}

// The first `len` bytes of `from` written over the start of `to` (an image inside a partition).
void copy_into(const std::string& from, const std::string& to, uint64_t at, uint64_t len) {
  std::ifstream in(from, std::ios::binary);
  std::fstream out(to, std::ios::in | std::ios::out | std::ios::binary);
  out.seekp(static_cast<std::streamoff>(at));
  std::vector<char> buf(MiB);
  for (uint64_t done = 0; done < len;) {
    const auto n = static_cast<std::streamsize>(std::min<uint64_t>(buf.size(), len - done));
    in.read(buf.data(), n);
    out.write(buf.data(), in.gcount());
    if (in.gcount() == 0) break;
    done += static_cast<uint64_t>(in.gcount());
  }
}

// A copy of the first `len` bytes of an image: the same device, truncated.
std::unique_ptr<ScratchFile> truncated(const std::string& path, uint64_t len) {
  auto out = std::make_unique<ScratchFile>(len);
  copy_into(path, out->path(), 0, len);
  return out;
}

// util-linux's answer for the same image (`blkid -p -o value -s TYPE|PTTYPE`).
std::string util_linux(const std::string& path, const std::string& tag = "TYPE") {
  auto r = run({"blkid", "-p", "-o", "value", "-s", tag, path});
  std::string out = r.output;
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

void must_run(const std::vector<std::string>& argv, const std::string& input = "") {
  auto r = run(argv, input);
  ASSERT_EQ(r.status, 0) << argv[0] << ": " << r.output;
}

// A scratch directory with content for mksquashfs and xorriso (a 1 MiB file of noise, so the
// image is larger than 16 KiB, and a 1-byte file) and room for the image, removed at the end.
class ImageDir {
 public:
  ImageDir() : scratch_(0) {
    std::filesystem::create_directory(content());
    std::string noise(1 << 20, '\0');
    uint32_t x = 2463534242u;
    for (char& c : noise) {
      x ^= x << 13, x ^= x >> 17, x ^= x << 5;
      c = static_cast<char>(x);
    }
    std::ofstream(content() + "/fileA") << noise;
    std::ofstream(content() + "/fileB") << "b";
  }
  ~ImageDir() {
    std::filesystem::remove_all(content());
    std::filesystem::remove(image());
  }
  std::string content() const { return scratch_.dir() + "/content"; }
  std::string image() const { return scratch_.dir() + "/fs.img"; }

 private:
  ScratchFile scratch_;
};

std::string name_of(const std::string& path) {
  return probe_path(path).probed.name;
}

// The image cut to `len` bytes: what blkid answers for it.
std::string truncated_name(const std::string& path, uint64_t len) {
  auto t = truncated(path, len);
  return name_of(t->path());
}

std::string truncated_error(const std::string& path, uint64_t len) {
  auto t = truncated(path, len);
  return probe_error(t->path());
}

std::string too_small(uint64_t len) {
  return "failed to probe: error probing: probing range is too small: len " + std::to_string(len) +
         " < min probe size 16384";
}

TEST(BlkidImages, Xfs) {
  REQUIRE_TOOL("mkfs.xfs", "xfsprogs");
  ScratchFile img(320 * MiB);
  must_run({"mkfs.xfs", "-q", "-f", "-L", "somelabel", img.path()});
  auto info = probe_path(img.path());
  EXPECT_EQ(info.probed.name, "xfs");
  EXPECT_EQ(util_linux(img.path()), "xfs");
  EXPECT_EQ(info.probed.label, "somelabel");
  EXPECT_EQ(info.probed.uuid, util_linux(img.path(), "UUID"));
  EXPECT_EQ(info.probed.block_size, 512u);
  EXPECT_EQ(info.probed.filesystem_block_size, 4096u);
  EXPECT_EQ(truncated_name(img.path(), MiB), "xfs");  // the superblock is all it reads
  EXPECT_EQ(truncated_error(img.path(), 8192), too_small(8192));
  patch(img.path(), 0, "XFSC");
  EXPECT_EQ(name_of(img.path()), "");
}

TEST(BlkidImages, Ext2Ext3Ext4) {
  for (std::string kind : {"ext2", "ext3", "ext4"}) {
    SCOPED_TRACE(kind);
    REQUIRE_TOOL("mkfs." + kind, "e2fsprogs");
    ScratchFile img(64 * MiB);
    must_run({"mkfs." + kind, "-q", "-F", "-L", "extlabel", img.path()});
    auto info = probe_path(img.path());
    EXPECT_EQ(info.probed.name, kind);
    EXPECT_EQ(util_linux(img.path()), kind);
    EXPECT_EQ(info.probed.label, "extlabel");
    EXPECT_EQ(info.probed.uuid, util_linux(img.path(), "UUID"));
    EXPECT_EQ(info.probed.probed_size, 64 * MiB);
    EXPECT_EQ(truncated_name(img.path(), 64 * 1024), kind);
    EXPECT_EQ(truncated_error(img.path(), 2048), too_small(2048));
    // Debian's mke2fs sets metadata_csum on ext4: a changed byte breaks the checksum
    if (kind == "ext4") {
      const std::string label = read_bytes(img.path(), 0x478, 1);
      patch(img.path(), 0x478, "X");
      EXPECT_EQ(name_of(img.path()), "");
      patch(img.path(), 0x478, label);
      EXPECT_EQ(name_of(img.path()), "ext4");
    }
    patch(img.path(), 0x438, "\x53\xee");
    EXPECT_EQ(name_of(img.path()), "");
  }
}

TEST(BlkidImages, Btrfs) {
  REQUIRE_TOOL("mkfs.btrfs", "btrfs-progs");
  ScratchFile img(256 * MiB);
  must_run({"mkfs.btrfs", "-q", "-f", "-L", "btrlabel", img.path()});
  auto info = probe_path(img.path());
  EXPECT_EQ(info.probed.name, "btrfs");
  EXPECT_EQ(util_linux(img.path()), "btrfs");
  EXPECT_EQ(info.probed.label, "btrlabel");
  EXPECT_EQ(info.probed.uuid, util_linux(img.path(), "UUID"));
  EXPECT_EQ(info.probed.probed_size, 256 * MiB);
  EXPECT_EQ(truncated_name(img.path(), 65604), "");  // the magic ends at 65608
  EXPECT_EQ(truncated_name(img.path(), 65608 + 555), "btrfs");
  patch(img.path(), 65600, "_BHRfS_N");
  EXPECT_EQ(name_of(img.path()), "");
}

TEST(BlkidImages, Vfat) {
  REQUIRE_TOOL("mkfs.vfat", "dosfstools");
  for (auto [bits, size] : {std::pair{12, 4 * MiB}, {16, 100 * MiB}, {32, 300 * MiB}}) {
    SCOPED_TRACE(bits);
    ScratchFile img(size);
    must_run({"mkfs.vfat", "-F", std::to_string(bits), "-n", "TALOS_V1", img.path()});
    auto info = probe_path(img.path());
    EXPECT_EQ(info.probed.name, "vfat");
    EXPECT_EQ(util_linux(img.path()), "vfat");
    EXPECT_EQ(info.probed.label, "TALOS_V1");
    EXPECT_EQ(info.probed.block_size, 512u);
    const std::string bpb = read_bytes(img.path(), 0, 512);
    uint64_t sectors = uint8_t(bpb[0x13]) | uint8_t(bpb[0x14]) << 8;
    if (sectors == 0)
      sectors = uint8_t(bpb[0x20]) | uint8_t(bpb[0x21]) << 8 | uint8_t(bpb[0x22]) << 16 |
                uint64_t{uint8_t(bpb[0x23])} << 24;
    EXPECT_EQ(info.probed.probed_size, sectors * 512);
    EXPECT_LE(info.probed.probed_size, size);
    EXPECT_EQ(truncated_error(img.path(), 4096), too_small(4096));
    patch(img.path(), 0x15, "\x01");  // media byte
    EXPECT_EQ(name_of(img.path()), "");
  }
}

TEST(BlkidImages, Swap) {
  REQUIRE_TOOL("mkswap", "util-linux");
  for (uint32_t page : {4096u, 8192u, 65536u}) {
    SCOPED_TRACE(page);
    ScratchFile img(64 * MiB);
    must_run({"mkswap", "-L", "swaplabel", "-p", std::to_string(page), img.path()});
    auto info = probe_path(img.path());
    EXPECT_EQ(info.probed.name, "swap");
    EXPECT_EQ(util_linux(img.path()), "swap");
    EXPECT_EQ(info.probed.label, "swaplabel");
    EXPECT_EQ(info.probed.uuid, util_linux(img.path(), "UUID"));
    EXPECT_EQ(info.probed.block_size, page);
    if (page - 1 >= blkid::kMinProbeSize) {
      EXPECT_EQ(truncated_name(img.path(), page - 1), "");  // the magic ends the first page
    } else {
      EXPECT_EQ(truncated_error(img.path(), page - 1), too_small(page - 1));
    }
    patch(img.path(), page - 10, "SWAPSPACE3");
    EXPECT_EQ(name_of(img.path()), "");
  }
}

TEST(BlkidImages, Luks2AndLuks1) {
  REQUIRE_TOOL("cryptsetup", "cryptsetup-bin");
  for (std::string type : {"luks2", "luks1"}) {
    SCOPED_TRACE(type);
    ScratchFile img(32 * MiB);
    std::vector<std::string> argv{"cryptsetup",
                                  "luksFormat",
                                  "--batch-mode",
                                  "--type",
                                  type,
                                  "--pbkdf",
                                  "pbkdf2",
                                  "--pbkdf-force-iterations",
                                  "1000",
                                  "--key-file",
                                  "-",
                                  img.path()};
    if (type == "luks2") argv.insert(argv.begin() + 2, {"--label", "cryptlabel"});
    must_run(argv, "passphrase");
    EXPECT_EQ(util_linux(img.path()), "crypto_LUKS");
    auto info = probe_path(img.path());
    if (type == "luks2") {
      EXPECT_EQ(info.probed.name, "luks");
      EXPECT_EQ(info.probed.label, "cryptlabel");
      EXPECT_EQ(info.probed.uuid, util_linux(img.path(), "UUID"));
      EXPECT_EQ(truncated_name(img.path(), 16384), "luks");
      EXPECT_EQ(truncated_error(img.path(), 4096), too_small(4096));
      patch(img.path(), 5, "\xbf");
      EXPECT_EQ(name_of(img.path()), "");
    } else {
      EXPECT_EQ(info.probed.name, "");  // go-blockdevice knows LUKS version 2 only
    }
  }
}

TEST(BlkidImages, Lvm2PhysicalVolume) {
  if (geteuid() != 0) GTEST_SKIP() << "pvcreate needs a loop device (root)";
  REQUIRE_TOOL("pvcreate", "lvm2");
  ScratchFile img(64 * MiB);
  {
    ScratchLoop loop(img.path());
    must_run(
        {"pvcreate", "-q", "-ff", "-y", "--config", "devices { use_devicesfile=0 }", loop.path()});
  }
  auto info = probe_path(img.path());
  EXPECT_EQ(info.probed.name, "lvm2-pv");
  EXPECT_EQ(util_linux(img.path()), "LVM2_member");
  EXPECT_EQ(info.probed.label, util_linux(img.path(), "UUID"));  // the dashed PV UUID
  EXPECT_EQ(truncated_error(img.path(), 1024), too_small(1024));
  EXPECT_EQ(truncated_name(img.path(), 16384), "lvm2-pv");
  patch(img.path(), 512, "LABELTWO");
  EXPECT_EQ(name_of(img.path()), "");
}

TEST(BlkidImages, Squashfs) {
  REQUIRE_TOOL("mksquashfs", "squashfs-tools");
  ImageDir dir;
  const std::string fs = dir.image();
  must_run({"mksquashfs", dir.content(), fs, "-noappend", "-no-progress", "-all-root", "-quiet"});
  auto info = probe_path(fs);
  EXPECT_EQ(info.probed.name, "squashfs");
  EXPECT_EQ(util_linux(fs), "squashfs");
  EXPECT_EQ(info.probed.block_size, 131072u);
  const std::string used = read_bytes(fs, 40, 8);  // bytes_used, little endian
  uint64_t bytes_used = 0;
  for (int i = 7; i >= 0; --i) bytes_used = bytes_used << 8 | static_cast<uint8_t>(used[i]);
  EXPECT_EQ(info.probed.probed_size, bytes_used);
  EXPECT_LE(info.probed.probed_size, std::filesystem::file_size(fs));
  EXPECT_EQ(truncated_error(fs, 4096), too_small(4096));
  patch(fs, 28, std::string("\x03\x00", 2));  // version 3
  EXPECT_EQ(name_of(fs), "");
}

TEST(BlkidImages, Iso9660) {
  REQUIRE_TOOL("xorriso", "xorriso");
  for (bool joliet : {false, true}) {
    SCOPED_TRACE(joliet);
    ImageDir dir;
    const std::string fs = dir.image();
    std::vector<std::string> argv{"xorriso", "-as", "mkisofs", "-quiet",
                                  "-o",      fs,    "-V",      "ISO label"};
    if (joliet) argv.insert(argv.end(), {"-J", "-R"});
    argv.push_back(dir.content());
    must_run(argv);
    auto info = probe_path(fs);
    EXPECT_EQ(info.probed.name, "iso9660");
    EXPECT_EQ(util_linux(fs), "iso9660");
    EXPECT_EQ(info.probed.label, "ISO label");
    EXPECT_EQ(info.probed.block_size, 2048u);
    EXPECT_EQ(info.probed.probed_size, std::filesystem::file_size(fs));
    EXPECT_EQ(truncated_name(fs, 33000), "");  // the primary descriptor does not fit
    patch(fs, 32769, "CD002");
    EXPECT_EQ(name_of(fs), "");
  }
}

// A Talos-like disk (sfdisk) with filesystems in its partitions, probed as go-blockdevice
// probes a GPT: the table, then each partition.
class Gpt : public ::testing::Test {
 protected:
  static constexpr uint64_t kDisk = 512 * MiB;

  void SetUp() override {
    if (!have("sfdisk") || !have("mkfs.vfat") || !have("mkfs.ext4") || !have("mkfs.xfs"))
      GTEST_SKIP() << "needs sfdisk (fdisk), mkfs.vfat (dosfstools), mkfs.ext4 (e2fsprogs), "
                      "mkfs.xfs (xfsprogs)";
    disk_ = std::make_unique<ScratchFile>(kDisk);
    must_run({"sfdisk", "-q", disk_->path()}, R"(label: gpt
label-id: DDDA0816-8B53-47BF-A813-9EBB1F73AAA2
size=32MiB, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, uuid=3C047FF8-E35C-4918-A061-B4C1E5A291E5, name="EFI"
size=1MiB, type=21686148-6449-6E6F-744E-656564454649, uuid=942D2017-052E-4216-B4E4-2110507E4CD4, name="BIOS"
size=64MiB, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, uuid=E8516F6B-F03E-45AE-8D9D-9958456EE7E4, name="BOOT"
size=1MiB, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, uuid=CE6B2D56-7A70-4546-926C-7A9B41607347, name="META"
type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, uuid=0F06E81A-E78D-426B-A078-30A01AAB3FB7, name="EPHEMERAL"
)");
    format(1, {"mkfs.vfat", "-F", "16", "-n", "EFI"});
    format(3, {"mkfs.ext4", "-q", "-F", "-L", "BOOT"});
    format(5, {"mkfs.xfs", "-q", "-f", "-L", "EPHEMERAL"});
    std::string meta(4, '\0');
    meta = "\x5a\x4b\x3c\x2d";
    patch(disk_->path(), offset(4), meta);
    patch(disk_->path(), offset(4) + 256 * 1024 - 4, "\xa5\xb4\xc3\xd2");
  }

  // Partition N's offset and size from sfdisk's dump.
  uint64_t offset(int n) { return field(n, "start=") * 512; }
  uint64_t size(int n) { return field(n, "size=") * 512; }
  uint64_t field(int n, const std::string& key) {
    if (dump_.empty()) dump_ = run({"sfdisk", "-d", disk_->path()}).output;
    struct {
      std::string output;
    } r{dump_};
    const std::string tag = disk_->path() + std::to_string(n) + " :";
    const size_t line = r.output.find(tag);
    const size_t at = r.output.find(key, line) + key.size();
    while (r.output[at] == ' ') r.output.erase(at, 1);
    return std::stoull(r.output.substr(at));
  }

  // mkfs on an image of the partition's size, copied into the disk at the partition's offset.
  void format(int n, std::vector<std::string> argv) {
    ScratchFile part(size(n));
    argv.push_back(part.path());
    must_run(argv);
    copy_into(part.path(), disk_->path(), offset(n), size(n));
  }

  std::unique_ptr<ScratchFile> disk_;
  std::string dump_;  // sfdisk -d of the table made in SetUp
};

TEST_F(Gpt, TableAndPartitions) {
  auto info = probe_path(disk_->path());
  EXPECT_EQ(info.probed.name, "gpt");
  EXPECT_EQ(util_linux(disk_->path(), "PTTYPE"), "gpt");
  EXPECT_EQ(info.probed.uuid, "ddda0816-8b53-47bf-a813-9ebb1f73aaa2");
  EXPECT_EQ(info.probed.block_size, 512u);
  EXPECT_EQ(info.probed.probed_size, kDisk - MiB - 33 * 512);
  ASSERT_EQ(info.parts.size(), 5u);
  const char* labels[] = {"EFI", "BIOS", "BOOT", "META", "EPHEMERAL"};
  const char* names[] = {"vfat", "", "ext4", "talosmeta", "xfs"};
  for (int i = 0; i < 5; ++i) {
    SCOPED_TRACE(labels[i]);
    const auto& p = info.parts[i];
    EXPECT_EQ(p.partition_index, uint32_t(i + 1));
    EXPECT_EQ(p.partition_label, labels[i]);
    EXPECT_EQ(p.partition_offset, offset(i + 1));
    EXPECT_EQ(p.partition_size, size(i + 1));
    EXPECT_EQ(p.probed.name, names[i]);
  }
  EXPECT_EQ(info.parts[0].partition_uuid, "3c047ff8-e35c-4918-a061-b4c1e5a291e5");
  EXPECT_EQ(info.parts[0].partition_type, "c12a7328-f81f-11d2-ba4b-00a0c93ec93b");
  EXPECT_EQ(info.parts[0].probed.label, "EFI");
  EXPECT_EQ(info.parts[2].probed.label, "BOOT");
  EXPECT_EQ(info.parts[4].probed.label, "EPHEMERAL");
}

TEST_F(Gpt, DamagedPrimaryHeaderFallsBackToTheBackup) {
  patch(disk_->path(), 512 + 9, "\xff");  // inside the signature: the primary is invalid
  auto info = probe_path(disk_->path());
  EXPECT_EQ(info.probed.name, "gpt");
  EXPECT_EQ(info.parts.size(), 5u);
  patch(disk_->path(), kDisk - 512 + 9, "\xff");  // and the backup
  EXPECT_EQ(name_of(disk_->path()), "");
}

TEST_F(Gpt, WipedPrimaryHeaderIsNotRecoveredFromTheBackup) {
  patch(disk_->path(), 512, std::string(512, '\0'));
  EXPECT_EQ(name_of(disk_->path()), "");
}

TEST_F(Gpt, TruncatedDiskHasNoTable) {
  // the primary header's usable range now ends past the device, the backup is gone
  EXPECT_EQ(truncated_name(disk_->path(), 128 * MiB), "");
}

TEST(BlkidImages, APartitionUnderTheMinimumProbeSizeFailsTheWholeProbe) {
  REQUIRE_TOOL("sfdisk", "fdisk");
  ScratchFile disk(64 * MiB);
  must_run({"sfdisk", "-q", disk.path()},
           "label: gpt\nsize=1MiB, name=\"ONE\"\nsize=16, name=\"TINY\"\n");
  EXPECT_EQ(probe_error(disk.path()),
            "failed to probe: error probing nested: error probing nested: probing range is too "
            "small: len 8192 < min probe size 16384");
}

// A GPT inside a partition (a disk image written into EPHEMERAL): the partition is "gpt", and
// its own partitions are probed.
TEST_F(Gpt, NestedTableInsideAPartition) {
  if (!have("sgdisk")) GTEST_SKIP() << "sgdisk is not installed (Debian package gdisk)";
  ScratchFile inner(size(5));
  must_run({"sgdisk", "-o", "-n", "1:2048:+16M", "-c", "1:INNER", "-t", "1:8300", inner.path()});
  ScratchFile fs(16 * MiB);
  must_run({"mkfs.ext4", "-q", "-F", "-L", "inner", fs.path()});
  copy_into(fs.path(), inner.path(), 2048 * 512, 16 * MiB);
  copy_into(inner.path(), disk_->path(), offset(5), size(5));
  auto info = probe_path(disk_->path());
  ASSERT_EQ(info.parts.size(), 5u);
  const auto& ephemeral = info.parts[4];
  EXPECT_EQ(ephemeral.probed.name, "gpt");
  ASSERT_EQ(ephemeral.parts.size(), 1u);
  EXPECT_EQ(ephemeral.parts[0].partition_label, "INNER");
  EXPECT_EQ(ephemeral.parts[0].partition_offset, 2048u * 512);
  EXPECT_EQ(ephemeral.parts[0].probed.name, "ext4");
  EXPECT_EQ(ephemeral.parts[0].probed.label, "inner");
}

TEST(BlkidImages, ZfsNeedsZpool) {
  if (!have("zpool"))
    GTEST_SKIP() << "zpool is not installed (Debian contrib package zfsutils-linux, which also "
                    "needs the zfs kernel module); zfs is covered by vectors.txt";
  ScratchFile img(128 * MiB);
  const std::string pool = "cnblkid" + std::to_string(getpid());
  must_run({"zpool", "create", "-d", pool, img.path()});
  must_run({"zpool", "export", pool});
  EXPECT_EQ(name_of(img.path()), "zfs");
}

}  // namespace
