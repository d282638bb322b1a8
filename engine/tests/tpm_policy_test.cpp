// The software policy calculator (go-tpm's PolicyCalculator as Talos uses it) against the digests
// a real TPM computes in trial and policy sessions, and the key fingerprint against openssl.
#include <gtest/gtest.h>
#include <tss2/tss2_esys.h>
#include <tss2/tss2_mu.h>

#include <cstring>

#include "cryptnode/engine/error.h"
#include "cryptnode/engine/tpm/pcr_signature.h"
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

class PolicyTest : public ::testing::Test {
 protected:
  TestSwtpm swtpm;
  std::unique_ptr<Tpm> tpm = swtpm.connect();

  // A session of `type` (trial or policy); the caller flushes it.
  ESYS_TR start(TPM2_SE type) {
    TPMT_SYM_DEF sym{};
    sym.algorithm = TPM2_ALG_NULL;
    ESYS_TR s = ESYS_TR_NONE;
    EXPECT_EQ(
        Esys_StartAuthSession(tpm->esys(), ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                              ESYS_TR_NONE, nullptr, type, &sym, TPM2_ALG_SHA256, &s),
        TSS2_RC_SUCCESS);
    return s;
  }
  Bytes digest_of(ESYS_TR s) {
    TPM2B_DIGEST* d = nullptr;
    EXPECT_EQ(Esys_PolicyGetDigest(tpm->esys(), s, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &d),
              TSS2_RC_SUCCESS);
    Bytes out(d->buffer, d->buffer + d->size);
    Esys_Free(d);
    return out;
  }
  void policy_pcr(ESYS_TR s, const std::vector<int>& pcrs, const Bytes& digest) {
    auto mask = create_selector(pcrs);
    TPML_PCR_SELECTION sel{};
    sel.count = 1;
    sel.pcrSelections[0].hash = TPM2_ALG_SHA256;
    sel.pcrSelections[0].sizeofSelect = 3;
    std::memcpy(sel.pcrSelections[0].pcrSelect, mask.data(), 3);
    TPM2B_DIGEST d{};
    d.size = static_cast<UINT16>(digest.size());
    std::memcpy(d.buffer, digest.data(), digest.size());
    ASSERT_EQ(Esys_PolicyPCR(tpm->esys(), s, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &d, &sel),
              TSS2_RC_SUCCESS);
  }
  // The RSA key loaded as Talos loads it (owner hierarchy); returns its ESYS handle.
  ESYS_TR load_external(const RsaPublicKey& key) {
    TPM2B_PUBLIC pub{};
    Bytes t = rsa_pub_key_template(key);
    size_t off = 0;
    EXPECT_EQ(Tss2_MU_TPMT_PUBLIC_Unmarshal(t.data(), t.size(), &off, &pub.publicArea),
              TSS2_RC_SUCCESS);
    ESYS_TR h = ESYS_TR_NONE;
    EXPECT_EQ(Esys_LoadExternal(tpm->esys(), ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, nullptr,
                                &pub, ESYS_TR_RH_OWNER, &h),
              TSS2_RC_SUCCESS);
    return h;
  }
  Bytes name_of(ESYS_TR h) {
    TPM2B_NAME* n = nullptr;
    EXPECT_EQ(Esys_TR_GetName(tpm->esys(), h, &n), TSS2_RC_SUCCESS);
    Bytes out(n->name, n->name + n->size);
    Esys_Free(n);
    return out;
  }
};

Bytes bytes(const Digest& d) {
  return Bytes(d.begin(), d.end());
}

TEST_F(PolicyTest, PolicyPCRWithExplicitDigestMatchesTrialSession) {
  for (const std::vector<int>& pcrs :
       std::vector<std::vector<int>>{{7}, {11}, {0, 7}, {1, 9, 23}}) {
    const Digest pcr_digest = sha256("values of " + go_int_list(pcrs));
    ESYS_TR s = start(TPM2_SE_TRIAL);
    policy_pcr(s, pcrs, bytes(pcr_digest));
    EXPECT_EQ(digest_of(s), bytes(tpm::policy_pcr(Digest{}, pcrs, pcr_digest)))
        << go_int_list(pcrs);
    Esys_FlushContext(tpm->esys(), s);
  }
}

TEST_F(PolicyTest, PolicyPCRWithCurrentValuesHashesThemInAscendingOrder) {
  tpm->pcr_extend_data(0, "zero");
  tpm->pcr_extend_data(7, "seven");
  ESYS_TR s = start(TPM2_SE_TRIAL);
  policy_pcr(s, {0, 7}, {});  // empty digest: the TPM reads the PCRs
  const Bytes got = digest_of(s);
  Esys_FlushContext(tpm->esys(), s);
  const Digest ascending = pcr_values_digest({tpm->pcr_read(0), tpm->pcr_read(7)});
  const Digest configured_7_0 = pcr_values_digest({tpm->pcr_read(7), tpm->pcr_read(0)});
  EXPECT_EQ(got, bytes(tpm::policy_pcr(Digest{}, {0, 7}, ascending)));
  EXPECT_NE(got, bytes(tpm::policy_pcr(Digest{}, {7, 0}, configured_7_0)));
}

TEST_F(PolicyTest, KeyNameAndPolicyAuthorizeMatchTheTPM) {
  const RsaPublicKey key = parse_pcr_signing_pub_key(public_key_pem(vendor_key()));
  EXPECT_EQ(key.bits, 2048);
  EXPECT_EQ(key.exponent, 65537u);
  ESYS_TR h = load_external(key);
  const Bytes name = name_of(h);
  EXPECT_EQ(name, rsa_pub_key_name(key));

  ESYS_TR s = start(TPM2_SE_TRIAL);
  TPM2B_DIGEST approved{};
  TPM2B_NONCE ref{};
  TPM2B_NAME key_sign{};
  key_sign.size = static_cast<UINT16>(name.size());
  std::memcpy(key_sign.name, name.data(), name.size());
  TPMT_TK_VERIFIED ticket{};
  ticket.tag = TPM2_ST_VERIFIED;
  ticket.hierarchy = TPM2_RH_NULL;
  ASSERT_EQ(Esys_PolicyAuthorize(tpm->esys(), s, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                                 &approved, &ref, &key_sign, &ticket),
            TSS2_RC_SUCCESS);
  const Bytes after_authorize = digest_of(s);
  EXPECT_EQ(after_authorize, bytes(policy_authorize(Digest{}, name)));

  // The whole sealing policy: then PolicyPCR([7]) over the current value.
  tpm->pcr_extend_data(7, "secure boot");
  policy_pcr(s, {7}, {});
  EXPECT_EQ(digest_of(s), bytes(sealing_policy_digest(key, {7}, {tpm->pcr_read(7)})));
  Esys_FlushContext(tpm->esys(), s);
  Esys_FlushContext(tpm->esys(), h);
}

TEST_F(PolicyTest, SealedObjectCarriesTheCalculatedPolicy) {
  UkiExtraFiles uki = measured_boot(*tpm, vendor_key());
  Secret key(32);
  SealedResponse r = seal(*tpm, key, {7}, uki);
  TPM2B_PUBLIC pub{};
  size_t off = 0;
  ASSERT_EQ(Tss2_MU_TPM2B_PUBLIC_Unmarshal(r.sealed_blob_public.data(), r.sealed_blob_public.size(),
                                           &off, &pub),
            TSS2_RC_SUCCESS);
  const Bytes auth(pub.publicArea.authPolicy.buffer,
                   pub.publicArea.authPolicy.buffer + pub.publicArea.authPolicy.size);
  const RsaPublicKey rsa = parse_pcr_signing_pub_key(*uki.pcr_public_key_pem);
  EXPECT_EQ(auth, r.policy_digest);
  EXPECT_EQ(auth, bytes(sealing_policy_digest(rsa, {7}, {tpm->pcr_read(7)})));
  EXPECT_EQ(pub.publicArea.type, TPM2_ALG_KEYEDHASH);
  EXPECT_EQ(pub.publicArea.objectAttributes,
            TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_NODA);
}

TEST_F(PolicyTest, SignedPolEqualsThePolicySessionDigestOfPCR11) {
  UkiExtraFiles uki = measured_boot(*tpm, vendor_key());
  ESYS_TR s = start(TPM2_SE_POLICY);
  policy_pcr(s, {11}, {});
  const Bytes got = digest_of(s);
  Esys_FlushContext(tpm->esys(), s);
  const Digest pcr11 = tpm->pcr_read(11);
  EXPECT_EQ(got, bytes(calculate_policy(bytes(pcr11), {11}, kAlgSHA256)));
  const PcrSignature sig = PcrSignature::parse(*uki.pcr_signature_json);
  ASSERT_EQ(sig.sha256.size(), 1u);
  EXPECT_EQ(sig.sha256[0].pol, to_hex(got));
  EXPECT_EQ(sig.sha256[0].pcrs, std::vector<int>{11});
}

TEST(PolicyCalculator, FingerprintIsSHA256OfThePKCS1PublicKey) {
  const std::string pem = public_key_pem(vendor_key());
  ProcessOptions o;
  o.stdin_data = pem;
  ProcessResult der =
      Env::posix().run({"sh", "-c",
                        "openssl rsa -pubin -RSAPublicKey_out -outform DER 2>/dev/null | "
                        "openssl dgst -sha256 -r | cut -d' ' -f1"},
                       o);
  ASSERT_EQ(der.exit_code, 0) << der.output;
  std::string hex = der.output.substr(0, 64);
  EXPECT_EQ(to_hex(rsa_pub_key_fingerprint(parse_pcr_signing_pub_key(pem))), hex);
}

TEST(PolicyCalculator, PublicKeyErrors) {
  EXPECT_EQ(error_of([] { parse_pcr_signing_pub_key(""); }),
            "failed to decode pcr signing public key");
  EXPECT_EQ(
      error_of([] {
        parse_pcr_signing_pub_key("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n");
      }),
      "x509: failed to parse public key");
  // An EC key is not an RSA key.
  ProcessResult ec = Env::posix().run(
      {"sh", "-c",
       "openssl ecparam -name prime256v1 -genkey 2>/dev/null | openssl ec -pubout 2>/dev/null"},
      {});
  ASSERT_EQ(ec.exit_code, 0);
  EXPECT_EQ(error_of([&] { parse_pcr_signing_pub_key(ec.output); }),
            "failed to cast pcr signing public key to rsa");
}

TEST(PolicyCalculator, SelectorRange) {
  EXPECT_EQ(create_selector({0, 7, 11, 23}), (std::array<uint8_t, 3>{0x81, 0x08, 0x80}));
  EXPECT_EQ(error_of([] { create_selector({24}); }),
            "PCR index 24 is out of range (exceeds maximum value 23)");
}

TEST(PolicyCalculator, SoftwarePCRExtend) {
  Digest v{};
  v = pcr_extended(v, "enter-initrd");
  EXPECT_EQ(v, pcr_extended_digest(Digest{}, sha256("enter-initrd")));
  EXPECT_NE(v, Digest{});
}

TEST(PcrSignatureJson, GoShapeRoundTrip) {
  const std::string text = R"({"sha256":[{"pcrs":[11],"pkfp":"ab","pol":"cd","sig":"ZQ=="}],)"
                           R"("sha384":[{"pcrs":[11],"pkfp":"ab","pol":"ef","sig":"Zg=="}]})";
  PcrSignature s = PcrSignature::parse(text);
  ASSERT_EQ(s.sha256.size(), 1u);
  EXPECT_EQ(s.sha256[0].pol, "cd");
  EXPECT_EQ(s.to_json(), text);
  // encoding/json: case-insensitive keys, unknown keys ignored.
  PcrSignature t = PcrSignature::parse(R"({"SHA256":[{"POL":"aa","extra":1}],"x":2})");
  ASSERT_EQ(t.sha256.size(), 1u);
  EXPECT_EQ(t.sha256[0].pol, "aa");
  EXPECT_EQ(error_of([] { PcrSignature::parse(R"({"sha256":{}})"); }),
            "failed to unmarshal pcr signature: json: cannot unmarshal object into Go struct "
            "field PCRData.sha256 of type []tpm2.BankData");
}

}  // namespace
