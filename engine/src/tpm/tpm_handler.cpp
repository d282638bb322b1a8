// TPMKeyHandler (internal/pkg/encryption/keys/tpm2.go).
#include "cryptnode/engine/tpm/tpm_handler.h"

#include "cryptnode/engine/error.h"
#include "cryptnode/engine/keys/kms_handler.h"
#include "cryptnode/engine/tpm/token.h"

namespace cryptnode::tpm {

namespace {

Secret base64_secret(const Secret& raw) {
  std::string s = keys::base64_encode(raw.data(), raw.size());
  Secret out(s);
  wipe(s.data(), s.size());
  return out;
}

class TPMKeyHandler final : public keys::KeyHandler {
 public:
  TPMKeyHandler(int slot, bool check_secureboot_on_enroll, std::vector<int> pcrs,
                TpmContext context)
      : slot_(slot),
        check_secureboot_on_enroll_(check_secureboot_on_enroll),
        pcrs_(std::move(pcrs)),
        ctx_(std::move(context)) {
    if (!ctx_.with_pcr11_lock)  // keys.NewHandler's text
      throw Error(Code::kInvalidArgument, "failed to create TPM key handler at slot " +
                                              std::to_string(slot) + ": no TPM lock function");
    if (!ctx_.connect || !ctx_.uki_files || !ctx_.random)
      throw Error(Code::kInvalidArgument, "failed to create TPM key handler at slot " +
                                              std::to_string(slot) + ": incomplete TpmContext");
  }

  int slot() const override { return slot_; }
  config::KeyType type() const override { return config::KeyType::kTPM; }
  std::string go_type() const override { return "*keys.TPMKeyHandler"; }

  keys::NewKey new_key() override {
    if (check_secureboot_on_enroll_) {
      if (!ctx_.secure_boot || !ctx_.secure_boot())
        throw Error(Code::kFailedPrecondition,
                    "failed to enroll the TPM2 key, as SecureBoot is disabled (and "
                    "checkSecurebootOnEnroll is enabled)");
      if (ctx_.setup_mode && ctx_.setup_mode())
        throw Error(Code::kFailedPrecondition,
                    "failed to enroll the TPM2 key, as the system is in SecureBoot setup mode "
                    "(and checkSecurebootOnEnroll is enabled)");
    }

    Secret key(32);
    ctx_.random->fill(key.data(), key.size());

    SealedResponse resp;
    ctx_.with_pcr11_lock([&] {
      std::unique_ptr<Tpm> tpm = ctx_.connect();
      resp = seal(*tpm, key, pcrs_, ctx_.uki_files());
    });

    return {base64_secret(key), TpmToken::from_sealed(slot_, resp).to_json()};
  }

  Secret get_key(const std::optional<std::string>& token_json) override {
    // A missing token or a token of another type is ErrTokenInvalid; a damaged talos-tpm2 token
    // fails to unmarshal (readToken), which is an error of its own.
    if (!token_json) throw Error(Code::kTokenInvalid, "invalid token");
    const TpmToken token = TpmToken::parse(*token_json);
    const SealedResponse sealed = token.to_sealed();

    Secret key;
    ctx_.with_pcr11_lock([&] {
      std::unique_ptr<Tpm> tpm = ctx_.connect();
      key = unseal(*tpm, sealed, ctx_.uki_files());
    });
    return base64_secret(key);
  }

 private:
  int slot_;
  bool check_secureboot_on_enroll_;
  std::vector<int> pcrs_;
  TpmContext ctx_;
};

}  // namespace

std::unique_ptr<keys::KeyHandler> make_tpm_handler(int slot, const config::KeyTPM& key,
                                                   const TpmContext& context) {
  return std::make_unique<TPMKeyHandler>(
      slot, key.check_secureboot_status_on_enroll.value_or(false), key.pcrs(), context);
}

}  // namespace cryptnode::tpm
