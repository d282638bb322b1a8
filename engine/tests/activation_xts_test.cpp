// XTS: the IEEE 1619 vectors through one runner (Botan's style: vectors in a data file), and the
// dm-crypt plain64 IV of the sector-level API (512-byte units, also with 4 KiB sectors).
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <sstream>

#include "cryptnode/engine/activation/xts.h"

using namespace cryptnode;
using namespace cryptnode::activation;

namespace {

std::vector<uint8_t> unhex(const std::string& h) {
  std::vector<uint8_t> out;
  for (size_t i = 0; i + 1 < h.size(); i += 2)
    out.push_back(static_cast<uint8_t>(std::stoi(h.substr(i, 2), nullptr, 16)));
  return out;
}

std::vector<std::map<std::string, std::string>> load_vectors(const std::string& name) {
  std::ifstream f(std::string(CRYPTNODE_SOURCE_DIR) + "/engine/tests/data/activation/" + name);
  std::vector<std::map<std::string, std::string>> out;
  std::map<std::string, std::string> cur;
  std::string line;
  while (std::getline(f, line)) {
    if (line.empty() || line[0] == '#') {
      if (!cur.empty() && line.empty()) out.push_back(cur), cur.clear();
      continue;
    }
    auto eq = line.find(" = ");
    cur[line.substr(0, eq)] = line.substr(eq + 3);
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

}  // namespace

TEST(XtsVectors, IEEE1619) {
  auto vectors = load_vectors("xts_vectors.txt");
  ASSERT_EQ(vectors.size(), 2u);
  for (size_t i = 0; i < vectors.size(); ++i) {
    auto& v = vectors[i];
    auto key = unhex(v["Key"]);
    auto tweak = unhex(v["Tweak"]);
    auto buf = unhex(v["PTX"]);
    Secret k(key.data(), key.size());
    xts_crypt_unit(k, tweak.data(), buf.data(), buf.size(), true);
    EXPECT_EQ(buf, unhex(v["CTX"])) << "vector " << i + 1;
    xts_crypt_unit(k, tweak.data(), buf.data(), buf.size(), false);
    EXPECT_EQ(buf, unhex(v["PTX"])) << "vector " << i + 1;
  }
}

TEST(XtsPlain64, IvCountsFiveHundredTwelveByteUnits) {
  std::vector<uint8_t> raw(64);
  for (size_t i = 0; i < raw.size(); ++i) raw[i] = static_cast<uint8_t>(i * 7 + 1);
  Secret key(raw.data(), raw.size());
  for (uint32_t sector : {512u, 4096u}) {
    Xts x(key, sector);
    std::vector<uint8_t> a(2 * sector, 0xab);
    x.encrypt(3 * sector, a.data(), a.size());
    // Sector n of the request starts at byte 3*sector + n*sector => IV = that / 512.
    for (int n = 0; n < 2; ++n) {
      std::vector<uint8_t> b(sector, 0xab);
      uint8_t tweak[16] = {};
      uint64_t unit = (3ull * sector + n * sector) / 512;
      for (int i = 0; i < 8; ++i) tweak[i] = static_cast<uint8_t>(unit >> (8 * i));
      xts_crypt_unit(key, tweak, b.data(), b.size(), true);
      EXPECT_TRUE(std::equal(b.begin(), b.end(), a.begin() + n * sector)) << sector << " " << n;
    }
    x.decrypt(3 * sector, a.data(), a.size());
    EXPECT_EQ(a, std::vector<uint8_t>(2 * sector, 0xab));
  }
}

TEST(XtsPlain64, RejectsBadParameters) {
  std::vector<uint8_t> raw(48, 1);
  EXPECT_ANY_THROW(Xts(Secret(raw.data(), raw.size()), 512));
  std::vector<uint8_t> ok(64, 2);
  ok[40] = 3;
  EXPECT_ANY_THROW(Xts(Secret(ok.data(), ok.size()), 1000));
  Xts x(Secret(ok.data(), ok.size()), 512);
  std::vector<uint8_t> buf(100);
  EXPECT_ANY_THROW(x.encrypt(0, buf.data(), buf.size()));
}
