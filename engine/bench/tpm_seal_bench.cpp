// Seal and unseal of one TPM key in-process (the engine over ESYS, Talos' whole policy: signed
// PCR 11 + PCR 7) vs the same TPM work through tpm2-tools (one process per command, objects
// flushed after each, as there is no resource manager), on the same swtpm. Prints medians and
// `ratio tpm_seal engine/tools = X`.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "../tests/tpm_test_swtpm.h"
#include "cryptnode/engine/keys/kms_handler.h"
#include "cryptnode/engine/tpm/pcr_signature.h"
#include "cryptnode/engine/tpm/policy.h"
#include "cryptnode/engine/tpm/seal.h"

using namespace cryptnode;
using namespace cryptnode::tpm;

namespace {

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}
double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}
void write(const std::string& path, const Bytes& b) {
  Env::posix().write_file_atomic(path, std::string(b.begin(), b.end()), 0600);
}
bool sh(const std::string& dir, const std::string& tcti, const std::string& script) {
  ProcessOptions o;
  o.env = {"TPM2TOOLS_TCTI=" + tcti, "TSS2_LOG=all+NONE"};
  ProcessResult r = Env::posix().run({"sh", "-ec", "cd " + dir + "\n" + script}, o);
  if (r.exit_code != 0) std::fprintf(stderr, "tpm2-tools failed: %s\n", r.output.c_str());
  return r.exit_code == 0;
}

const char* kSrk =
    "head -c64 /dev/zero | tpm2_createprimary -Q -C o -G ecc256:null:aes128cfb "
    "-a 'fixedtpm|fixedparent|sensitivedataorigin|userwithauth|noda|restricted|decrypt' -u - "
    "-c srk.ctx\n"
    "tpm2_flushcontext -t\n";

}  // namespace

int main() {
  const int runs = 10;
  testing::TestSwtpm swtpm;
  const std::string key_pem = tpm::generate_rsa_private_key(2048);
  UkiExtraFiles uki;
  {
    auto t = swtpm.connect();
    uki = testing::measured_boot(*t, key_pem);
  }
  Secret key(32);
  Env::posix().random().fill(key.data(), key.size());

  // In-process: a connection per operation, as the key handler does.
  std::vector<double> seal_ms, unseal_ms;
  SealedResponse sealed;
  for (int i = 0; i < runs; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    auto t = swtpm.connect();
    sealed = seal(*t, key, {7}, uki);
    seal_ms.push_back(ms_since(t0));
  }
  for (int i = 0; i < runs; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    auto t = swtpm.connect();
    if (!(unseal(*t, sealed, uki) == key)) return 1;
    unseal_ms.push_back(ms_since(t0));
  }

  // The connection alone (TCTI, TPM2_Startup, leftover scan), and seal/unseal on an open one.
  std::vector<double> connect_ms, seal_only_ms, unseal_only_ms;
  for (int i = 0; i < runs; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    auto t = swtpm.connect();
    connect_ms.push_back(ms_since(t0));
    t0 = std::chrono::steady_clock::now();
    SealedResponse r = seal(*t, key, {7}, uki);
    seal_only_ms.push_back(ms_since(t0));
    t0 = std::chrono::steady_clock::now();
    if (!(unseal(*t, r, uki) == key)) return 1;
    unseal_only_ms.push_back(ms_since(t0));
  }

  // tpm2-tools: the same objects and policies.
  const std::string dir = swtpm.dir();
  const RsaPublicKey rsa = parse_pcr_signing_pub_key(*uki.pcr_public_key_pem);
  write(dir + "/policy.bin", sealed.policy_digest);
  Bytes tmpl = rsa_pub_key_template(rsa);
  Bytes tpm2b = {static_cast<uint8_t>(tmpl.size() >> 8), static_cast<uint8_t>(tmpl.size())};
  tpm2b.insert(tpm2b.end(), tmpl.begin(), tmpl.end());
  write(dir + "/pcrkey.pub", tpm2b);
  const PcrSignature sig = PcrSignature::parse(*uki.pcr_signature_json);
  Secret raw_sig = keys::base64_decode(sig.sha256[0].sig);
  write(dir + "/sig.bin", Bytes(raw_sig.data(), raw_sig.data() + raw_sig.size()));
  write(dir + "/key.bin", Bytes(key.data(), key.data() + key.size()));

  const std::string seal_script =
      std::string(kSrk) +
      "tpm2_create -Q -C srk.ctx -g sha256 -a 'fixedtpm|fixedparent|noda' -L policy.bin "
      "-i key.bin -u seal.pub -r seal.priv\n"
      "tpm2_flushcontext -t\n";
  const std::string unseal_script =
      std::string(kSrk) +
      "tpm2_load -Q -C srk.ctx -u seal.pub -r seal.priv -c seal.ctx\n"
      "tpm2_flushcontext -t\n"
      "tpm2_loadexternal -Q -C o -u pcrkey.pub -c pcrkey.ctx -n pcrkey.name\n"
      "tpm2_flushcontext -t\n"
      "tpm2_startauthsession -Q --policy-session -S session.ctx\n"
      "tpm2_policypcr -Q -S session.ctx -l sha256:11 -L pol11.bin\n"
      "tpm2_verifysignature -Q -c pcrkey.ctx -g sha256 -m pol11.bin -s sig.bin -f rsassa "
      "-t ticket.bin\n"
      "tpm2_flushcontext -t\n"
      "tpm2_policyauthorize -Q -S session.ctx -i pol11.bin -n pcrkey.name -t ticket.bin\n"
      "tpm2_policypcr -Q -S session.ctx -l sha256:7\n"
      "tpm2_unseal -c seal.ctx -p session:session.ctx -o out.bin\n"
      "tpm2_flushcontext session.ctx\n"
      "tpm2_flushcontext -t\n"
      "cmp -s out.bin key.bin\n";

  std::vector<double> tools_seal_ms, tools_unseal_ms;
  for (int i = 0; i < runs; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    if (!sh(dir, swtpm.tcti(), seal_script)) return 1;
    tools_seal_ms.push_back(ms_since(t0));
  }
  for (int i = 0; i < runs; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    if (!sh(dir, swtpm.tcti(), unseal_script)) return 1;
    tools_unseal_ms.push_back(ms_since(t0));
  }
  Env::posix().run({"sh", "-c", "cd " + dir + " && rm -f *.ctx *.bin *.pub *.priv *.name"}, {});

  const double es = median(seal_ms), eu = median(unseal_ms);
  const double ts = median(tools_seal_ms), tu = median(tools_unseal_ms);
  std::printf("tpm_seal   engine %.2f ms  tpm2-tools %.2f ms  (median of %d)\n", es, ts, runs);
  std::printf("tpm_unseal engine %.2f ms  tpm2-tools %.2f ms  (median of %d)\n", eu, tu, runs);
  std::printf("  connect %.2f ms, seal on an open connection %.2f ms, unseal %.2f ms\n",
              median(connect_ms), median(seal_only_ms), median(unseal_only_ms));
  std::printf("ratio tpm_seal engine/tools = %.3f\n", es / ts);
  std::printf("ratio tpm_unseal engine/tools = %.3f\n", eu / tu);
  return 0;
}
