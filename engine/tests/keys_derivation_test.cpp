// Key derivation per kind (docs/talos/keys.md) with Talos' test vectors (nodeid_test.go,
// salted_test.go, encryption_salt_test.go) and the salt file format.
#include <gtest/gtest.h>

#include <algorithm>

#include "cryptnode/engine/error.h"
#include "cryptnode/engine/keys/encryption_salt.h"
#include "cryptnode/engine/keys/key_handler.h"

using namespace cryptnode;
using namespace cryptnode::keys;

namespace {
Secret S(std::string_view s) {
  return Secret(s);
}
std::string str(const Secret& s) {
  return std::string(s.view());
}
}  // namespace

TEST(StaticKey, PassphraseVerbatim) {
  auto h = make_static_handler(3, S("topsecret"));
  EXPECT_EQ(h->slot(), 3);
  EXPECT_EQ(h->go_type(), "*keys.StaticKeyHandler");
  EXPECT_EQ(str(h->new_key().passphrase), "topsecret");
  EXPECT_FALSE(h->new_key().token_json);
  EXPECT_EQ(str(h->get_key(std::nullopt)), "topsecret");
}

TEST(NodeIDKey, TalosVector) {
  auto h = make_node_id_handler(
      0, [] { return "12345678-1234-5678-1234-567812345678"; }, "test");
  EXPECT_EQ(str(h->new_key().passphrase), "12345678-1234-5678-1234-567812345678test");
  EXPECT_EQ(str(h->get_key(std::nullopt)), "12345678-1234-5678-1234-567812345678test");
  EXPECT_EQ(h->go_type(), "*keys.NodeIDKeyHandler");
}

TEST(NodeIDKey, SuffixIsTheVolumeID) {
  EXPECT_EQ(str(node_id_passphrase("12345678-1234-5678-1234-567812345678", "u-data")),
            "12345678-1234-5678-1234-567812345678u-data");
}

TEST(NodeIDKey, EntropyCheckFails) {
  auto h = make_node_id_handler(
      0, [] { return "11111111-0000-1111-1111-111111111111"; }, "test");
  try {
    h->new_key();
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(),
                 "machine UUID 11111111-0000-1111-1111-111111111111 entropy check failed");
  }
}

TEST(NodeIDKey, EntropyBoundaryIsHalfTheLength) {
  // 36 characters: a rune may occur 18 times, not 19.
  std::string ok(18, 'a'), bad(19, 'a');
  ok += "bcdefghijklmnopqrs";
  bad += "bcdefghijklmnopqr";
  ASSERT_EQ(ok.size(), 36u);
  ASSERT_EQ(bad.size(), 36u);
  EXPECT_NO_THROW(check_uuid_entropy(ok));
  EXPECT_THROW(check_uuid_entropy(bad), Error);
}

TEST(NodeIDKey, EmptyUUID) {
  try {
    node_id_passphrase("", "STATE");
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "machine UUID is not populated ");  // sic: trailing space
  }
}

TEST(SaltedKey, TalosVector) {
  auto h = make_salted_handler(make_static_handler(0, S("topsecret")), [] { return S("salted"); });
  EXPECT_EQ(str(h->new_key().passphrase), "topsecretsalted");
  EXPECT_EQ(str(h->get_key(std::nullopt)), "topsecretsalted");
  EXPECT_EQ(h->go_type(), "*keys.SaltedHandler");
  EXPECT_TRUE(h->locked_to_state());
  EXPECT_EQ(h->type(), config::KeyType::kStatic);
}

TEST(SaltedKey, RawBinarySaltIncludingNewlines) {
  uint8_t raw[] = {0x0a, 0x00, 0xff, 0x0a};
  auto h = make_salted_handler(make_static_handler(0, S("k")), [&] { return Secret(raw, 4); });
  Secret k = h->get_key(std::nullopt);
  ASSERT_EQ(k.size(), 5u);
  EXPECT_EQ(k.data()[1], 0x0a);
  EXPECT_EQ(k.data()[2], 0x00);
}

TEST(SaltedKey, SaltNotAvailable) {
  auto h = make_salted_handler(make_static_handler(0, S("k")), []() -> Secret {
    throw Error(Code::kFailedPrecondition, "encryption salt not available", true);
  });
  try {
    h->get_key(std::nullopt);
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "failed to get disk encryption key salt: encryption salt not available");
    EXPECT_TRUE(e.retryable());
  }
}

TEST(EncryptionSalt, YamlShapeRoundTrip) {
  uint8_t raw[32];
  for (int i = 0; i < 32; ++i) raw[i] = static_cast<uint8_t>(240 - i * 7);
  Secret salt(raw, 32);
  std::string yaml(marshal_salt_yaml(salt).view());
  EXPECT_EQ(yaml.rfind("diskSalt:\n    - 240\n    - 233\n", 0), 0u);
  EXPECT_EQ(std::count(yaml.begin(), yaml.end(), '\n'), 33);
  EXPECT_EQ(parse_salt_yaml(yaml), salt);
}

TEST(EncryptionSalt, Generate) {
  struct Counter : RandomSource {
    uint8_t n = 1;
    void fill(uint8_t* out, size_t len) override {
      for (size_t i = 0; i < len; ++i) out[i] = n++;
    }
  } rnd;
  Secret s = generate_salt(rnd);
  EXPECT_EQ(s.size(), 32u);
  EXPECT_EQ(s.data()[31], 32);
  EXPECT_EQ(salt_checksum(s).size(), 64u);
  EXPECT_NE(salt_checksum(s), salt_checksum(generate_salt(rnd)));
}

TEST(EncryptionSalt, BadFiles) {
  EXPECT_THROW(parse_salt_yaml("nothing: here\n"), Error);
  EXPECT_THROW(parse_salt_yaml("diskSalt:\n    - 256\n"), Error);
  EXPECT_THROW(parse_salt_yaml("diskSalt:\n    - 1\n"), Error);  // too short
  std::string zeros = "diskSalt:\n";
  for (int i = 0; i < 32; ++i) zeros += "    - 0\n";
  try {
    parse_salt_yaml(zeros);
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "value of \"encryption-salt.yaml\" is still zero after unmarshaling");
  }
}
