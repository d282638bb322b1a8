// The LUKS2 layer on real loop devices and files, with the cryptsetup CLI as an independent reader
// (docs/talos/luks2.md), and Talos' header validation with its exact texts.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cryptnode/engine/error.h"
#include "cryptnode/engine/header_validation.h"
#include "cryptnode/engine/luks2.h"
#include "support/scratch.h"

using namespace cryptnode;
using namespace cryptnode::luks2;
using cryptnode::testing::cli_opens;
using cryptnode::testing::run;
using cryptnode::testing::ScratchFile;
using cryptnode::testing::ScratchLoop;

namespace {

constexpr uint64_t kSize = 32 << 20;
Secret S(const char* s) {
  return Secret(std::string_view(s));
}

void patch(const std::string& path, uint64_t off, const std::string& bytes) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(static_cast<std::streamoff>(off));
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string header_error(const std::string& path) {
  try {
    validate_header(path, Env::posix());
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(Luks2, FormatWithTalosParametersOnALoopDevice) {
  ScratchFile img(kSize);
  ScratchLoop loop(img.path());
  Device d = Device::format(loop.path(), 0, S("first"), {}, Env::posix());
  EXPECT_EQ(d.cipher(), "aes-xts-plain64");
  EXPECT_EQ(d.volume_key_bits(), 512);
  EXPECT_EQ(d.sector_size(), 512u);
  auto slots = d.keyslots();
  ASSERT_EQ(slots.size(), 1u);
  EXPECT_EQ(slots[0].kdf, "argon2id");
  // Independent reader: the cryptsetup CLI.
  auto dump = run({"cryptsetup", "luksDump", loop.path()});
  ASSERT_EQ(dump.status, 0) << dump.output;
  EXPECT_NE(dump.output.find("Version:       \t2"), std::string::npos) << dump.output;
  EXPECT_NE(dump.output.find("aes-xts-plain64"), std::string::npos);
  EXPECT_NE(dump.output.find("PBKDF:      argon2id"), std::string::npos);
  EXPECT_TRUE(cli_opens(loop.path(), 0, "first"));
  EXPECT_FALSE(cli_opens(loop.path(), 0, "wrong"));
  EXPECT_NO_THROW(validate_header(loop.path(), Env::posix()));
}

TEST(Luks2, CipherKeySizeAndSectorSizeAreHonoured) {
  ScratchFile img(kSize);
  FormatOptions o;
  o.key_size_bits = 256;
  o.sector_size = 4096;
  Device d = Device::format(img.path(), 3, S("k"), o, Env::posix());
  EXPECT_EQ(d.volume_key_bits(), 256);
  EXPECT_EQ(d.sector_size(), 4096u);
  auto dump = run({"cryptsetup", "luksDump", img.path()});
  EXPECT_NE(dump.output.find("sector: 4096"), std::string::npos) << dump.output;
  EXPECT_TRUE(cli_opens(img.path(), 3, "k"));
  FormatOptions bad;
  bad.cipher = "serpent-cbc-essiv";
  ScratchFile img2(kSize);
  try {
    Device::format(img2.path(), 0, S("k"), bad, Env::posix());
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "failed to parse cipher kind: unknown cipher kind serpent-cbc-essiv");
  }
}

TEST(Luks2, AddTestKillKeyslots) {
  ScratchFile img(kSize);
  ScratchLoop loop(img.path());
  Device d = Device::format(loop.path(), 0, S("zero"), {}, Env::posix());
  d.add_key(2, S("zero"), S("two"), Pbkdf::kFast);
  EXPECT_EQ(d.keyslots().size(), 2u);
  EXPECT_NO_THROW(d.test_key(2, S("two")));
  EXPECT_FALSE(d.check_key(0, S("two")));  // each key only against its own slot
  try {
    d.test_key(2, S("nope"));
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Code::kKeyRejected);
    EXPECT_STREQ(e.what(), "encryption key rejected");
  }
  try {
    d.add_key(5, S("wrong"), S("five"), Pbkdf::kFast);
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "encryption key rejected");
  }
  d.kill_slot(0);
  EXPECT_EQ(d.keyslots().count(0), 0u);
  EXPECT_TRUE(cli_opens(loop.path(), 2, "two"));
  EXPECT_FALSE(cli_opens(loop.path(), 0, "zero"));
}

TEST(Luks2, TokensInTalosShape) {
  ScratchFile img(kSize);
  Device d = Device::format(img.path(), 1, S("k"), {}, Env::posix());
  const std::string tok =
      R"({"type":"sideroKMS","keyslots":[],"UserData":{"sealedData":"c2VhbGVk"}})";
  d.set_token(1, tok);
  auto got = d.token(1);
  ASSERT_TRUE(got);
  auto j = nlohmann::json::parse(*got);
  EXPECT_EQ(j["type"], "sideroKMS");
  EXPECT_EQ(j["UserData"]["sealedData"], "c2VhbGVk");
  EXPECT_TRUE(j["keyslots"].empty());
  d.set_token(1, R"({"type":"talos-tpm2","keyslots":[],"UserData":{"keyslots":[1]}})");  // replace
  EXPECT_EQ(nlohmann::json::parse(*d.token(1))["type"], "talos-tpm2");
  auto cli = run({"cryptsetup", "token", "export", "--token-id", "1", img.path()});
  ASSERT_EQ(cli.status, 0) << cli.output;
  EXPECT_EQ(nlohmann::json::parse(cli.output)["type"], "talos-tpm2");
  d.remove_token(1);
  EXPECT_FALSE(d.token(1));
  EXPECT_NO_THROW(d.remove_token(1));  // not-found is ignored
  EXPECT_TRUE(d.tokens().empty());
}

TEST(Luks2, VolumeKeyMatchesCryptsetup) {
  ScratchFile img(kSize);
  Device d = Device::format(img.path(), 0, S("vk"), {}, Env::posix());
  Secret vk = d.volume_key(0, S("vk"));
  EXPECT_EQ(vk.size(), 64u);
  auto cli = run({"cryptsetup", "luksDump", "--dump-volume-key", "--batch-mode", "--key-file", "-",
                  img.path()},
                 "vk");
  ASSERT_EQ(cli.status, 0) << cli.output;
  static const char hex[] = "0123456789abcdef";
  std::string first;
  for (int i = 0; i < 4; ++i) first += {hex[vk.data()[i] >> 4], hex[vk.data()[i] & 15], ' '};
  EXPECT_NE(cli.output.find(first), std::string::npos);
  EXPECT_THROW(d.volume_key(0, S("bad")), Error);
}

TEST(Luks2, WipeHeaderRemovesTheSignature) {
  ScratchFile img(kSize);
  { Device::format(img.path(), 0, S("k"), {}, Env::posix()); }
  wipe_header(img.path(), Env::posix());
  EXPECT_NE(run({"cryptsetup", "isLuks", img.path()}).status, 0);
  try {
    Device::load(img.path());
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Code::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("is not a LUKS2 device"), std::string::npos);
  }
}

TEST(Luks2, ProductionPbkdfIsCryptsetupsDefault) {
  // The one test with the production PBKDF (argon2id benchmarked by cryptsetup, as Talos gets).
  ScratchFile img(kSize);
  FormatOptions o;
  o.pbkdf = Pbkdf::kProduction;
  Device d = Device::format(img.path(), 0, S("prod"), o, Env::posix());
  auto dump = run({"cryptsetup", "luksDump", "--dump-json-metadata", img.path()});
  ASSERT_EQ(dump.status, 0);
  auto kdf = nlohmann::json::parse(dump.output)["keyslots"]["0"]["kdf"];
  EXPECT_EQ(kdf["type"], "argon2id");
  EXPECT_GT(kdf["memory"].get<int>(), 32);  // benchmarked, far above the fast profile's 32 KiB
  EXPECT_TRUE(d.check_key(0, S("prod")));
}

// --- the one cipher and perf-option list, libcryptsetup's log, activation -----------------------

TEST(Luks2, CipherAndPerfOptionTables) {
  ASSERT_NE(find_cipher("aes-xts-plain64"), nullptr);
  EXPECT_EQ(find_cipher("aes-xts-plain64")->default_key_bits, 512u);
  EXPECT_TRUE(find_cipher("aes-xts-plain64")->userspace);
  for (const char* c : {"xchacha12,aes-adiantum-plain64", "xchacha20,aes-adiantum-plain64"}) {
    ASSERT_NE(find_cipher(c), nullptr) << c;
    EXPECT_EQ(find_cipher(c)->default_key_bits, 256u);
    EXPECT_FALSE(find_cipher(c)->userspace);
  }
  EXPECT_EQ(find_cipher(""), nullptr);
  try {
    parse_cipher("aes-cbc-essiv:sha256");
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "unknown cipher kind aes-cbc-essiv:sha256");
  }
  EXPECT_EQ(perf_flags({}), 0u);
  EXPECT_EQ(perf_flags({"no_read_workqueue", "no_write_workqueue", "same_cpu_crypt"}),
            (1u << 24) | (1u << 25) | (1u << 6));
  try {
    perf_flags({"same_cpu_crypt", "submit_from_crypt_cpus"});
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Code::kInvalidArgument);
    EXPECT_STREQ(e.what(), "invalid perf option submit_from_crypt_cpus");
  }
}

TEST(Luks2, FormatValidatesPerfOptionsAndSizesTheSegment) {
  ScratchFile img(kSize);
  FormatOptions o;
  o.perf_options = {"no_read_workqueue", "fast_please"};
  try {
    Device::format(img.path(), 0, S("k"), o, Env::posix());
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "invalid luks performance options: invalid perf option fast_please");
  }
  EXPECT_NE(run({"cryptsetup", "isLuks", img.path()}).status, 0);  // nothing written
  o.perf_options = {"no_read_workqueue", "same_cpu_crypt"};
  Device d = Device::format(img.path(), 0, S("k"), o, Env::posix());
  EXPECT_EQ(d.data_size(), std::nullopt);  // dynamic: to the end of the device
  EXPECT_EQ(d.data_offset(), 16u << 20);
}

TEST(Luks2, LibcryptsetupLogGoesToTheSinkNeverToStderr) {
  ScratchFile img(kSize);
  { Device::format(img.path(), 0, S("k"), {}, Env::posix()); }
  std::vector<std::pair<LogLevel, std::string>> lines;
  Device d = Device::load(
      img.path(), [&](LogLevel l, const std::string& line) { lines.emplace_back(l, line); });
  EXPECT_THROW(d.kill_slot(40), Error);
  ASSERT_FALSE(lines.empty());
  EXPECT_EQ(lines.back().first, LogLevel::kError);
  EXPECT_EQ(lines.back().second, "Key slot 40 is invalid.");  // no trailing newline
  Device moved = std::move(d);                                // the sink moves with the device
  lines.clear();
  EXPECT_THROW(moved.kill_slot(41), Error);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0].second, "Key slot 41 is invalid.");
  EXPECT_FALSE(moved.check_key(0, S("wrong")));
  for (const auto& [l, line] : lines) EXPECT_EQ(line.find("wrong"), std::string::npos);

  // Without a sink: dropped, where libcryptsetup would print it to stderr.
  ::testing::internal::CaptureStderr();
  {
    Device quiet = Device::load(img.path());
    EXPECT_THROW(quiet.kill_slot(40), Error);
    EXPECT_THROW(Device::load(img.dir() + "/absent.img"), Error);
  }
  EXPECT_EQ(::testing::internal::GetCapturedStderr(), "");
}

TEST(Luks2, ActivateThroughTheDevice) {
  ScratchFile img(kSize);
  ScratchLoop loop(img.path());
  { Device::format(loop.path(), 0, S("k"), {}, Env::posix()); }
  std::vector<std::string> lines;
  Device d = Device::load(loop.path(), [&](LogLevel, const std::string& l) { lines.push_back(l); });
  ActivateOptions bad;
  bad.perf_options = {"fast_please"};
  try {
    d.activate("luks2-act-test", 0, S("k"), bad);
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "invalid luks performance options: invalid perf option fast_please");
  }
  EXPECT_FALSE(Device::active("luks2-act-test"));
  EXPECT_NO_THROW(Device::deactivate("luks2-act-test"));  // not active: not an error
  ActivateOptions o;
  o.perf_options = {"no_read_workqueue", "no_write_workqueue"};
  std::ifstream misc("/proc/misc");
  const std::string devices((std::istreambuf_iterator<char>(misc)),
                            std::istreambuf_iterator<char>());
  if (!std::filesystem::exists("/dev/mapper/control") ||
      devices.find("device-mapper") == std::string::npos) {  // no device-mapper on this host
    try {
      d.activate("luks2-act-test", 0, S("k"), o);
      FAIL();
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), Code::kIO);
      EXPECT_NE(std::string(e.what()).find("luks2-act-test"), std::string::npos) << e.what();
    }
    EXPECT_FALSE(lines.empty());  // libcryptsetup said why, into the sink
    return;
  }
  try {
    d.activate("luks2-act-test", 0, S("wrong"), o);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Code::kKeyRejected);
  }
  d.activate("luks2-act-test", 0, S("k"), o);
  EXPECT_TRUE(Device::active("luks2-act-test"));
  EXPECT_THROW(d.activate("luks2-act-test", 0, S("k"), o), Error);
  Device::deactivate("luks2-act-test");
  EXPECT_FALSE(Device::active("luks2-act-test"));
}

// --- bad input ---------------------------------------------------------------------------------

TEST(Luks2BadInput, NotLuks) {
  ScratchFile img(kSize);
  EXPECT_THROW(Device::load(img.path()), Error);
  EXPECT_EQ(header_error(img.path()),
            "invalid LUKS2 header magic (is \"" + img.path() + "\" a LUKS device?)");
}

TEST(Luks2BadInput, TruncatedDevice) {
  ScratchFile img(kSize);
  { Device::format(img.path(), 0, S("k"), {}, Env::posix()); }
  ASSERT_EQ(::truncate(img.path().c_str(), 12288), 0);  // the secondary header is gone
  EXPECT_NE(header_error(img.path()), "");
  try {
    Device d = Device::load(img.path());
    EXPECT_FALSE(d.check_key(0, S("k")));  // keyslot area missing: no crash, no unlock
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()), "");
  }
}

TEST(Luks2BadInput, CorruptedPrimaryJsonWithSameSeqid) {
  ScratchFile img(kSize);
  { Device::format(img.path(), 0, S("k"), {}, Env::posix()); }
  patch(img.path(), 4096 + 2, "X");  // damage the primary JSON area
  EXPECT_EQ(header_error(img.path()), "LUKS2 headers have the same seqid but different JSON areas");
  // libcryptsetup itself still opens it from the secondary copy; the secondary is untouched.
  EXPECT_TRUE(cli_opens(img.path(), 0, "k"));
}

TEST(Luks2BadInput, CorruptedSecondaryCopy) {
  ScratchFile img(kSize);
  { Device::format(img.path(), 0, S("k"), {}, Env::posix()); }
  patch(img.path(), 16384 + 4096 + 5, "Y");
  EXPECT_EQ(header_error(img.path()), "LUKS2 headers have the same seqid but different JSON areas");
  EXPECT_TRUE(cli_opens(img.path(), 0, "k"));  // the primary still works
}

TEST(Luks2BadInput, Pbkdf2KeyslotIsRejectedByHeaderValidation) {
  ScratchFile img(kSize);
  auto r = run({"cryptsetup", "luksFormat", "--batch-mode", "--type", "luks2", "--pbkdf", "pbkdf2",
                "--pbkdf-force-iterations", "1000", "--key-file", "-", img.path()},
               "k");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(header_error(img.path()),
            "LUKS2 header validation error: keyslot 0 has unexpected KDF type \"pbkdf2\"");
}

TEST(Luks2BadInput, Argon2iKeyslotIsAccepted) {
  // go-blockdevice#156: keyslots from Talos < 1.3 (cryptsetup <= 2.3) use argon2i.
  ScratchFile img(kSize);
  auto r =
      run({"cryptsetup", "luksFormat", "--batch-mode", "--type", "luks2", "--pbkdf", "argon2i",
           "--pbkdf-force-iterations", "4", "--pbkdf-memory", "32", "--key-file", "-", img.path()},
          "k");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(header_error(img.path()), "");
}

TEST(Luks2BadInput, SegmentFlagsAreRejected) {
  // A persistent allow-discards flag: written into both JSON areas (same seqid, same JSON), as
  // `cryptsetup refresh --persistent --allow-discards` would.
  ScratchFile img(kSize);
  { Device::format(img.path(), 0, S("k"), {}, Env::posix()); }
  std::string area(16384 - 4096, '\0');
  {
    std::ifstream f(img.path(), std::ios::binary);
    f.seekg(4096);
    f.read(area.data(), static_cast<std::streamsize>(area.size()));
  }
  auto j = nlohmann::json::parse(area.c_str());
  j["segments"]["0"]["flags"] = {"allow-discards"};
  std::string text = j.dump();
  text.resize(area.size(), '\0');
  patch(img.path(), 4096, text);
  patch(img.path(), 16384 + 4096, text);
  EXPECT_EQ(header_error(img.path()),
            "LUKS2 header validation error: segment 0 has unexpected flags: [allow-discards]");
}

TEST(Luks2BadInput, WrongPassphraseLeavesOtherSlotsUntouched) {
  ScratchFile img(kSize);
  Device d = Device::format(img.path(), 0, S("a"), {}, Env::posix());
  d.add_key(1, S("a"), S("b"), Pbkdf::kFast);
  EXPECT_THROW(d.test_key(1, S("a")), Error);
  EXPECT_THROW(d.add_key(2, S("zzz"), S("c"), Pbkdf::kFast), Error);
  EXPECT_TRUE(cli_opens(img.path(), 0, "a"));
  EXPECT_TRUE(cli_opens(img.path(), 1, "b"));
  EXPECT_EQ(d.keyslots().size(), 2u);
}
