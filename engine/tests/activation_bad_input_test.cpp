// Volumes the userspace backend must refuse, with an error naming the volume and nothing left
// mounted or attached: an Adiantum cipher, a sector size it cannot serve, a data segment beyond
// the end of the device, a bad perf option, a loop device that cannot be attached. The headers are
// real LUKS2 headers edited the way libcryptsetup would accept them (JSON changed in both copies,
// checksums recomputed), so libcryptsetup loads them and the backend's own checks are what refuse.
#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>

#include "cryptnode/engine/activation/backend.h"
#include "cryptnode/engine/error.h"
#include "cryptnode/engine/luks2.h"
#include "support/scratch.h"

using namespace cryptnode;
using namespace cryptnode::activation;
using cryptnode::testing::ScratchFile;

namespace {

Secret S(const char* s) {
  return Secret(std::string_view(s));
}

// Rewrites the JSON metadata of both LUKS2 header copies and their SHA-256 checksums (the binary
// header's csum field, at byte 448, covers the binary header with that field zeroed followed by
// the JSON area).
void edit_header_json(const std::string& path, const std::function<void(nlohmann::json&)>& edit) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  ASSERT_TRUE(f.good());
  uint64_t hdr_size = 0;
  for (int copy = 0; copy < 2; ++copy) {
    std::vector<unsigned char> hdr(4096);
    f.seekg(static_cast<std::streamoff>(copy * hdr_size));
    f.read(reinterpret_cast<char*>(hdr.data()), 4096);
    if (copy == 0)
      for (int i = 8; i < 16; ++i) hdr_size = hdr_size << 8 | hdr[i];
    ASSERT_GE(hdr_size, 16384u);
    std::string area(hdr_size - 4096, '\0');
    f.read(area.data(), static_cast<std::streamsize>(area.size()));
    auto j = nlohmann::json::parse(area.c_str());
    edit(j);
    std::string text = j.dump();
    ASSERT_LT(text.size(), area.size());
    text.resize(area.size(), '\0');
    std::memset(hdr.data() + 448, 0, 64);
    EVP_MD_CTX* c = EVP_MD_CTX_new();
    EVP_DigestInit_ex(c, EVP_sha256(), nullptr);
    EVP_DigestUpdate(c, hdr.data(), hdr.size());
    EVP_DigestUpdate(c, text.data(), text.size());
    EVP_DigestFinal_ex(c, hdr.data() + 448, nullptr);
    EVP_MD_CTX_free(c);
    f.seekp(static_cast<std::streamoff>(copy * hdr_size));
    f.write(reinterpret_cast<const char*>(hdr.data()), 4096);
    f.write(text.data(), static_cast<std::streamsize>(text.size()));
  }
  f.flush();
  ASSERT_TRUE(f.good());
}

bool mounted_under(const std::string& dir) {
  for (const auto& m : Env::posix().mounts())
    if (m.target.rfind(dir, 0) == 0) return true;
  return false;
}

struct BadInput : ::testing::Test {
  ScratchFile img{32 << 20};
  std::string runtime = img.dir() + "/run";
  void SetUp() override { luks2::Device::format(img.path(), 0, S("pw"), {}, Env::posix()); }
  void TearDown() override {
    EXPECT_FALSE(mounted_under(img.dir()));
    EXPECT_TRUE(Env::posix().loops_backed_under(img.dir()).empty());
    std::filesystem::remove_all(runtime);
  }
  // The error of opening img as <name>, which must fail.
  Error open_error(ActivationBackend& b, const std::string& name, const OpenOptions& o = {}) {
    try {
      b.open(img.path(), 0, S("pw"), name, o);
    } catch (const Error& e) {
      return e;
    }
    ADD_FAILURE() << "opened";
    return Error(Code::kInternal, "opened");
  }
};

}  // namespace

TEST_F(BadInput, AdiantumVolumeNeedsTheKernelBackend) {
  edit_header_json(img.path(), [](nlohmann::json& j) {
    j["segments"]["0"]["encryption"] = "xchacha12,aes-adiantum-plain64";
  });
  EXPECT_EQ(luks2::Device::load(img.path()).cipher(), "xchacha12,aes-adiantum-plain64");
  auto b = make_activation_backend("userspace", runtime, Env::posix());
  Error e = open_error(*b, "luks2-adiantum");
  EXPECT_EQ(e.code(), Code::kUnsupported);
  EXPECT_STREQ(e.what(),
               "luks2-adiantum: the userspace activation backend cannot serve cipher "
               "xchacha12,aes-adiantum-plain64 (only aes-xts-plain64); use the kernel backend");
  EXPECT_FALSE(b->is_open("luks2-adiantum"));
}

TEST_F(BadInput, SectorSizeTheBackendCannotServe) {
  // libcryptsetup loads any multiple of 512; dm-crypt and loop devices take 512..4096.
  edit_header_json(img.path(), [](nlohmann::json& j) { j["segments"]["0"]["sector_size"] = 8192; });
  EXPECT_EQ(luks2::Device::load(img.path()).sector_size(), 8192u);
  auto b = make_activation_backend("userspace", runtime, Env::posix());
  Error e = open_error(*b, "luks2-big");
  EXPECT_EQ(e.code(), Code::kUnsupported);
  EXPECT_STREQ(e.what(),
               "luks2-big: the userspace activation backend cannot serve sector size 8192 (512, "
               "1024, 2048 or 4096)");
}

TEST_F(BadInput, DataSegmentBeyondTheDevice) {
  edit_header_json(img.path(),
                   [](nlohmann::json& j) { j["segments"]["0"]["offset"] = "1073741824"; });
  auto b = make_activation_backend("userspace", runtime, Env::posix());
  Error e = open_error(*b, "luks2-far");
  EXPECT_EQ(e.code(), Code::kCorrupt);
  EXPECT_EQ(std::string(e.what()),
            "luks2-far: the LUKS2 data segment (offset 1073741824, size "
            "dynamic) lies beyond the end of " +
                img.path() + " (33554432 bytes)");
}

TEST_F(BadInput, FixedSizeSegmentLongerThanTheDevice) {
  edit_header_json(img.path(), [](nlohmann::json& j) { j["segments"]["0"]["size"] = "33554432"; });
  EXPECT_EQ(luks2::Device::load(img.path()).data_size(), 33554432u);
  auto b = make_activation_backend("userspace", runtime, Env::posix());
  Error e = open_error(*b, "luks2-long");
  EXPECT_EQ(e.code(), Code::kCorrupt);
  EXPECT_NE(std::string(e.what()).find("luks2-long: the LUKS2 data segment (offset 16777216, size "
                                       "33554432) lies beyond the end of"),
            std::string::npos)
      << e.what();
}

TEST_F(BadInput, FixedSizeSegmentIsServedAtItsSize) {
  edit_header_json(img.path(), [](nlohmann::json& j) { j["segments"]["0"]["size"] = "1048576"; });
  auto b = make_activation_backend("userspace", runtime, Env::posix());
  std::string dev = b->open(img.path(), 0, S("pw"), "luks2-fixed", {});
  EXPECT_EQ(Env::posix().open_block(dev, false)->size(), 1048576u);
  b->close("luks2-fixed");
}

TEST_F(BadInput, UnknownPerfOption) {
  auto b = make_activation_backend("userspace", runtime, Env::posix());
  OpenOptions o;
  o.perf_options = {"no_read_workqueue", "fast_please"};
  Error e = open_error(*b, "luks2-perf", o);
  EXPECT_EQ(e.code(), Code::kInvalidArgument);
  EXPECT_STREQ(e.what(), "invalid luks performance options: invalid perf option fast_please");
  o.perf_options = {"no_read_workqueue", "no_write_workqueue", "same_cpu_crypt"};
  EXPECT_NO_THROW(b->open(img.path(), 0, S("pw"), "luks2-perf", o));
  b->close("luks2-perf");
}

TEST_F(BadInput, FailedLoopAttachLeavesNothingMounted) {
  struct NoLoops : EnvWrapper {
    using EnvWrapper::EnvWrapper;
    std::unique_ptr<LoopDevice> attach_loop(const std::string& file, uint32_t, bool,
                                            bool) override {
      throw Error(Code::kIO, "cannot attach a loop device to " + file + ": no free loop device");
    }
  } env(Env::posix());
  auto b = make_activation_backend("userspace", runtime, env);
  Error e = open_error(*b, "luks2-noloop");
  EXPECT_EQ(e.code(), Code::kIO);
  EXPECT_FALSE(b->is_open("luks2-noloop"));
  EXPECT_FALSE(mounted_under(runtime));
}

TEST_F(BadInput, AFailedOpenLeavesTheOthersServed) {
  ScratchFile good(32 << 20);
  luks2::Device::format(good.path(), 0, S("pw"), {}, Env::posix());
  edit_header_json(img.path(), [](nlohmann::json& j) { j["segments"]["0"]["sector_size"] = 1536; });
  auto b = make_activation_backend("userspace", runtime, Env::posix());
  std::string dev = b->open(good.path(), 0, S("pw"), "luks2-good", {});
  Error e = open_error(*b, "luks2-bad");
  EXPECT_EQ(e.code(), Code::kUnsupported);
  EXPECT_EQ(b->open_names(), std::vector<std::string>{"luks2-good"});
  EXPECT_EQ(Env::posix().loops_backed_under(runtime + "/").size(), 1u);
  EXPECT_EQ(Env::posix().open_block(dev, false)->size(), (32u << 20) - (16u << 20));
  b->close("luks2-good");
}
