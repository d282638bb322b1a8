#include <algorithm>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>

#include "cryptnode/engine/encryption_handler.h"
#include "cryptnode/engine/error.h"
#include "cryptnode/engine/header_validation.h"
#include "cryptnode/engine/keys/kms_handler.h"

namespace cryptnode::encryption {
namespace {

const char* const kPerfOptions[] = {"no_read_workqueue", "no_write_workqueue", "same_cpu_crypt"};

// fmt.Errorf("<prefix> %w", err): Talos' key-update wrapping has no colon.
Error go_wrap(const Error& e, const std::string& prefix) {
  return Error(e.code(), prefix + " " + e.what(), e.retryable());
}

std::string multierror(const std::vector<std::string>& errs) {
  return config::format_multierror(errs);
}

// keyHandlerTimeout (internal/pkg/encryption/encryption.go): tryHandlers runs each key handler
// under a context with this deadline; 10 s until 1.12.6, 20 s from 1.12.7 (e16007b44, talos#13056).
// Nothing in a handler is cut short by it (a TPM unseal ignores the context); what runs after the
// deadline under the same context fails:
//  - until 1.12.6 the PCR 11 lock around a TPM seal/unseal removes its finalizer with that context
//    (hardware.LockPCRStatus): the key handler fails even though the TPM answered;
//  - from 1.12.7 the removal is detached (context.WithoutCancel), and the luksOpen of the open
//    path (cryptsetup run with that context) is the first to see it.
class KeyDeadline {
 public:
  KeyDeadline(Env& env, const versions::Version& v)
      : clock_(env.clock()),
        detached_unlock_(versions::applies(versions::Rule::kKeyHandlerTimeout20s, v)),
        at_ms_(clock_.now_ms() + (detached_unlock_ ? 20000 : 10000)) {}

  bool expired() { return clock_.now_ms() >= at_ms_; }

  // After a TPM handler's call (NewKey/GetKey) returned or threw `err`: errors.Join(fnErr,
  // "failed to unlock PCR 11: remove finalizer rate limited: context deadline exceeded") when the
  // finalizer removal saw the expired deadline.
  void after_tpm_call(const keys::KeyHandler& h, const std::string* err) {
    if (h.type() != config::KeyType::kTPM || detached_unlock_ || !expired()) return;
    std::string text = kUnlockPcr11;
    if (err) text = *err + "\n" + text;
    throw Error(Code::kTimeout, text);
  }

  // luksOpen under the key's context (go-blockdevice's runCommand: exec with the context).
  void before_luks_open() {
    if (expired())
      throw Error(Code::kTimeout, "failed to call cryptsetup: context deadline exceeded");
  }

 private:
  static constexpr const char* kUnlockPcr11 =
      "failed to unlock PCR 11: remove finalizer rate limited: context deadline exceeded";
  Clock& clock_;
  bool detached_unlock_;
  int64_t at_ms_;
};

// Calls `fn` (a handler's NewKey or GetKey) under `deadline`, as the PCR 11 lock sees it.
template <typename Fn>
auto under_deadline(KeyDeadline& deadline, const keys::KeyHandler& h, Fn&& fn) {
  std::optional<decltype(fn())> r;
  try {
    r.emplace(fn());
  } catch (const Error& e) {
    const std::string what = e.what();
    deadline.after_tpm_call(h, &what);
    throw;
  }
  deadline.after_tpm_call(h, nullptr);
  return std::move(*r);
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
                 luks2::Pbkdf pbkdf, Env& env, versions::Version version)
    : spec_(spec), volume_id_(std::move(volume_id)), pbkdf_(pbkdf), env_(env), version_(version) {
  const std::string cipher = spec.effective_cipher();
  if (cipher != "aes-xts-plain64" && cipher != "xchacha12,aes-adiantum-plain64" &&
      cipher != "xchacha20,aes-adiantum-plain64")
    throw Error(Code::kInvalidArgument,
                "failed to parse cipher kind: unknown cipher kind " + cipher);
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

// Talos' readToken: no token in that id is nullopt; a token of a type Talos does not know, or
// whose UserData does not unmarshal, is an error of that attempt (not "invalid token": the slot is
// then neither opened with nor replaced, only reported).
std::optional<std::string> Handler::read_token(luks2::Device& dev, int slot) {
  auto json = dev.token(slot);
  if (!json) return std::nullopt;
  nlohmann::json token;
  try {
    token = nlohmann::json::parse(*json);
  } catch (const nlohmann::json::exception&) {
    throw Error(Code::kCorrupt, "invalid character in token " + std::to_string(slot) + " JSON");
  }
  const std::string type = token.is_object() ? token.value("type", "") : "";
  if (type != kTokenTypeKMS && type != kTokenTypeTPM)
    throw Error(Code::kCorrupt, "unknown token type " + type);
  const auto data = token.find("UserData");
  const std::string go_type = type == kTokenTypeKMS ? "keys.KMSToken" : "keys.TPMToken";
  if (data != token.end() && !data->is_null() && !data->is_object())
    throw Error(Code::kCorrupt, "json: cannot unmarshal " +
                                    std::string(data->is_array()    ? "array"
                                                : data->is_string() ? "string"
                                                : data->is_number() ? "number"
                                                                    : "bool") +
                                    " into Go value of type " + go_type);
  if (type == kTokenTypeKMS && data != token.end() && data->is_object()) {
    auto sealed = data->find("sealedData");
    if (sealed != data->end() && !sealed->is_null()) {
      if (!sealed->is_string())
        throw Error(Code::kCorrupt,
                    "json: cannot unmarshal into Go struct field KMSToken.sealedData of type "
                    "[]uint8");
      keys::base64_decode(sealed->get<std::string>());  // Go: "illegal base64 data at input byte N"
    }
  }
  return json;
}

// Talos' addKey: NewKey and SetToken errors come back as they are; only a failed luksAddKey is
// wrapped.
void Handler::add_key(luks2::Device& dev, keys::KeyHandler& h, const Secret& authorising) {
  keys::NewKey k = h.new_key();
  env_.fault_point("encryption.before_add_key");
  if (k.token_json) {
    dev.set_token(h.slot(), *k.token_json);  // the token first, as Talos does
    env_.fault_point("encryption.after_token_write");
  }
  try {
    dev.add_key(h.slot(), authorising, k.passphrase, pbkdf_);
  } catch (const Error& e) {
    throw go_wrap(e, "failed to add new key during key update");
  }
  env_.fault_point("encryption.after_add_key");
}

void Handler::format_and_encrypt(const std::string& device) {
  if (handlers_.empty()) throw Error(Code::kFailedPrecondition, "no encryption keys found", true);
  // tryHandlers(NewKey): the lowest slot that can produce a key formats the volume.
  std::vector<std::string> errs;
  keys::KeyHandler* primary = nullptr;
  keys::NewKey key;
  for (auto& h : handlers_) {
    KeyDeadline deadline(env_, version_);
    try {
      key = under_deadline(deadline, *h, [&] { return h->new_key(); });
      primary = h.get();
      break;
    } catch (const Error& e) {
      errs.push_back(e.what());
    }
  }
  if (!primary)
    throw Error(Code::kUnavailable,
                "no handlers available to get encryption keys from: " + multierror(errs));
  luks2::FormatOptions opts;
  opts.cipher = spec_.cipher;
  opts.key_size_bits = spec_.key_size;
  opts.sector_size = static_cast<uint32_t>(spec_.block_size);
  opts.pbkdf = pbkdf_;
  luks2::Device dev = luks2::Device::format(device, primary->slot(), key.passphrase, opts, env_);
  if (key.token_json) {
    dev.set_token(primary->slot(), *key.token_json);
    env_.fault_point("encryption.after_format_token");
  }
  // Any add failure aborts (the caller tags it Retryable); the slots already written stay.
  for (auto& h : handlers_)
    if (h.get() != primary) add_key(dev, *h, key.passphrase);
}

OpenResult Handler::open(const std::string& device, const Activate& activate) {
  luks2::Device dev = luks2::Device::load(device);
  if (handlers_.empty()) throw Error(Code::kFailedPrecondition, "no encryption keys found");
  // From 1.12.7 go-blockdevice validates both LUKS2 headers before each unlock (luksOpen with a
  // detached header): every attempt fails alike on a header it rejects.
  const bool validate = versions::applies(versions::Rule::kLuks2HeaderValidation, version_);
  const bool reject_argon2i =
      versions::applies(versions::Rule::kLuks2HeaderRejectsArgon2i, version_);
  // 1.8.1-1.8.4 ran luksOpen after tryHandlers (talos#8100, fixed by PR #9830 in 1.9.0): the
  // first key a handler returns is used, and a key cryptsetup rejects fails the open as it is.
  const bool fallback = versions::applies(versions::Rule::kOpenTriesEveryKeyslot, version_);
  std::vector<std::string> errs;
  keys::KeyHandler* used = nullptr;
  Secret used_key;
  for (auto& h : handlers_) {
    KeyDeadline deadline(env_, version_);
    Secret k;
    try {
      std::optional<std::string> token = read_token(dev, h->slot());
      k = under_deadline(deadline, *h, [&] { return h->get_key(token); });
    } catch (const Error& e) {
      errs.push_back(e.what());
      continue;
    }
    try {
      if (validate) luks2::validate_header(device, env_, reject_argon2i);
      if (fallback) deadline.before_luks_open();  // 1.8.1-1.8.4: luksOpen ran outside it
      dev.unlock(h->slot(), k);  // test-passphrase; the Device keeps the volume key
    } catch (const Error& e) {
      if (!fallback) throw;
      errs.push_back(e.what());
      continue;
    }
    used = h.get();
    used_key = std::move(k);
    break;
  }
  if (!used)
    throw Error(Code::kKeyRejected,
                "no handlers available to get encryption keys from: " + multierror(errs));

  OpenResult r;
  r.slot = used->slot();
  r.locked_to_state = used->locked_to_state();
  for (const auto& k : spec_.keys)
    if (k.slot == r.slot && k.type() == config::KeyType::kTPM) r.tpm = k.tpm;
  std::set<std::string> kinds;
  for (const auto& h : handlers_) kinds.insert(std::string(config::key_type_name(h->type())));
  r.configured_keys.assign(kinds.begin(), kinds.end());
  if (activate) activate(r.slot, used_key);
  r.failed_syncs = sync_keys(dev, *used, used_key);
  // Before 1.9 (talos#9820, PR #9830) the first failed sync failed the whole open.
  if (!r.failed_syncs.empty() && !versions::applies(versions::Rule::kFailedSyncsNonFatal, version_))
    throw Error(Code::kFailedPrecondition, r.failed_syncs.front());
  r.passphrase = std::move(used_key);
  return r;
}

// Talos' updateKey: a valid slot is left alone; an invalid one (its key no longer opens it, or
// its token is of the wrong kind) is removed and re-added. Errors carry Talos' wrapping: a failed
// luksAddKey reads "failed to add new key during key update failed to add new key during key
// update ..." (addKey and updateKey both wrap it).
void Handler::update_key(luks2::Device& dev, keys::KeyHandler& h, const Secret& used_key) {
  bool valid = false;
  try {
    std::optional<std::string> token = read_token(dev, h.slot());
    Secret k = h.get_key(token);
    valid = dev.check_key(h.slot(), k);
  } catch (const Error& e) {
    if (e.code() != Code::kTokenInvalid) throw;
  }
  if (valid) return;
  try {
    env_.fault_point("encryption.before_kill");
    dev.kill_slot(h.slot());
    env_.fault_point("encryption.after_kill");
    dev.remove_token(h.slot());
  } catch (const Error& e) {
    throw go_wrap(e, "failed to drop old key during key update");
  }
  env_.fault_point("encryption.between_kill_and_add");
  try {
    add_key(dev, h, used_key);
  } catch (const Error& e) {
    throw go_wrap(e, "failed to add new key during key update");
  }
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
    const bool exists = slots.count(h->slot()) > 0;
    try {
      if (exists)
        update_key(dev, *h, used_key);
      else
        add_key(dev, *h, used_key);
    } catch (const Error& e) {
      failed.push_back((exists ? "error updating key slot " : "error adding key slot ") + slot +
                       " " + h->go_type() + ": " + e.what());
    }
  }
  // Every keyslot that no configured key owns is removed (talos#13343: Talos manages them all).
  for (const auto& [n, info] : slots) {
    if (visited.count(n)) continue;
    try {
      env_.fault_point("encryption.before_kill");
      dev.kill_slot(n);
      env_.fault_point("encryption.after_kill");
      dev.remove_token(n);
      env_.fault_point("encryption.after_remove");
    } catch (const Error& e) {
      failed.push_back("error removing key slot " + std::to_string(n) + ": " + e.what());
    }
  }
  return failed;
}

}  // namespace cryptnode::encryption
