#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>

#include "cryptnode/engine/encryption_handler.h"
#include "cryptnode/engine/error.h"

namespace cryptnode::encryption {
namespace {

const char* const kPerfOptions[] = {"no_read_workqueue", "no_write_workqueue", "same_cpu_crypt"};

std::string multierror(const std::vector<std::string>& errs) {
  return config::format_multierror(errs);
}

// A handler for a kind whose factory was not provided (e.g. TPM on a node without one): it fails
// when used, like a handler whose device is missing.
class UnavailableHandler final : public keys::KeyHandler {
 public:
  UnavailableHandler(int slot, config::KeyType type, std::string go_type, std::string why)
      : slot_(slot), type_(type), go_type_(std::move(go_type)), why_(std::move(why)) {}
  int slot() const override { return slot_; }
  config::KeyType type() const override { return type_; }
  std::string go_type() const override { return go_type_; }
  keys::NewKey new_key() override { throw Error(Code::kUnavailable, why_); }
  Secret get_key(const std::optional<std::string>&) override {
    throw Error(Code::kUnavailable, why_);
  }

 private:
  int slot_;
  config::KeyType type_;
  std::string go_type_, why_;
};

}  // namespace

Handler::Handler(const config::EncryptionSpec& spec, std::string volume_id, KeySources sources,
                 luks2::Pbkdf pbkdf, Env& env)
    : spec_(spec), volume_id_(std::move(volume_id)), pbkdf_(pbkdf), env_(env) {
  const std::string cipher = spec.effective_cipher();
  if (cipher != "aes-xts-plain64" && cipher != "xchacha12,aes-adiantum-plain64" &&
      cipher != "xchacha20,aes-adiantum-plain64")
    throw Error(Code::kInvalidArgument,
                "failed to create encryption handler: failed to parse cipher kind: unknown cipher "
                "kind " +
                    cipher);
  for (const auto& o : spec.perf_options)
    if (std::find(std::begin(kPerfOptions), std::end(kPerfOptions), o) == std::end(kPerfOptions))
      throw Error(Code::kInvalidArgument,
                  "invalid luks performance options: invalid perf option " + o);

  for (const config::EncryptionKey& k : spec.keys) {
    std::unique_ptr<keys::KeyHandler> h;
    auto type = k.type();
    if (!type)
      throw Error(Code::kInvalidArgument, "key in slot " + std::to_string(k.slot) + " has no kind");
    switch (*type) {
      case config::KeyType::kStatic:
        h = keys::make_static_handler(k.slot, k.static_key->passphrase);
        break;
      case config::KeyType::kNodeID:
        h = keys::make_node_id_handler(k.slot, sources.uuid, volume_id_);
        break;
      case config::KeyType::kKMS:
        h = sources.kms ? sources.kms(k)
                        : std::make_unique<UnavailableHandler>(k.slot, *type, "*keys.KMSKeyHandler",
                                                               "KMS is not available on this node");
        break;
      case config::KeyType::kTPM:
        h = sources.tpm ? sources.tpm(k)
                        : std::make_unique<UnavailableHandler>(k.slot, *type, "*keys.TPMKeyHandler",
                                                               "TPM is not available on this node");
        break;
    }
    if (k.locked_to_state()) h = keys::make_salted_handler(std::move(h), sources.salt);
    handlers_.push_back(std::move(h));
  }
  std::stable_sort(handlers_.begin(), handlers_.end(),
                   [](const auto& a, const auto& b) { return a->slot() < b->slot(); });
}

Handler::~Handler() = default;

std::optional<std::string> Handler::read_token(luks2::Device& dev, int slot) {
  auto json = dev.token(slot);
  if (!json) return std::nullopt;
  std::string type;
  try {
    type = nlohmann::json::parse(*json).value("type", "");
  } catch (const nlohmann::json::exception&) {
  }
  if (type != kTokenTypeKMS && type != kTokenTypeTPM)
    throw Error(Code::kTokenInvalid, "unknown token type " + type);
  return json;
}

void Handler::add_key(luks2::Device& dev, keys::KeyHandler& h, const Secret& authorising) {
  try {
    keys::NewKey k = h.new_key();
    if (k.token_json) dev.set_token(h.slot(), *k.token_json);  // the token first, as Talos does
    dev.add_key(h.slot(), authorising, k.passphrase, pbkdf_);
  } catch (const Error& e) {
    throw Error(e.code(), std::string("failed to add new key during key update ") + e.what(),
                e.retryable());
  }
}

void Handler::format_and_encrypt(const std::string& device) {
  if (handlers_.empty()) throw Error(Code::kFailedPrecondition, "no encryption keys found", true);
  // tryHandlers(NewKey): the lowest slot that can produce a key formats the volume.
  std::vector<std::string> errs;
  keys::KeyHandler* primary = nullptr;
  keys::NewKey key;
  for (auto& h : handlers_) {
    try {
      key = h->new_key();
      primary = h.get();
      break;
    } catch (const Error& e) {
      errs.push_back(e.what());
    }
  }
  if (!primary)
    throw Error(Code::kUnavailable,
                "no handlers available to get encryption keys from: " + multierror(errs), true);
  luks2::FormatOptions opts;
  opts.cipher = spec_.cipher;
  opts.key_size_bits = spec_.key_size;
  opts.sector_size = static_cast<uint32_t>(spec_.block_size);
  opts.pbkdf = pbkdf_;
  luks2::Device dev = luks2::Device::format(device, primary->slot(), key.passphrase, opts, env_);
  if (key.token_json) dev.set_token(primary->slot(), *key.token_json);
  for (auto& h : handlers_) {
    if (h.get() == primary) continue;
    try {
      add_key(dev, *h, key.passphrase);
    } catch (const Error& e) {
      throw Error(e.code(), e.what(), true);  // abort, Retryable; written slots stay
    }
  }
}

OpenResult Handler::open(const std::string& device) {
  luks2::Device dev = luks2::Device::load(device);
  if (handlers_.empty()) throw Error(Code::kFailedPrecondition, "no encryption keys found", true);
  std::vector<std::string> errs;
  keys::KeyHandler* used = nullptr;
  Secret used_key;
  for (auto& h : handlers_) {
    try {
      std::optional<std::string> token = read_token(dev, h->slot());
      Secret k = h->get_key(token);
      dev.test_key(h->slot(), k);
      used = h.get();
      used_key = std::move(k);
      break;
    } catch (const Error& e) {
      errs.push_back(e.what());
    }
  }
  if (!used)
    throw Error(Code::kKeyRejected,
                "error opening encrypted volume: no handlers available to get encryption keys "
                "from: " +
                    multierror(errs),
                true);

  OpenResult r;
  r.slot = used->slot();
  r.locked_to_state = used->locked_to_state();
  for (const auto& k : spec_.keys)
    if (k.slot == r.slot && k.type() == config::KeyType::kTPM) r.tpm = k.tpm;
  std::set<std::string> kinds;
  for (const auto& h : handlers_) kinds.insert(std::string(config::key_type_name(h->type())));
  r.configured_keys.assign(kinds.begin(), kinds.end());
  r.failed_syncs = sync_keys(dev, *used, used_key);
  r.passphrase = std::move(used_key);
  return r;
}

std::vector<std::string> Handler::sync_keys(luks2::Device& dev, const keys::KeyHandler& used,
                                            const Secret& used_key) {
  std::vector<std::string> failed;
  std::map<int, luks2::KeyslotInfo> slots = dev.keyslots();
  std::set<int> visited;
  for (auto& h : handlers_) {
    visited.insert(h->slot());
    if (h->slot() == used.slot()) continue;
    const std::string slot = std::to_string(h->slot());
    if (slots.count(h->slot())) {
      // updateKey: a valid slot is left alone; an invalid one is killed and re-added.
      bool valid = false;
      try {
        std::optional<std::string> token = read_token(dev, h->slot());
        Secret k = h->get_key(token);
        valid = dev.check_key(h->slot(), k);
      } catch (const Error& e) {
        if (e.code() != Code::kTokenInvalid) {
          failed.push_back("error updating key slot " + slot + " " + h->go_type() + ": " +
                           e.what());
          continue;
        }
      }
      if (valid) continue;
      try {
        try {
          dev.kill_slot(h->slot());
          dev.remove_token(h->slot());
        } catch (const Error& e) {
          throw Error(e.code(),
                      std::string("failed to drop old key during key update ") + e.what());
        }
        env_.fault_point("encryption.between_kill_and_add");
        add_key(dev, *h, used_key);
      } catch (const Error& e) {
        failed.push_back("error updating key slot " + slot + " " + h->go_type() + ": " + e.what());
      }
    } else {
      try {
        add_key(dev, *h, used_key);
      } catch (const Error& e) {
        failed.push_back("error adding key slot " + slot + " " + h->go_type() + ": " + e.what());
      }
    }
  }
  // Every keyslot that no configured key owns is removed (#13343: Talos manages the keyslots).
  for (const auto& [n, info] : slots) {
    if (visited.count(n)) continue;
    try {
      dev.kill_slot(n);
      dev.remove_token(n);
    } catch (const Error& e) {
      failed.push_back("error removing key slot " + std::to_string(n) + ": " + e.what());
    }
  }
  return failed;
}

}  // namespace cryptnode::encryption
