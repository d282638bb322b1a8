// META: the Talos ADV codec against the vectors of docs/disk-layout.md#the-talos-adv, both copies
// and their fallback, the legacy area, and tag 0x09's JSON against
// docs/talos/volume-lifecycle.md#state-and-meta's examples.
#include <gtest/gtest.h>
#include <openssl/sha.h>

#include <cstring>

#include "cryptnode/engine/config.h"
#include "cryptnode/engine/error.h"
#include "cryptnode/engine/meta.h"
#include "cryptnode/engine/state_encryption_meta.h"

using namespace cryptnode;
using namespace cryptnode::meta;

namespace {

std::string hex(const unsigned char* p, size_t n) {
  static const char h[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < n; ++i) out += {h[p[i] >> 4], h[p[i] & 15]};
  return out;
}

std::string checksum_field(const std::string& copy) {
  return hex(reinterpret_cast<const unsigned char*>(copy.data()) + kADVLength - 36, 32);
}

std::string sha256(const std::string& s) {
  unsigned char d[32];
  SHA256(reinterpret_cast<const unsigned char*>(s.data()), s.size(), d);
  return hex(d, 32);
}

// An in-memory BlockDevice with a fault hook.
class MemDevice : public BlockDevice {
 public:
  explicit MemDevice(size_t size) : bytes(size, '\0') {}
  std::string bytes;
  int syncs = 0;
  const std::string& path() const override { return path_; }
  uint64_t size() const override { return bytes.size(); }
  void read_at(uint64_t off, void* buf, size_t len) override {
    std::memcpy(buf, bytes.data() + off, len);
  }
  void write_at(uint64_t off, const void* buf, size_t len) override {
    std::memcpy(bytes.data() + off, buf, len);
  }
  void sync() override { ++syncs; }

 private:
  std::string path_ = "mem:META";
};

struct CrashEnv : EnvWrapper {
  CrashEnv() : EnvWrapper(Env::posix()) {}
  std::string crash_at;
  void on_fault_point(std::string_view name) override {
    if (name == crash_at) throw Error(Code::kIO, "injected crash at " + std::string(name));
  }
};

}  // namespace

TEST(ADV, EmptyVector) {
  std::string copy = ADV().marshal();
  ASSERT_EQ(copy.size(), kADVLength);
  EXPECT_EQ(checksum_field(copy),
            "e7a327df2cfb2c3010ac1a387e9573d46ea52cac7f25db80ad8fbb41aceabf70");
  EXPECT_EQ(sha256(copy), "befee9ff7877356cbac0a6fe13544c0182d13773281cdf00576a906f2a2ec155");
}

TEST(ADV, InstallFastVector) {
  ADV adv;
  ASSERT_TRUE(adv.set(0x08, "install-fast"));
  std::string copy = adv.marshal();
  EXPECT_EQ(checksum_field(copy),
            "54dc79ae67c37a188e4825ee7b7bda89b32b22208d82678ef184c481b531690e");
  EXPECT_EQ(sha256(copy), "1f865eced1552e3c56e26e5905d3e23b5268c45cb200d22cbdd4661364e34650");
  EXPECT_EQ(hex(reinterpret_cast<const unsigned char*>(copy.data()), 24),
            "5a4b3c2d000000080000000c696e7374616c6c2d66617374");
  EXPECT_EQ(ADV::unmarshal(copy).get(0x08), "install-fast");
}

TEST(ADV, TwoTagsVector) {
  ADV adv;
  adv.set(0x06, "1.2.3");
  adv.set(0x0c, "hello");
  std::string copy = adv.marshal();
  EXPECT_EQ(checksum_field(copy),
            "8d213f0da4e6edb44dd30bb50f6e9632e984c07e1abdb1ce1ed9bf788f650fc1");
  EXPECT_EQ(sha256(copy), "8c028ab43c5bcc8b25b067061e8cea9b54d4c9edee1c666b5cf4f1bed640a7b4");
}

TEST(ADV, CorruptionIsDetected) {
  ADV adv;
  adv.set(0x09, "x");
  std::string copy = adv.marshal();
  std::string bad = copy;
  bad[100] ^= 1;
  EXPECT_THROW(
      {
        try {
          ADV::unmarshal(bad);
        } catch (const Error& e) {
          EXPECT_STREQ(e.what(), "adv: checksum mismatch");
          throw;
        }
      },
      Error);
  bad = copy;
  bad[0] = 0;
  try {
    ADV::unmarshal(bad);
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "adv: unexpected magic");
  }
}

TEST(ADV, SizeRule) {
  ADV adv;
  EXPECT_TRUE(adv.set(1, std::string(262084, 'a')));  // the largest single value
  EXPECT_FALSE(adv.set(2, std::string(1, 'b')));      // does not fit any more
  EXPECT_EQ(adv.tags().size(), 1u);
  ADV big;
  EXPECT_FALSE(big.set(1, std::string(262085, 'a')));
  EXPECT_NO_THROW(adv.marshal());
}

TEST(Meta, FallsBackToSecondCopyAndKeepsLegacyArea) {
  MemDevice dev(kMetaPartitionSize);
  Meta m;
  m.adv.set(kUUIDOverride, "12345678-1234-5678-1234-567812345678");
  m.legacy = std::string(kLegacyADVSize, 'L');
  m.write(dev, Env::posix());
  EXPECT_EQ(dev.syncs, 1);
  EXPECT_EQ(dev.bytes.substr(0, kADVLength), dev.bytes.substr(kADVLength, kADVLength));

  dev.bytes[10] ^= 0x40;  // damage copy 1
  Meta r = Meta::read(dev);
  EXPECT_EQ(r.copy_used, 2);
  ASSERT_EQ(r.problems.size(), 1u);
  EXPECT_EQ(r.problems[0], "copy 1: adv: checksum mismatch");
  EXPECT_EQ(r.adv.get(kUUIDOverride), "12345678-1234-5678-1234-567812345678");
  EXPECT_EQ(r.legacy, std::string(kLegacyADVSize, 'L'));
}

TEST(Meta, BothCopiesDamaged) {
  MemDevice dev(kMetaPartitionSize);
  Meta m;
  m.adv.set(kStateEncryptionConfig, "null");
  m.write(dev, Env::posix());
  dev.bytes[10] ^= 1;
  dev.bytes[kADVLength + 10] ^= 1;
  try {
    Meta::read(dev);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Code::kCorrupt);
    EXPECT_STREQ(e.what(),
                 "META: both ADV copies are damaged: copy 1: adv: checksum mismatch; copy 2: adv: "
                 "checksum mismatch");
  }
  Meta loaded = Meta::load(dev);  // Talos ignores the error: empty
  EXPECT_EQ(loaded.copy_used, 0);
  EXPECT_TRUE(loaded.adv.tags().empty());
  EXPECT_EQ(loaded.problems.size(), 2u);
}

TEST(Meta, AllZeroPartitionLoadsEmpty) {
  MemDevice dev(kMetaPartitionSize);
  EXPECT_TRUE(Meta::load(dev).adv.tags().empty());
  EXPECT_THROW(Meta::read(dev), Error);
}

TEST(Meta, CrashBetweenCopiesLeavesOneGoodCopy) {
  MemDevice dev(kMetaPartitionSize);
  Meta first;
  first.adv.set(kStateEncryptionConfig, "old");
  first.write(dev, Env::posix());
  Meta second;
  second.adv.set(kStateEncryptionConfig, "new");
  CrashEnv env;
  env.crash_at = "meta.between_copies";
  EXPECT_THROW(second.write(dev, env), Error);
  Meta r = Meta::read(dev);
  EXPECT_EQ(r.copy_used, 1);
  EXPECT_EQ(r.adv.get(kStateEncryptionConfig), "new");
  // Copy 2 still holds the old, valid value.
  EXPECT_EQ(ADV::unmarshal(dev.bytes.substr(kADVLength, kADVLength)).get(kStateEncryptionConfig),
            "old");
}

TEST(Meta, TooSmallPartition) {
  MemDevice dev(4096);
  EXPECT_THROW(Meta::read(dev), Error);
}

// --- tag 0x09 ------------------------------------------------------------------------------------

TEST(StateEncryptionMeta, ModernExampleExact) {
  const std::string expected =
      R"({"EncryptionProvider":"luks2","EncryptionKeys":[{"KeySlot":0,"KeyStatic":{"KeyData":"secret"},"KeyNodeID":null,"KeyKMS":null,"KeyTPM":null,"KeyLockToSTATE":null},{"KeySlot":0,"KeyStatic":null,"KeyNodeID":{},"KeyKMS":null,"KeyTPM":null,"KeyLockToSTATE":null}],"EncryptionCipher":"aes-xts-plain64","EncryptionKeySize":0,"EncryptionBlockSize":0,"EncryptionPerfOptions":null,"EncryptionAllowDiscards":null})";
  auto spec = unmarshal_state_encryption(expected);
  ASSERT_TRUE(spec);
  EXPECT_FALSE(spec->legacy);
  ASSERT_EQ(spec->keys.size(), 2u);
  EXPECT_EQ(spec->keys[0].static_key->passphrase, Secret(std::string_view("secret")));
  EXPECT_TRUE(spec->keys[1].node_id);
  EXPECT_EQ(marshal_state_encryption(spec), expected);
}

TEST(StateEncryptionMeta, LegacyExampleExact) {
  const std::string expected =
      R"({"EncryptionProvider":"","EncryptionKeys":[{"KeyStatic":{"KeyData":"secret"},"KeyNodeID":null,"KeyKMS":null,"KeySlot":0,"KeyTPM":null}],"EncryptionCipher":"aes-xts-plain64","EncryptionKeySize":0,"EncryptionBlockSize":0,"EncryptionPerfOptions":null})";
  auto spec = unmarshal_state_encryption(expected);  // #11502: provider "" is not a valid value
  ASSERT_TRUE(spec);
  EXPECT_TRUE(spec->legacy);
  EXPECT_TRUE(spec->enabled());
  EXPECT_EQ(marshal_state_encryption(spec), expected);
}

TEST(StateEncryptionMeta, FromConfigWithTPMAndKMS) {
  auto cfg = config::MachineConfig::parse(
      "apiVersion: v1alpha1\nkind: VolumeConfig\nname: STATE\nencryption:\n  provider: luks2\n"
      "  keys:\n    - slot: 0\n      tpm:\n        options:\n          pcrs: [0, 7]\n"
      "        checkSecurebootStatusOnEnroll: true\n    - slot: 1\n      kms:\n"
      "        endpoint: grpc://127.0.0.1:4050\n    - slot: 2\n      tpm: {}\n");
  std::string j = marshal_state_encryption(cfg.encryption_for("STATE"));
  EXPECT_NE(
      j.find(R"("KeyTPM":{"TPMOptions":{"PCRs":[0,7]},"TPMCheckSecurebootStatusOnEnroll":true})"),
      std::string::npos);
  EXPECT_NE(j.find(R"("KeyKMS":{"KMSEndpoint":"grpc://127.0.0.1:4050"})"), std::string::npos);
  EXPECT_NE(j.find(R"("KeyTPM":{"TPMOptions":null,"TPMCheckSecurebootStatusOnEnroll":null})"),
            std::string::npos);
  EXPECT_EQ(marshal_state_encryption(unmarshal_state_encryption(j)), j);
}

TEST(StateEncryptionMeta, NullAndGarbage) {
  EXPECT_EQ(marshal_state_encryption(std::nullopt), "null");
  EXPECT_FALSE(unmarshal_state_encryption("null"));
  EXPECT_THROW(unmarshal_state_encryption("{not json"), Error);
  EXPECT_THROW(unmarshal_state_encryption("[1]"), Error);
}

TEST(StateEncryptionMeta, GoStringEscaping) {
  EXPECT_EQ(go_json_string("a<b>&\"\\\n\x01"), R"("a\u003cb\u003e\u0026\"\\\n\u0001")");
  EXPECT_EQ(go_json_string("\xe2\x80\xa8"), R"("\u2028")");
  EXPECT_EQ(go_json_string("\xff"), R"("\ufffd")");
  EXPECT_EQ(go_json_string("h\xc3\xa9"), "\"h\xc3\xa9\"");
}
