#include "cryptnode/engine/keys/kms_handler.h"

#include <openssl/evp.h>

#include <nlohmann/json.hpp>

#include "cryptnode/engine/error.h"

namespace cryptnode::keys {

std::string base64_encode(const uint8_t* data, size_t len) {
  std::string out(4 * ((len + 2) / 3), '\0');
  int n =
      EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data, static_cast<int>(len));
  out.resize(static_cast<size_t>(n));
  return out;
}

Secret base64_decode(const std::string& text) {
  if (text.size() % 4) throw Error(Code::kCorrupt, "invalid base64 data");
  Secret out(text.size() / 4 * 3);
  int n = EVP_DecodeBlock(out.data(), reinterpret_cast<const unsigned char*>(text.data()),
                          static_cast<int>(text.size()));
  if (n < 0) throw Error(Code::kCorrupt, "invalid base64 data");
  size_t pad = 0;
  if (!text.empty() && text.back() == '=') ++pad;
  if (text.size() > 1 && text[text.size() - 2] == '=') ++pad;
  Secret trimmed(out.data(), static_cast<size_t>(n) - pad);
  return trimmed;
}

namespace {

Secret b64_secret(const Secret& raw) {
  std::string s = base64_encode(raw.data(), raw.size());
  Secret out(s);
  wipe(s.data(), s.size());
  return out;
}

class KMSKeyHandler final : public KeyHandler {
 public:
  KMSKeyHandler(int slot, std::string endpoint, UUIDGetter uuid,
                std::shared_ptr<KmsTransport> transport, RandomSource& random)
      : slot_(slot),
        endpoint_(std::move(endpoint)),
        uuid_(std::move(uuid)),
        transport_(std::move(transport)),
        random_(random) {}
  int slot() const override { return slot_; }
  config::KeyType type() const override { return config::KeyType::kKMS; }
  std::string go_type() const override { return "*keys.KMSKeyHandler"; }

  NewKey new_key() override {
    Secret key(32);
    random_.fill(key.data(), key.size());
    Secret sealed;
    try {
      sealed = transport_->seal(endpoint_, uuid_(), key);
    } catch (const Error& e) {
      throw Error(e.code(),
                  "failed to seal KMS passphrase, slot " + std::to_string(slot_) + ": " + e.what(),
                  true);
    }
    nlohmann::json token = {
        {"type", "sideroKMS"},
        {"keyslots", nlohmann::json::array()},
        {"UserData", {{"sealedData", base64_encode(sealed.data(), sealed.size())}}}};
    return {b64_secret(key), token.dump()};
  }

  Secret get_key(const std::optional<std::string>& token) override {
    std::string sealed_b64;
    try {
      if (!token) throw Error(Code::kTokenInvalid, "invalid token");
      auto j = nlohmann::json::parse(*token);
      if (j.value("type", "") != "sideroKMS") throw Error(Code::kTokenInvalid, "invalid token");
      sealed_b64 = j.at("UserData").at("sealedData").get<std::string>();
    } catch (const nlohmann::json::exception&) {
      throw Error(Code::kTokenInvalid, "invalid token");
    }
    Secret sealed = base64_decode(sealed_b64);
    try {
      return b64_secret(transport_->unseal(endpoint_, uuid_(), sealed));
    } catch (const Error& e) {
      throw Error(
          e.code(),
          "failed to unseal KMS passphrase, slot " + std::to_string(slot_) + ": " + e.what(), true);
    }
  }

 private:
  int slot_;
  std::string endpoint_;
  UUIDGetter uuid_;
  std::shared_ptr<KmsTransport> transport_;
  RandomSource& random_;
};

}  // namespace

std::unique_ptr<KeyHandler> make_kms_handler(int slot, std::string endpoint, UUIDGetter uuid,
                                             std::shared_ptr<KmsTransport> transport,
                                             RandomSource& random) {
  return std::make_unique<KMSKeyHandler>(slot, std::move(endpoint), std::move(uuid),
                                         std::move(transport), random);
}

}  // namespace cryptnode::keys
