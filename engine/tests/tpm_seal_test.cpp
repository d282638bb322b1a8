// Talos' seal/unseal (internal/pkg/secureboot/tpm2/seal.go, unseal.go) against a real swtpm: the
// round trip, and every unseal failure with its exact text.
#include <gtest/gtest.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "cryptnode/engine/error.h"
#include "cryptnode/engine/tpm/policy.h"
#include "cryptnode/engine/tpm/seal.h"
#include "tpm_test_swtpm.h"

using namespace cryptnode;
using namespace cryptnode::tpm;
using cryptnode::testing::error_of;
using cryptnode::testing::measured_boot;
using cryptnode::testing::TestSwtpm;
using cryptnode::testing::vendor_key;

namespace {

Secret key32(uint8_t fill = 0x5a) {
  Secret k(32);
  for (size_t i = 0; i < k.size(); ++i) k.data()[i] = static_cast<uint8_t>(fill + i);
  return k;
}

class SealTest : public ::testing::Test {
 protected:
  TestSwtpm swtpm;
  std::unique_ptr<Tpm> tpm = swtpm.connect();
};

TEST_F(SealTest, RoundTripWithDefaultPCR7) {
  UkiExtraFiles uki = measured_boot(*tpm, vendor_key());
  SealedResponse r = seal(*tpm, key32(), {7}, uki);
  EXPECT_EQ(r.sealed_blob_public.size(), 80u);
  EXPECT_EQ(r.key_name.size(), 36u);  // TPM2B_NAME: size + 000b + SHA-256
  EXPECT_EQ(r.key_name[0], 0x00);
  EXPECT_EQ(r.key_name[1], 0x22);
  EXPECT_EQ(r.pcrs, std::vector<int>{7});
  EXPECT_EQ(r.pub_key_pcrs, std::vector<int>{11});
  EXPECT_EQ(r.encryption_version, "1");
  EXPECT_EQ(r.alg, "sha256");
  EXPECT_TRUE(unseal(*tpm, r, uki) == key32());
  // Twice: every object and session was flushed (swtpm has 3 slots of each).
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(unseal(*tpm, r, uki) == key32());
  EXPECT_EQ(tpm->flush_all(), 0);
}

TEST_F(SealTest, RoundTripWithoutLiteralPCRs) {
  // `options: {}`: PolicyAuthorize only; PCR 7 may change.
  UkiExtraFiles uki = measured_boot(*tpm, vendor_key());
  SealedResponse r = seal(*tpm, key32(), {}, uki);
  tpm->pcr_extend_data(7, "dbx update");
  EXPECT_TRUE(unseal(*tpm, r, uki) == key32());
}

TEST_F(SealTest, RoundTripWithSeveralPCRsInAscendingOrder) {
  tpm->pcr_extend_data(0, "firmware code");
  UkiExtraFiles uki = measured_boot(*tpm, vendor_key());
  SealedResponse r = seal(*tpm, key32(), {0, 7}, uki);
  EXPECT_TRUE(unseal(*tpm, r, uki) == key32());
}

TEST_F(SealTest, UnorderedPCRListSealsButNeverUnseals) {
  // Values are hashed in configured order, the TPM's selection is ascending.
  tpm->pcr_extend_data(0, "firmware code");
  UkiExtraFiles uki = measured_boot(*tpm, vendor_key());
  SealedResponse r = seal(*tpm, key32(), {7, 0}, uki);
  EXPECT_NE(error_of([&] { unseal(*tpm, r, uki); })
                .find("failed to validate PCR policy digest for PCRs [7 0]: sealing policy digest "
                      "does not match, expected "),
            std::string::npos);
}

TEST_F(SealTest, SealRefusesZeroPCRs) {
  UkiExtraFiles uki{public_key_pem(vendor_key()), "{}"};
  EXPECT_EQ(error_of([&] { seal(*tpm, key32(), {7}, uki); }),
            "PCR bank 11 is populated with all zeroes");
  tpm->pcr_extend_data(11, "x");
  EXPECT_EQ(error_of([&] { seal(*tpm, key32(), {7}, uki); }),
            "PCR bank 7 is populated with all zeroes");
  EXPECT_EQ(error_of([&] { seal(*tpm, key32(), {24}, uki); }),
            "failed to read PCR 24: failed to create PCR selection: PCR index 24 is out of range "
            "(exceeds maximum value 23)");
}

TEST_F(SealTest, SealWithoutUkiPublicKey) {
  measured_boot(*tpm, vendor_key());
  EXPECT_EQ(error_of([&] { seal(*tpm, key32(), {7}, UkiExtraFiles{}); }),
            "failed to calculate sealing policy digest: failed to calculate policy authorize: "
            "failed to read pcr signing public key: open /.extra/tpm2-pcr-public-key.pem: no such "
            "file or directory");
  EXPECT_EQ(error_of([&] {
              seal(*tpm, key32(), {7}, UkiExtraFiles{"garbage", "{}"});
            }),
            "failed to calculate sealing policy digest: failed to calculate policy authorize: "
            "failed to decode pcr signing public key");
}

TEST_F(SealTest, UnsealAfterStartTheWorldFindsNoSignature) {
  UkiExtraFiles uki = measured_boot(*tpm, vendor_key());
  SealedResponse r = seal(*tpm, key32(), {7}, uki);
  tpm->pcr_extend_data(11, "start-the-world");
  EXPECT_EQ(error_of([&] { unseal(*tpm, r, uki); }),
            "no signatures matching PCR SHA256 digest found in signature JSON");
}

TEST_F(SealTest, UnsealWithForeignFingerprint) {
  UkiExtraFiles uki = measured_boot(*tpm, vendor_key());
  SealedResponse r = seal(*tpm, key32(), {7}, uki);
  PcrSignature sig = PcrSignature::parse(*uki.pcr_signature_json);
  sig.sha256[0].pkfp = std::string(64, '0');
  uki.pcr_signature_json = sig.to_json();
  EXPECT_EQ(error_of([&] { unseal(*tpm, r, uki); }), "certificate fingerprint does not match");
}

TEST_F(SealTest, UnsealWithForgedSignature) {
  UkiExtraFiles uki = measured_boot(*tpm, vendor_key());
  SealedResponse r = seal(*tpm, key32(), {7}, uki);
  PcrSignature sig = PcrSignature::parse(*uki.pcr_signature_json);
  // Signed by another key but presented under this key's fingerprint.
  Bytes pol;
  for (size_t i = 0; i < sig.sha256[0].pol.size(); i += 2)
    pol.push_back(static_cast<uint8_t>(std::stoi(sig.sha256[0].pol.substr(i, 2), nullptr, 16)));
  Digest d;
  std::copy(pol.begin(), pol.end(), d.begin());
  sig.sha256[0].sig = sign_policy(d, kAlgSHA256, vendor_key(1));
  uki.pcr_signature_json = sig.to_json();
  const std::string err = error_of([&] { unseal(*tpm, r, uki); });
  EXPECT_EQ(err.rfind("failed to verify signature: tpm:", 0), 0u) << err;
}

TEST_F(SealTest, UnsealAfterPCR7Changed) {
  UkiExtraFiles uki = measured_boot(*tpm, vendor_key());
  SealedResponse r = seal(*tpm, key32(), {7}, uki);
  tpm->pcr_extend_data(7, "SecureBoot toggled");
  const std::string err = error_of([&] { unseal(*tpm, r, uki); });
  const std::string prefix =
      "failed to validate PCR policy digest for PCRs [7]: sealing policy digest does not match, "
      "expected " +
      to_hex(r.policy_digest) + ", got ";
  EXPECT_EQ(err.substr(0, prefix.size()), prefix);
  EXPECT_EQ(err.size(), prefix.size() + 64);
}

TEST_F(SealTest, UnsealAfterTPMClearReportsSRKNames) {
  UkiExtraFiles uki = measured_boot(*tpm, vendor_key());
  SealedResponse r = seal(*tpm, key32(), {7}, uki);
  const Bytes old_name(r.key_name.begin() + 2, r.key_name.end());
  tpm.reset();
  swtpm.clear();
  tpm = swtpm.connect();
  uki = measured_boot(*tpm, vendor_key());
  const Bytes new_name = tpm->srk_name();
  EXPECT_NE(new_name, old_name);
  EXPECT_EQ(error_of([&] { unseal(*tpm, r, uki); }),
            "srk name does not match, expected " + to_hex(old_name) + ", got " + to_hex(new_name));
}

TEST_F(SealTest, RebootKeepsSRKAndUnsealsAfterTheSameBoot) {
  UkiExtraFiles uki = measured_boot(*tpm, vendor_key());
  SealedResponse r = seal(*tpm, key32(), {7}, uki);
  tpm.reset();
  swtpm.restart();
  tpm = swtpm.connect();
  EXPECT_EQ(error_of([&] { unseal(*tpm, r, uki); }), "PCR bank 11 is populated with all zeroes");
  uki = measured_boot(*tpm, vendor_key());
  EXPECT_TRUE(unseal(*tpm, r, uki) == key32());
}

TEST_F(SealTest, UpgradeSignedBySameVendorKeepsUnlocking) {
  UkiExtraFiles uki = measured_boot(*tpm, vendor_key(), true, "vmlinuz 1.12.0");
  SealedResponse r = seal(*tpm, key32(), {7}, uki);
  tpm.reset();
  swtpm.restart();
  tpm = swtpm.connect();
  UkiExtraFiles upgraded = measured_boot(*tpm, vendor_key(), true, "vmlinuz 1.12.9");
  EXPECT_NE(upgraded.pcr_signature_json, uki.pcr_signature_json);
  EXPECT_TRUE(unseal(*tpm, r, upgraded) == key32());
  // The old release's signature does not cover the new PCR 11.
  EXPECT_EQ(error_of([&] { unseal(*tpm, r, uki); }),
            "no signatures matching PCR SHA256 digest found in signature JSON");
}

TEST_F(SealTest, UpgradeSignedByAnotherVendorFails) {
  UkiExtraFiles uki = measured_boot(*tpm, vendor_key(0));
  SealedResponse with_pcr7 = seal(*tpm, key32(), {7}, uki);
  SealedResponse without = seal(*tpm, key32(), {}, uki);
  tpm.reset();
  swtpm.restart();
  tpm = swtpm.connect();
  UkiExtraFiles other = measured_boot(*tpm, vendor_key(1));
  EXPECT_EQ(error_of([&] { unseal(*tpm, with_pcr7, other); })
                .rfind("failed to validate PCR policy digest for PCRs [7]: sealing policy digest "
                       "does not match",
                       0),
            0u);
  EXPECT_EQ(error_of([&] { unseal(*tpm, without, other); }),
            "failed to unseal op: tpm:session(1):a policy check failed");
}

TEST_F(SealTest, LegacyTokenIsBoundToPCR7) {
  // Talos < 1.12 sealed to PolicyAuthorize + PolicyPCR([7]) and recorded pcrs [11], with neither
  // encryption_version nor pubkey_pcrs.
  UkiExtraFiles uki = measured_boot(*tpm, vendor_key());
  SealedResponse r = seal(*tpm, key32(), {7}, uki);
  r.pcrs = {11};
  r.pub_key_pcrs.clear();
  r.encryption_version.clear();
  EXPECT_TRUE(unseal(*tpm, r, uki) == key32());
  tpm->pcr_extend_data(7, "SecureBoot toggled");
  EXPECT_EQ(error_of([&] { unseal(*tpm, r, uki); })
                .rfind("failed to validate PCR policy digest for PCRs [7]: sealing policy digest "
                       "does not match, expected " +
                           to_hex(r.policy_digest),
                       0),
            0u);
}

TEST_F(SealTest, LegacyShapeWithoutPCR11IsNotTreatedAsLegacy) {
  // No version, no pubkey_pcrs, pcrs [7]: neither branch adds PolicyPCR, so Unseal fails in the
  // TPM.
  UkiExtraFiles uki = measured_boot(*tpm, vendor_key());
  SealedResponse r = seal(*tpm, key32(), {7}, uki);
  r.pub_key_pcrs.clear();
  r.encryption_version.clear();
  EXPECT_EQ(error_of([&] { unseal(*tpm, r, uki); }),
            "failed to unseal op: tpm:session(1):a policy check failed");
}

TEST_F(SealTest, UnsealWithoutUkiFiles) {
  UkiExtraFiles uki = measured_boot(*tpm, vendor_key());
  SealedResponse r = seal(*tpm, key32(), {7}, uki);
  EXPECT_EQ(error_of([&] {
              unseal(*tpm, r, UkiExtraFiles{uki.pcr_public_key_pem, {}});
            }),
            "failed to read pcr signature: open /.extra/tpm2-pcr-signature.json: no such file or "
            "directory");
  EXPECT_EQ(error_of([&] {
              unseal(*tpm, r, UkiExtraFiles{{}, uki.pcr_signature_json});
            }),
            "failed to read pcr signing public key: open /.extra/tpm2-pcr-public-key.pem: no such "
            "file or directory");
  EXPECT_EQ(error_of([&] {
              unseal(*tpm, r, UkiExtraFiles{uki.pcr_public_key_pem, "["});
            }).rfind("failed to unmarshal pcr signature: ", 0),
            0u);
  EXPECT_EQ(tpm->flush_all(), 0);  // failures flushed everything too
}

TEST_F(SealTest, DamagedBlobs) {
  UkiExtraFiles uki = measured_boot(*tpm, vendor_key());
  SealedResponse r = seal(*tpm, key32(), {7}, uki);
  SealedResponse bad = r;
  bad.sealed_blob_public.resize(10);
  EXPECT_EQ(
      error_of([&] { unseal(*tpm, bad, uki); }).rfind("failed to unmarshal sealed_blob_public", 0),
      0u);
  bad = r;
  bad.sealed_blob_private[40] ^= 0xff;  // integrity check in the TPM
  EXPECT_EQ(error_of([&] { unseal(*tpm, bad, uki); }).rfind("tpm:", 0), 0u);
  EXPECT_EQ(tpm->flush_all(), 0);
}

}  // namespace

// ESYS (tpm2-tss 3.2) asks OpenSSL for a new library context per hash; this program hands it one
// shared context instead (esys_openssl_context.cpp), and every other caller still gets its own.
TEST_F(SealTest, EsysSharesOneOpenSSLContextOtherCallersGetTheirOwn) {
  UkiExtraFiles uki = measured_boot(*tpm, vendor_key());
  const unsigned long before = esys_shared_openssl_context_uses();
  SealedResponse r = seal(*tpm, key32(), {7}, uki);
  EXPECT_TRUE(unseal(*tpm, r, uki) == key32());
  EXPECT_GT(esys_shared_openssl_context_uses(), before);

  OSSL_LIB_CTX* a = OSSL_LIB_CTX_new();
  OSSL_LIB_CTX* b = OSSL_LIB_CTX_new();
  ASSERT_NE(a, nullptr);
  EXPECT_NE(a, b);
  EVP_MD* md = EVP_MD_fetch(a, "SHA256", nullptr);
  EXPECT_NE(md, nullptr);
  EVP_MD_free(md);
  OSSL_LIB_CTX_free(a);
  OSSL_LIB_CTX_free(b);
}
