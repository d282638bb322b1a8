// XTS: the IEEE 1619 vectors through one runner (Botan's style: vectors in a data file), the
// dm-crypt plain64 IV of the sector-level API (512-byte units, also with 4 KiB sectors), and every
// implementation against OpenSSL's EVP on random keys, offsets and lengths.
#include <gtest/gtest.h>
#include <openssl/rand.h>

#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "cryptnode/engine/activation/xts.h"
#include "cryptnode/engine/error.h"

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

std::vector<uint8_t> random_bytes(size_t n) {
  std::vector<uint8_t> v(n);
  RAND_bytes(v.data(), static_cast<int>(n));
  return v;
}

Secret random_key(size_t n) {
  auto v = random_bytes(n);
  return Secret(v.data(), v.size());
}

// The implementations this CPU can run.
std::vector<XtsImpl> impls() {
  std::vector<XtsImpl> out;
  for (XtsImpl i : {XtsImpl::kOpenssl, XtsImpl::kAesni, XtsImpl::kVaes})
    if (xts_impl_available(i)) out.push_back(i);
  return out;
}

}  // namespace

TEST(XtsVectors, IEEE1619) {
  auto vectors = load_vectors("xts_vectors.txt");
  ASSERT_EQ(vectors.size(), 4u);
  for (size_t i = 0; i < vectors.size(); ++i) {
    auto& v = vectors[i];
    auto key = unhex(v["Key"]);
    auto tweak = unhex(v["Tweak"]);
    auto buf = unhex(v["PTX"]);
    Secret k(key.data(), key.size());
    xts_crypt_unit(k, tweak.data(), buf.data(), buf.size(), true);
    EXPECT_EQ(buf, unhex(v["CTX"])) << "vector " << i;
    xts_crypt_unit(k, tweak.data(), buf.data(), buf.size(), false);
    EXPECT_EQ(buf, unhex(v["PTX"])) << "vector " << i;
  }
}

TEST(XtsVectors, SectorUnitsThroughEveryImplementation) {
  // Vectors with 512-byte data units are one 512-byte sector each, their data unit sequence number
  // the plain64 IV: sector n starts at byte 512 * n of the segment.
  for (XtsImpl impl : impls()) {
    int seen = 0;
    for (auto& v : load_vectors("xts_vectors.txt")) {
      auto ptx = unhex(v["PTX"]);
      if (ptx.size() != 512) continue;
      ++seen;
      auto key = unhex(v["Key"]);
      auto tweak = unhex(v["Tweak"]);
      uint64_t unit = 0;
      for (int i = 7; i >= 0; --i) unit = unit << 8 | tweak[i];
      Xts x(Secret(key.data(), key.size()), 512, impl);
      std::vector<uint8_t> out(512);
      x.encrypt(unit * 512, ptx.data(), out.data(), out.size());
      EXPECT_EQ(out, unhex(v["CTX"])) << xts_impl_name(impl) << " " << v["Tweak"];
      x.decrypt(unit * 512, out.data(), out.size());
      EXPECT_EQ(out, ptx) << xts_impl_name(impl);
    }
    EXPECT_EQ(seen, 2);
  }
}

TEST(XtsPlain64, IvCountsFiveHundredTwelveByteUnits) {
  std::vector<uint8_t> raw(64);
  for (size_t i = 0; i < raw.size(); ++i) raw[i] = static_cast<uint8_t>(i * 7 + 1);
  Secret key(raw.data(), raw.size());
  for (XtsImpl impl : impls()) {
    for (uint32_t sector : {512u, 4096u}) {
      Xts x(key, sector, impl);
      EXPECT_EQ(x.impl(), impl);
      std::vector<uint8_t> a(2 * sector, 0xab);
      x.encrypt(3 * sector, a.data(), a.size());
      // Sector n of the request starts at byte 3*sector + n*sector => IV = that / 512.
      for (int n = 0; n < 2; ++n) {
        std::vector<uint8_t> b(sector, 0xab);
        uint8_t tweak[16] = {};
        uint64_t unit = (3ull * sector + n * sector) / 512;
        for (int i = 0; i < 8; ++i) tweak[i] = static_cast<uint8_t>(unit >> (8 * i));
        xts_crypt_unit(key, tweak, b.data(), b.size(), true);
        EXPECT_TRUE(std::equal(b.begin(), b.end(), a.begin() + n * sector))
            << xts_impl_name(impl) << " " << sector << " " << n;
      }
      x.decrypt(3 * sector, a.data(), a.size());
      EXPECT_EQ(a, std::vector<uint8_t>(2 * sector, 0xab));
    }
  }
}

TEST(XtsPlain64, EveryImplementationMatchesOpensslOnRandomInput) {
  if (impls().size() == 1) GTEST_SKIP() << "only OpenSSL's XTS runs on this CPU";
  for (size_t key_size : {32u, 64u}) {
    for (uint32_t sector : {512u, 1024u, 2048u, 4096u}) {
      for (int trial = 0; trial < 24; ++trial) {
        Secret key = random_key(key_size);
        const XtsImpl impl = impls()[1 + trial % (impls().size() - 1)];
        Xts ref(key, sector, XtsImpl::kOpenssl), fast(key, sector, impl);
        // 1 to 40 sectors (more than one batch of sector tweaks), offsets up to 2^48 bytes.
        const size_t len = sector * (1 + trial * 7 % 40);
        uint64_t unit = 0;
        RAND_bytes(reinterpret_cast<uint8_t*>(&unit), sizeof(unit));
        const uint64_t offset = (unit >> 16) / sector * sector;
        auto plain = random_bytes(len);
        std::vector<uint8_t> a(len), b(len);
        ref.encrypt(offset, plain.data(), a.data(), len);
        fast.encrypt(offset, plain.data(), b.data(), len);
        ASSERT_EQ(a, b) << xts_impl_name(impl) << " " << key_size << " " << sector << " " << trial;
        fast.decrypt(offset, b.data(), len);  // in place
        ASSERT_EQ(b, plain) << xts_impl_name(impl) << " " << key_size << " " << sector;
        ref.decrypt(offset, a.data(), len);
        ASSERT_EQ(a, plain);
      }
    }
  }
}

TEST(XtsPlain64, ManyThreadsOnOneInstance) {
  Secret key = random_key(64);
  for (XtsImpl impl : impls()) {
    Xts x(key, 4096, impl);
    auto plain = random_bytes(64 << 10);
    std::vector<uint8_t> expected(plain.size());
    x.encrypt(1 << 20, plain.data(), expected.data(), plain.size());
    std::vector<std::thread> threads;
    std::vector<int> ok(8, 0);
    for (int t = 0; t < 8; ++t)
      threads.emplace_back([&, t] {
        std::vector<uint8_t> out(plain.size());
        bool same = true;
        for (int i = 0; i < 50; ++i) {
          x.encrypt(1 << 20, plain.data(), out.data(), plain.size());
          same = same && out == expected;
        }
        ok[t] = same;
      });
    for (auto& th : threads) th.join();
    EXPECT_EQ(ok, std::vector<int>(8, 1)) << xts_impl_name(impl);
  }
}

TEST(XtsPlain64, RejectsBadParameters) {
  std::vector<uint8_t> raw(48, 1);
  EXPECT_ANY_THROW(Xts(Secret(raw.data(), raw.size()), 512));
  std::vector<uint8_t> ok(64, 2);
  ok[40] = 3;
  EXPECT_ANY_THROW(Xts(Secret(ok.data(), ok.size()), 1000));
  EXPECT_ANY_THROW(Xts(Secret(ok.data(), ok.size()), 8192));
  for (XtsImpl impl : impls()) {
    Xts x(Secret(ok.data(), ok.size()), 512, impl);
    std::vector<uint8_t> buf(1024);
    EXPECT_ANY_THROW(x.encrypt(0, buf.data(), 100));
    EXPECT_ANY_THROW(x.encrypt(100, buf.data(), 512));
  }
  std::vector<uint8_t> same(64, 9);  // identical halves
  try {
    Xts x(Secret(same.data(), same.size()), 512);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Code::kInvalidArgument);
  }
  for (XtsImpl impl : {XtsImpl::kAesni, XtsImpl::kVaes})
    if (!xts_impl_available(impl)) {
      EXPECT_THROW(Xts(Secret(ok.data(), ok.size()), 512, impl), Error);
    }
  Xts automatic(Secret(ok.data(), ok.size()), 512);
  EXPECT_EQ(automatic.impl(), xts_auto_impl());
}
