// lockToSTATE: the inner key's passphrase followed by the 32-byte STATE salt (raw concatenation;
// LUKS2's argon2 is the only KDF). The inner key's token is kept unchanged (docs/talos/keys.md).
#include "cryptnode/engine/error.h"
#include "cryptnode/engine/keys/key_handler.h"

namespace cryptnode::keys {
namespace {

class SaltedHandler final : public KeyHandler {
 public:
  SaltedHandler(std::unique_ptr<KeyHandler> inner, SaltGetter salt)
      : inner_(std::move(inner)), salt_(std::move(salt)) {}
  int slot() const override { return inner_->slot(); }
  config::KeyType type() const override { return inner_->type(); }
  std::string go_type() const override { return "*keys.SaltedHandler"; }
  bool locked_to_state() const override { return true; }

  NewKey new_key() override {
    NewKey k = inner_->new_key();
    k.passphrase.append(salt());
    return k;
  }
  Secret get_key(const std::optional<std::string>& token) override {
    Secret s = inner_->get_key(token);
    s.append(salt());
    return s;
  }

 private:
  Secret salt() {
    try {
      return salt_();
    } catch (const Error& e) {
      throw e.wrap("failed to get disk encryption key salt");
    }
  }

  std::unique_ptr<KeyHandler> inner_;
  SaltGetter salt_;
};

}  // namespace

std::unique_ptr<KeyHandler> make_salted_handler(std::unique_ptr<KeyHandler> inner,
                                                SaltGetter salt) {
  return std::make_unique<SaltedHandler>(std::move(inner), std::move(salt));
}

}  // namespace cryptnode::keys
