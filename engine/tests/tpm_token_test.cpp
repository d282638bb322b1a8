// The talos-tpm2 token JSON: Go's encoding/json bytes (keys/tpm2.go TPMToken inside
// go-blockdevice's luks.Token), round trips, and damaged tokens.
#include <gtest/gtest.h>

#include "cryptnode/engine/error.h"
#include "cryptnode/engine/tpm/token.h"
#include "tpm_test_swtpm.h"

using namespace cryptnode;
using namespace cryptnode::tpm;
using cryptnode::testing::error_of;

namespace {

// What Go's json.Marshal writes for luks.Token[*TPMToken]{Type: "talos-tpm2", UserData: &TPMToken{
// KeySlots: []int{1}, SealedBlobPrivate: {1,2,3}, SealedBlobPublic: {4,5}, PCRs: []int{7},
// PubKeyPCRs: []int{11}, Alg: "sha256", EncryptionVersion: "1", PolicyHash: {0xff},
// KeyName: {0,0x22}}}.Bytes().
const char* kGoToken =
    R"({"UserData":{"keyslots":[1],"sealed_blob_private":"AQID","sealed_blob_public":"BAU=",)"
    R"("pcrs":[7],"pubkey_pcrs":[11],"alg":"sha256","encryption_version":"1",)"
    R"("policy_hash":"/w==","key_name":"ACI="},"type":"talos-tpm2","keyslots":[]})";

// A token written by Talos 1.11 (no pubkey_pcrs, no encryption_version, pcrs [11]).
const char* kLegacyToken =
    R"({"UserData":{"keyslots":[0],"sealed_blob_private":"AQID","sealed_blob_public":"BAU=",)"
    R"("pcrs":[11],"alg":"sha256","policy_hash":"/w==","key_name":"ACI="},"type":"talos-tpm2",)"
    R"("keyslots":[]})";

std::string replace(std::string s, const std::string& from, const std::string& to) {
  auto at = s.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  return s.replace(at, from.size(), to);
}

Code code_of(const std::string& json) {
  try {
    TpmToken::parse(json);
  } catch (const Error& e) {
    return e.code();
  }
  return Code::kInternal;
}

TEST(TpmToken, GoBytesRoundTrip) {
  TpmToken t = TpmToken::parse(kGoToken);
  EXPECT_EQ(t.key_slots, std::vector<int>{1});
  EXPECT_EQ(t.sealed_blob_private, (Bytes{1, 2, 3}));
  EXPECT_EQ(t.sealed_blob_public, (Bytes{4, 5}));
  EXPECT_EQ(t.pcrs, std::vector<int>{7});
  EXPECT_EQ(t.pub_key_pcrs, std::vector<int>{11});
  EXPECT_EQ(t.encryption_version, "1");
  EXPECT_EQ(t.policy_hash, Bytes{0xff});
  EXPECT_EQ(t.key_name, (Bytes{0x00, 0x22}));
  EXPECT_EQ(t.to_json(), kGoToken);
}

TEST(TpmToken, FromSealedResponseIsWhatNewKeyStores) {
  SealedResponse r;
  r.sealed_blob_private = {1, 2, 3};
  r.sealed_blob_public = {4, 5};
  r.key_name = {0x00, 0x22};
  r.policy_digest = {0xff};
  r.pcrs = {7};
  r.pub_key_pcrs = {11};
  r.encryption_version = "1";
  r.alg = "sha256";
  EXPECT_EQ(TpmToken::from_sealed(1, r).to_json(), kGoToken);
}

TEST(TpmToken, EmptyPCRsAreOmitted) {
  SealedResponse r;
  r.sealed_blob_private = {1};
  r.sealed_blob_public = {2};
  r.key_name = {3};
  r.policy_digest = {4};
  r.pub_key_pcrs = {11};
  r.encryption_version = "1";
  r.alg = "sha256";
  EXPECT_EQ(TpmToken::from_sealed(0, r).to_json(),
            R"({"UserData":{"keyslots":[0],"sealed_blob_private":"AQ==","sealed_blob_public":)"
            R"("Ag==","pubkey_pcrs":[11],"alg":"sha256","encryption_version":"1",)"
            R"("policy_hash":"BA==","key_name":"Aw=="},"type":"talos-tpm2","keyslots":[]})");
}

TEST(TpmToken, LegacyTokenParses) {
  TpmToken t = TpmToken::parse(kLegacyToken);
  EXPECT_EQ(t.pcrs, std::vector<int>{11});
  EXPECT_FALSE(t.pub_key_pcrs.has_value());
  EXPECT_EQ(t.encryption_version, "");
  SealedResponse s = t.to_sealed();
  EXPECT_TRUE(s.pub_key_pcrs.empty());
  EXPECT_EQ(s.pcrs, std::vector<int>{11});
  // Re-marshalled by Go, the nil pubkey_pcrs is `null`.
  EXPECT_NE(t.to_json().find(R"("pubkey_pcrs":null)"), std::string::npos);
}

TEST(TpmToken, ForeignOrBrokenJsonIsInvalidToken) {
  EXPECT_EQ(code_of(R"({"UserData":{"sealedData":"AQ=="},"type":"sideroKMS","keyslots":[]})"),
            Code::kTokenInvalid);
  EXPECT_EQ(error_of([] { TpmToken::parse("{"); }), "invalid token");
  EXPECT_EQ(code_of(R"({"keyslots":[]})"), Code::kTokenInvalid);
}

TEST(TpmToken, DamagedTokensAreClearErrors) {
  const std::string good = kGoToken;
  EXPECT_EQ(error_of([&] {
              TpmToken::parse(replace(good, R"("sealed_blob_private":"AQID")",
                                      R"("sealed_blob_private":"AQ*D")"));
            }),
            "illegal base64 data at input byte 2");
  EXPECT_EQ(error_of([&] {
              TpmToken::parse(replace(good, R"("key_name":"ACI=")", R"("key_name":"ACI")"));
            }),
            "illegal base64 data at input byte 0");
  EXPECT_EQ(error_of([&] { TpmToken::parse(replace(good, R"("policy_hash":"/w==",)", "")); }),
            R"(talos-tpm2 token: missing field "policy_hash" in UserData)");
  EXPECT_EQ(error_of([&] {
              TpmToken::parse(replace(good, R"("sealed_blob_public":)", R"("sealed_blob_pub":)"));
            }),
            R"(talos-tpm2 token: unknown field "sealed_blob_pub" in UserData)");
  EXPECT_EQ(
      error_of([&] { TpmToken::parse(replace(good, R"("keyslots":[1])", R"("keyslots":"1")")); }),
      "json: cannot unmarshal string into Go struct field TPMToken.keyslots of type []int");
  EXPECT_EQ(error_of([&] { TpmToken::parse(replace(good, R"("pcrs":[7])", R"("pcrs":["7"])")); }),
            "json: cannot unmarshal string into Go struct field TPMToken.pcrs of type int");
  EXPECT_EQ(error_of([&] { TpmToken::parse(replace(good, R"("alg":"sha256")", R"("alg":1)")); }),
            "json: cannot unmarshal number 1 into Go struct field TPMToken.alg of type string");
  EXPECT_EQ(error_of([] { TpmToken::parse(R"({"type":"talos-tpm2","keyslots":[]})"); }),
            R"(talos-tpm2 token: missing "UserData")");
  EXPECT_EQ(code_of(replace(good, R"("key_name":"ACI=")", R"("key_name":"ACI")")), Code::kCorrupt);
}

TEST(TpmToken, RealSealedTokenRoundTrips) {
  cryptnode::testing::TestSwtpm swtpm;
  auto tpm = swtpm.connect();
  UkiExtraFiles uki = cryptnode::testing::measured_boot(*tpm, cryptnode::testing::vendor_key());
  Secret key(32);
  SealedResponse r = seal(*tpm, key, {7}, uki);
  const std::string json = TpmToken::from_sealed(3, r).to_json();
  TpmToken back = TpmToken::parse(json);
  EXPECT_EQ(back.to_json(), json);
  EXPECT_EQ(back.key_slots, std::vector<int>{3});
  EXPECT_EQ(back.sealed_blob_private, r.sealed_blob_private);
  EXPECT_TRUE(unseal(*tpm, back.to_sealed(), uki) == key);
}

}  // namespace
