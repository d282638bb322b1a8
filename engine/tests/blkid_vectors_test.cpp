// go-blockdevice's probers on device images described byte by byte in
// engine/tests/data/blkid/vectors.txt: for every prober a positive case, a near miss and a
// truncated device, plus the chain's order and the probed range's limits.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <map>
#include <sstream>

#include "cryptnode/engine/blkid.h"
#include "cryptnode/engine/error.h"

using namespace cryptnode;

namespace {

// A sparse in-memory device: zeroes except the bytes written.
class MemDevice final : public BlockDevice {
 public:
  explicit MemDevice(uint64_t size) : size_(size) {}
  const std::string& path() const override { return path_; }
  uint64_t size() const override { return size_; }
  void read_at(uint64_t offset, void* buf, size_t len) override {
    if (offset + len > size_) throw Error(Code::kIO, path_ + ": read past the end");
    auto* out = static_cast<char*>(buf);
    std::memset(out, 0, len);
    for (const auto& [at, bytes] : chunks_) {
      const uint64_t lo = std::max(at, offset), hi = std::min(at + bytes.size(), offset + len);
      if (lo < hi) std::memcpy(out + (lo - offset), bytes.data() + (lo - at), hi - lo);
    }
    ++reads_;
  }
  void write_at(uint64_t offset, const void* buf, size_t len) override {
    chunks_.emplace_back(offset, std::string(static_cast<const char*>(buf), len));
  }
  void sync() override {}
  int reads() const { return reads_; }

 private:
  std::string path_ = "mem";
  uint64_t size_;
  std::vector<std::pair<uint64_t, std::string>> chunks_;
  int reads_ = 0;
};

struct Case {
  std::string id;
  int line = 0;
  uint64_t size = 0;
  std::vector<std::pair<uint64_t, std::string>> writes;
  std::optional<std::string> expect, error;
  std::optional<std::optional<std::string>> label, uuid;
  std::optional<uint64_t> block_size, fs_block_size, probed_size;
};

// gtest prints a failing case by its id, not as bytes.
void PrintTo(const Case& c, std::ostream* os) {
  *os << c.id;
}

uint64_t number(const std::string& s) {
  uint64_t mul = 1;
  std::string n = s;
  if (!n.empty() && (n.back() == 'K' || n.back() == 'M')) {
    mul = n.back() == 'K' ? 1024 : 1024 * 1024;
    n.pop_back();
  }
  return std::stoull(n, nullptr, 0) * mul;
}

std::string unescape(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size() + 0 && s[i + 1] == 'x') {
      out += static_cast<char>(std::stoi(s.substr(i + 2, 2), nullptr, 16));
      i += 3;
    } else {
      out += s[i];
    }
  }
  return out;
}

std::string integer_bytes(const std::string& kind, uint64_t v) {
  const size_t n = kind == "u8" ? 1 : std::stoul(kind.substr(2)) / 8;
  const bool big = kind.rfind("be", 0) == 0;
  std::string out(n, '\0');
  for (size_t i = 0; i < n; ++i) out[big ? n - 1 - i : i] = static_cast<char>(v >> (8 * i));
  return out;
}

std::vector<Case> load_cases() {
  std::ifstream in(std::string(CRYPTNODE_SOURCE_DIR) + "/engine/tests/data/blkid/vectors.txt");
  if (!in) throw std::runtime_error("cannot read vectors.txt");
  std::vector<Case> cases;
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (line.empty() || line[0] == '#') continue;
    const size_t sp = line.find(' ');
    const std::string word = line.substr(0, sp);
    const std::string rest = sp == std::string::npos ? "" : line.substr(sp + 1);
    if (word == "case") {
      Case c;
      c.id = rest;
      c.line = n;
      cases.push_back(std::move(c));
      continue;
    }
    if (cases.empty()) throw std::runtime_error("line " + std::to_string(n) + ": no case yet");
    Case& c = cases.back();
    std::istringstream args(rest);
    if (word == "size") {
      c.size = number(rest);
    } else if (word == "text") {
      const size_t s2 = rest.find(' ');
      c.writes.emplace_back(number(rest.substr(0, s2)), unescape(rest.substr(s2 + 1)));
    } else if (word == "hex") {
      std::string off, byte, bytes;
      args >> off;
      while (args >> byte) bytes += static_cast<char>(std::stoi(byte, nullptr, 16));
      c.writes.emplace_back(number(off), bytes);
    } else if (word == "u8" || word == "le16" || word == "le32" || word == "le64" ||
               word == "be16" || word == "be32" || word == "be64") {
      std::string off, value;
      args >> off >> value;
      c.writes.emplace_back(number(off), integer_bytes(word, number(value)));
    } else if (word == "expect") {
      c.expect = rest == "\"\"" ? "" : rest;
    } else if (word == "error") {
      c.error = rest;
    } else if (word == "label") {
      c.label = std::optional<std::string>(rest);
    } else if (word == "nolabel") {
      c.label = std::optional<std::string>();
    } else if (word == "uuid") {
      c.uuid = std::optional<std::string>(rest);
    } else if (word == "nouuid") {
      c.uuid = std::optional<std::string>();
    } else if (word == "block_size") {
      c.block_size = number(rest);
    } else if (word == "fs_block_size") {
      c.fs_block_size = number(rest);
    } else if (word == "probed_size") {
      c.probed_size = number(rest);
    } else {
      throw std::runtime_error("line " + std::to_string(n) + ": unknown directive " + word);
    }
  }
  return cases;
}

class Vectors : public ::testing::TestWithParam<Case> {};

TEST_P(Vectors, ProbeAnswersAsGoBlockdevice) {
  const Case& c = GetParam();
  SCOPED_TRACE("vectors.txt:" + std::to_string(c.line) + " " + c.id);
  ASSERT_TRUE(c.expect || c.error) << "a case needs expect or error";
  MemDevice dev(c.size);
  for (const auto& [at, bytes] : c.writes) {
    ASSERT_LE(at + bytes.size(), c.size) << "write past the end";
    dev.write_at(at, bytes.data(), bytes.size());
  }
  if (c.error) {
    try {
      blkid::probe(dev);
      FAIL() << "no error";
    } catch (const Error& e) {
      EXPECT_EQ(e.what(), *c.error);
      EXPECT_EQ(e.code(), Code::kIO);
    }
    return;
  }
  const blkid::Info info = blkid::probe_info(dev, {});
  EXPECT_EQ(info.probed.name, *c.expect);
  EXPECT_EQ(blkid::probe(dev), *c.expect);
  if (c.label) {
    EXPECT_EQ(info.probed.label, *c.label);
  }
  if (c.uuid) {
    EXPECT_EQ(info.probed.uuid, *c.uuid);
  }
  if (c.block_size) {
    EXPECT_EQ(info.probed.block_size, *c.block_size);
  }
  if (c.fs_block_size) {
    EXPECT_EQ(info.probed.filesystem_block_size, *c.fs_block_size);
  }
  if (c.probed_size) {
    EXPECT_EQ(info.probed.probed_size, *c.probed_size);
  }
  EXPECT_TRUE(info.parts.empty());
  EXPECT_EQ(info.size, c.size);
}

std::string case_name(const ::testing::TestParamInfo<Case>& p) {
  std::string out;
  for (char ch : p.param.id) out += std::isalnum(static_cast<unsigned char>(ch)) ? ch : '_';
  return out;
}

INSTANTIATE_TEST_SUITE_P(Blkid, Vectors, ::testing::ValuesIn(load_cases()), case_name);

// Each prober has its three kinds of case in the file (checked so that none is dropped).
TEST(BlkidVectors, EveryProberHasAPositiveANearMissAndATruncatedCase) {
  const auto cases = load_cases();
  for (std::string p : {"xfs", "ext", "btrfs", "vfat", "iso9660", "squashfs", "talosmeta",
                        "bluestore", "luks", "swap", "lvm2", "zfs"}) {
    int positive = 0, miss = 0, truncated = 0;
    for (const auto& c : cases) {
      if (c.id.rfind(p, 0) != 0) continue;
      if (c.id.find("truncated") != std::string::npos) {
        ++truncated;
      } else if (c.expect && !c.expect->empty()) {
        ++positive;
      } else {
        ++miss;
      }
    }
    EXPECT_GT(positive, 0) << p;
    EXPECT_GT(miss, 0) << p;
    EXPECT_GT(truncated, 0) << p;
  }
}

// A read error past the magic buffer is a failed prober, not a failed probe (go-blockdevice logs
// "magic matched, but probe failed" and goes on); a failed magic read is an error.
class FailingDevice final : public BlockDevice {
 public:
  FailingDevice(uint64_t size, uint64_t fail_from) : size_(size), fail_from_(fail_from) {}
  const std::string& path() const override { return path_; }
  uint64_t size() const override { return size_; }
  void read_at(uint64_t offset, void* buf, size_t len) override {
    if (offset + len > fail_from_) throw Error(Code::kIO, path_ + ": Input/output error");
    // "bluestore block device" at 0, and something that is not a GPT header in sector 1
    std::string image(std::max<uint64_t>(offset + len, 1024), '\0');
    std::memcpy(image.data(), "bluestore block device", 22);
    std::memcpy(image.data() + 512, "not a GPT header", 16);
    std::memcpy(buf, image.data() + offset, len);
  }
  void write_at(uint64_t, const void*, size_t) override {}
  void sync() override {}

 private:
  std::string path_ = "/dev/bad";
  uint64_t size_, fail_from_;
};

TEST(BlkidVectors, AnUnreadableMagicBufferIsAnError) {
  FailingDevice dev(1 << 20, 4096);
  try {
    blkid::probe(dev);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()),
              "failed to probe: error probing: error reading magic buffer: /dev/bad: Input/output "
              "error");
  }
}

TEST(BlkidVectors, AProberThatCannotReadIsSkipped) {
  // gpt (before bluestore in the chain) finds no primary header and fails to read the backup in
  // the last sector: it is skipped and bluestore answers.
  FailingDevice dev(1 << 20, (1 << 20) - 512);
  EXPECT_EQ(blkid::probe(dev), "bluestore");
  FailingDevice readable(1 << 20, 1 << 20);
  EXPECT_EQ(blkid::probe(readable), "bluestore");
}

}  // namespace
