// static key: the passphrase is the configured bytes verbatim (no hashing; docs/talos/keys.md).
#include "cryptnode/engine/keys/key_handler.h"

namespace cryptnode::keys {
namespace {

class StaticKeyHandler final : public KeyHandler {
 public:
  StaticKeyHandler(int slot, Secret passphrase) : slot_(slot), passphrase_(std::move(passphrase)) {}
  int slot() const override { return slot_; }
  config::KeyType type() const override { return config::KeyType::kStatic; }
  std::string go_type() const override { return "*keys.StaticKeyHandler"; }
  NewKey new_key() override { return {passphrase_, std::nullopt}; }
  Secret get_key(const std::optional<std::string>&) override { return passphrase_; }

 private:
  int slot_;
  Secret passphrase_;
};

}  // namespace

std::unique_ptr<KeyHandler> make_static_handler(int slot, Secret passphrase) {
  return std::make_unique<StaticKeyHandler>(slot, std::move(passphrase));
}

}  // namespace cryptnode::keys
