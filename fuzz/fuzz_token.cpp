// LUKS2 token JSON as the key handlers read it from a header anyone with the disk can rewrite:
// the `sideroKMS` token through the KMS key handler's GetKey (keys::make_kms_handler, with a
// transport that echoes the sealed bytes), the `talos-tpm2` token through the TPM area's parser
// (tpm::TpmToken::parse), and keys::base64_decode on the raw input.
//
// Properties: a TPM token that parses serialises (to_json) to a token that parses to the same
// fields; the KMS handler hands the transport exactly the base64-decoded sealedData.
#include "cryptnode/engine/keys/kms_handler.h"
#include "cryptnode/engine/tpm/token.h"
#include "fuzz_support.h"

using namespace cryptnode;

namespace {

class EchoTransport final : public keys::KmsTransport {
 public:
  Secret seal(const std::string&, const std::string&, const Secret& data) override { return data; }
  Secret unseal(const std::string&, const std::string&, const Secret& sealed) override {
    last = sealed;
    return sealed;
  }
  Secret last;
};

class ZeroRandom final : public RandomSource {
 public:
  void fill(uint8_t* out, size_t len) override { std::memset(out, 0, len); }
};

bool same(const tpm::TpmToken& a, const tpm::TpmToken& b) {
  return a.key_slots == b.key_slots && a.sealed_blob_private == b.sealed_blob_private &&
         a.sealed_blob_public == b.sealed_blob_public && a.pcrs == b.pcrs &&
         a.pub_key_pcrs == b.pub_key_pcrs && a.alg == b.alg &&
         a.encryption_version == b.encryption_version && a.policy_hash == b.policy_hash &&
         a.key_name == b.key_name;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string json(fuzz::text(data, size));

  static ZeroRandom random;
  auto transport = std::make_shared<EchoTransport>();
  auto kms = keys::make_kms_handler(
      0, "grpc://127.0.0.1:4050",
      [] { return std::string("9d5a2f6e-3c1b-4e8f-a7d2-5b6c8e9f0a1b"); }, transport, random);
  try {
    kms->get_key(json);
  } catch (const Error&) {
  }

  try {
    const tpm::TpmToken t = tpm::TpmToken::parse(json);
    const std::string out = t.to_json();
    tpm::TpmToken again;
    try {
      again = tpm::TpmToken::parse(out);
    } catch (const Error& e) {
      std::fprintf(stderr, "re-parse failed: %s\n%s\n", e.what(), out.c_str());
      fuzz::expect(false, "talos-tpm2 token written back parses");
    }
    fuzz::expect(same(t, again), "talos-tpm2 token round trip");
    t.to_sealed();
  } catch (const Error&) {
  }

  try {
    keys::base64_decode(json);
  } catch (const Error&) {
  }
  return 0;
}
