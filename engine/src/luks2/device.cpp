#include <fcntl.h>
#include <libcryptsetup.h>
#include <openssl/sha.h>
#include <sys/random.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <nlohmann/json.hpp>

#include "cryptnode/engine/error.h"
#include "cryptnode/engine/luks2.h"
#include "digest_cache.h"
#include "kdf_slots.h"
#include "random_pool.h"
#include "verified_slots.h"

namespace cryptnode::luks2 {

static_assert(kPerfOptions[0].activate_flag == CRYPT_ACTIVATE_NO_READ_WORKQUEUE);
static_assert(kPerfOptions[1].activate_flag == CRYPT_ACTIVATE_NO_WRITE_WORKQUEUE);
static_assert(kPerfOptions[2].activate_flag == CRYPT_ACTIVATE_SAME_CPU_CRYPT);

namespace {

constexpr const char* kKeyRejected = "encryption key rejected";
constexpr const char* kBusy = "mapped device is still in use";

// libcryptsetup's log: messages of a crypt_device go to its Device's sink; those without one
// (before crypt_init returns, crypt_status) to the default callback, which drops them instead of
// printing them to stderr.
void log_to_sink(int level, const char* msg, void* usrptr) {
  auto* sink = static_cast<LogSink*>(usrptr);
  if (!sink || !*sink || !msg) return;
  std::string line(msg);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
  if (line.empty()) return;
  LogLevel l = level == CRYPT_LOG_ERROR     ? LogLevel::kError
               : level == CRYPT_LOG_VERBOSE ? LogLevel::kVerbose
               : level == CRYPT_LOG_NORMAL  ? LogLevel::kNormal
                                            : LogLevel::kDebug;
  try {
    (*sink)(l, line);
  } catch (...) {
    // A failing sink must not unwind through libcryptsetup's C frames.
  }
}

// Before the first libcryptsetup call: its default log dropped, its random bytes batched
// (random_pool.h), its digests fetched once (digest_cache.h).
void prepare_libcryptsetup() {
  static std::once_flag once;
  std::call_once(once, [] {
    install_random_pool();
    install_digest_cache();
    crypt_set_log_callback(nullptr, log_to_sink, nullptr);
  });
}

crypt_pbkdf_type fast_pbkdf() {
  crypt_pbkdf_type p{};
  p.type = CRYPT_KDF_ARGON2ID;
  p.hash = "sha256";
  p.iterations = 4;      // argon2 time cost minimum
  p.max_memory_kb = 32;  // argon2 memory minimum
  p.parallel_threads = 1;
  p.flags = CRYPT_PBKDF_NO_BENCHMARK;
  return p;
}

void set_pbkdf(crypt_device* cd, Pbkdf pbkdf) {
  int r;
  if (pbkdf == Pbkdf::kFast) {
    crypt_pbkdf_type p = fast_pbkdf();
    r = crypt_set_pbkdf_type(cd, &p);
  } else {
    r = crypt_set_pbkdf_type(cd, crypt_get_pbkdf_default(CRYPT_LUKS2));
  }
  if (r < 0) throw_errno("crypt_set_pbkdf_type", -r);
}

crypt_device* init(const std::string& path, LogSink* log) {
  prepare_libcryptsetup();
  crypt_device* cd = nullptr;
  int r = crypt_init(&cd, path.c_str());
  if (r < 0) throw_errno(path, -r);
  crypt_set_log_callback(cd, log_to_sink, log);
  return cd;
}

std::unique_ptr<LogSink> own(LogSink log) {
  return log ? std::make_unique<LogSink>(std::move(log)) : nullptr;
}

// A fresh volume key, as luksFormat makes one (libcryptsetup: crypt_random_get, CRYPT_RND_KEY).
Secret random_volume_key(size_t bytes) {
  Secret vk(bytes);
  size_t done = 0;
  while (done < bytes) {
    ssize_t n = ::getrandom(vk.data() + done, bytes - done, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw_errno("getrandom", errno);
    done += static_cast<size_t>(n);
  }
  return vk;
}

uint64_t json_number(const nlohmann::json& j, const char* key) {
  const auto it = j.find(key);
  if (it == j.end() || !it->is_string()) throw std::invalid_argument(key);
  return std::stoull(it->get<std::string>());
}

// SHA-256 of `size` bytes at `offset` of `path`, read around the page cache as libcryptsetup
// writes them (O_DIRECT; a buffered read where the filesystem has no O_DIRECT). nullopt when
// anything fails: the caller then runs the real check.
std::optional<std::array<uint8_t, 32>> area_sha256(const std::string& path, uint64_t offset,
                                                   uint64_t size) {
  constexpr uint64_t kAlign = 4096, kMax = 64u << 20;
  if (size == 0 || size > kMax || offset % kAlign || size % kAlign) return std::nullopt;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_DIRECT);
  if (fd < 0 && errno == EINVAL) fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  void* buf = std::aligned_alloc(kAlign, size);
  uint64_t done = 0;
  while (buf && done < size) {
    ssize_t n =
        ::pread(fd, static_cast<char*>(buf) + done, size - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += static_cast<uint64_t>(n);
  }
  ::close(fd);
  std::optional<std::array<uint8_t, 32>> out;
  if (buf && done == size) {
    out.emplace();
    SHA256(static_cast<const uint8_t*>(buf), size, out->data());
  }
  std::free(buf);
  return out;
}

}  // namespace

const CipherSpec* find_cipher(std::string_view name) {
  for (const auto& c : kCiphers)
    if (c.name == name) return &c;
  return nullptr;
}

const CipherSpec& parse_cipher(std::string_view name) {
  if (const CipherSpec* c = find_cipher(name)) return *c;
  throw Error(Code::kInvalidArgument, "unknown cipher kind " + std::string(name));
}

const PerfOption* find_perf_option(std::string_view name) {
  for (const auto& p : kPerfOptions)
    if (p.name == name) return &p;
  return nullptr;
}

uint32_t perf_flags(const std::vector<std::string>& options) {
  uint32_t flags = 0;
  for (const auto& o : options) {
    const PerfOption* p = find_perf_option(o);
    if (!p) throw Error(Code::kInvalidArgument, "invalid perf option " + o);
    flags |= p->activate_flag;
  }
  return flags;
}

Pbkdf parse_pbkdf(const std::string& name) {
  if (name == "fast") return Pbkdf::kFast;
  if (name == "production") return Pbkdf::kProduction;
  throw Error(Code::kInvalidArgument, "pbkdf \"" + name + "\" is not one of fast, production");
}

struct Device::Unlocked {
  std::string uuid;  // the LUKS2 UUID: the verified-keyslot cache's key
  Secret volume_key;
  int slot = 0;
  SlotTag auth{};  // tag of the passphrase that opened `slot`
};

namespace {
SlotTagInputs auth_inputs(int slot) {
  SlotTagInputs in;
  in.slot = slot;
  in.binding_json = "unlocked by";
  return in;
}
}  // namespace

Device::Device(std::string path, crypt_device* cd, std::unique_ptr<LogSink> log)
    : path_(std::move(path)), cd_(cd), log_(std::move(log)) {}
Device::Device(Device&& o) noexcept
    : path_(std::move(o.path_)),
      cd_(o.cd_),
      log_(std::move(o.log_)),
      unlocked_(std::move(o.unlocked_)) {
  o.cd_ = nullptr;
}
Device& Device::operator=(Device&& o) noexcept {
  if (this != &o) {
    if (cd_) crypt_free(cd_);
    path_ = std::move(o.path_);
    cd_ = o.cd_;
    log_ = std::move(o.log_);  // after crypt_free: libcryptsetup held the old sink's address
    unlocked_ = std::move(o.unlocked_);
    o.cd_ = nullptr;
  }
  return *this;
}
Device::~Device() {
  if (cd_) crypt_free(cd_);
}

Device Device::load(const std::string& path) {
  return load(path, LogSink());
}

Device Device::load(const std::string& path, LogSink log) {
  auto sink = own(std::move(log));
  crypt_device* cd = init(path, sink.get());
  int r = crypt_load(cd, CRYPT_LUKS2, nullptr);
  if (r < 0) {
    crypt_free(cd);
    if (r == -EINVAL || r == -ENOENT || r == -ENOTBLK)
      throw Error(Code::kInvalidArgument, path + " is not a LUKS2 device");
    throw_errno(path + ": crypt_load", -r);
  }
  return Device(path, cd, std::move(sink));
}

Device Device::format(const std::string& path, int slot, const Secret& passphrase,
                      const FormatOptions& o, Env& env) {
  const CipherSpec* spec = find_cipher(o.cipher.empty() ? kDefaultCipher : o.cipher);
  if (!spec)
    throw Error(Code::kInvalidArgument,
                "failed to parse cipher kind: unknown cipher kind " + o.cipher);
  try {
    perf_flags(o.perf_options);
  } catch (const Error& e) {
    throw e.wrap("invalid luks performance options");
  }
  const std::string cipher(spec->cipher), mode(spec->mode);
  uint64_t bits = o.key_size_bits ? o.key_size_bits : spec->default_key_bits;
  auto sink = own(o.log);
  LogSink* sink_ptr = sink.get();
  Device d(path, init(path, sink_ptr), std::move(sink));
  set_pbkdf(d.cd_, o.pbkdf);
  crypt_params_luks2 params{};
  params.sector_size = o.sector_size ? o.sector_size : 512;
  // The volume key is made here rather than inside crypt_format so the Device keeps it: every
  // further key of FormatAndEncrypt is added by volume key (add_key), without unlocking again.
  Secret vk = random_volume_key(bits / 8);
  auto kdf = KdfSlot::acquire();  // the PBKDF benchmark and the first keyslot's KDF
  int r = crypt_format(d.cd_, CRYPT_LUKS2, cipher.c_str(), mode.c_str(), nullptr, vk.view().data(),
                       vk.size(), &params);
  if (r < 0) throw_errno(path + ": luksFormat", -r);
  r = crypt_keyslot_add_by_volume_key(d.cd_, slot, vk.view().data(), vk.size(),
                                      passphrase.view().data(), passphrase.size());
  if (r < 0) throw_errno(path + ": add keyslot " + std::to_string(slot), -r);
  d.set_unlocked(std::move(vk), slot, passphrase);
  d.record_verified(slot, passphrase);
  // Talos runs `cryptsetup luksFormat`, one command that writes the header and the first keyslot:
  // the cut point is after both.
  env.fault_point("luks2.after_format");
  return d;
}

void Device::set_unlocked(Secret volume_key, int slot, const Secret& passphrase) {
  auto u = std::make_unique<Unlocked>();
  const char* uuid = crypt_get_uuid(cd_);
  u->uuid = uuid ? uuid : "";
  u->volume_key = std::move(volume_key);
  u->slot = slot;
  u->auth = slot_tag(u->volume_key, auth_inputs(slot), passphrase);
  unlocked_ = std::move(u);
}

// `passphrase` opened unlocked_->slot, which has not been destroyed since (kill_slot drops
// unlocked_): luksAddKey authorised by it would unlock this same volume key.
bool Device::unlocked_by(const Secret& passphrase) const {
  return unlocked_ && !unlocked_->uuid.empty() &&
         slot_tag(unlocked_->volume_key, auth_inputs(unlocked_->slot), passphrase) ==
             unlocked_->auth;
}

// Where luksOpen --test-passphrase and reading the volume key of that slot are the same
// computation (libcryptsetup 2.6: both LUKS2_keyslot_open, the former for the data segment).
bool Device::plain_keyslot(int slot) {
  if (slot < 0) return false;
  const crypt_keyslot_info s = crypt_keyslot_status(cd_, slot);
  return (s == CRYPT_SLOT_ACTIVE || s == CRYPT_SLOT_ACTIVE_LAST) &&
         crypt_reencrypt_status(cd_, nullptr) == CRYPT_REENCRYPT_NONE;
}

// The verified-keyslot record of `slot` opened by `passphrase` with the volume key at hand, when
// the header and the key material read back (a failed read records nothing).
void Device::record_verified(int slot, const Secret& passphrase) {
  if (!unlocked_ || unlocked_->uuid.empty() || !plain_keyslot(slot)) return;
  if (auto in = tag_inputs(slot))
    VerifiedSlots::record(unlocked_->uuid, slot, slot_tag(unlocked_->volume_key, *in, passphrase));
}

std::optional<SlotTagInputs> Device::tag_inputs(int slot) {
  const char* text = nullptr;
  if (crypt_dump_json(cd_, &text, 0) < 0 || !text) return std::nullopt;
  const auto meta = nlohmann::json::parse(text, nullptr, false);
  try {
    const nlohmann::json& ks = meta.at("keyslots").at(std::to_string(slot));
    const nlohmann::json& area = ks.at("area");
    auto sha = area_sha256(path_, json_number(area, "offset"), json_number(area, "size"));
    if (!sha) return std::nullopt;
    SlotTagInputs in;
    in.slot = slot;
    in.keyslot_json = ks.dump();
    // The digests this keyslot is bound to, without their lists of keyslots: adding or
    // removing another keyslot changes those lists but not what opens this one.
    nlohmann::json digests = nlohmann::json::object();
    const std::string id = std::to_string(slot);
    for (const auto& [n, d] : meta.at("digests").items()) {
      const auto& bound = d.at("keyslots");
      if (std::find(bound.begin(), bound.end(), id) == bound.end()) continue;
      nlohmann::json mine = d;
      mine.erase("keyslots");
      digests[n] = std::move(mine);
    }
    in.binding_json =
        nlohmann::json{
            {"digests", digests}, {"segments", meta.at("segments")}, {"config", meta.at("config")}}
            .dump();
    in.area_sha256 = *sha;
    return in;
  } catch (const std::exception&) {
    return std::nullopt;  // an odd header: no record, the real check decides
  }
}

void Device::add_key(int slot, const Secret& existing, const Secret& passphrase, Pbkdf pbkdf) {
  set_pbkdf(cd_, pbkdf);
  int r;
  {
    auto kdf = KdfSlot::acquire();
    r = unlocked_by(existing)
            ? crypt_keyslot_add_by_volume_key(cd_, slot, unlocked_->volume_key.view().data(),
                                              unlocked_->volume_key.size(),
                                              passphrase.view().data(), passphrase.size())
            : crypt_keyslot_add_by_passphrase(cd_, slot, existing.view().data(), existing.size(),
                                              passphrase.view().data(), passphrase.size());
  }
  if (r == -EPERM) throw Error(Code::kKeyRejected, kKeyRejected);
  if (r < 0) throw_errno("luksAddKey --key-slot=" + std::to_string(slot), -r);
  record_verified(slot, passphrase);
}

namespace {
bool test_passphrase(crypt_device* cd, int slot, const Secret& passphrase) {
  auto kdf = KdfSlot::acquire();
  int r = crypt_activate_by_passphrase(cd, nullptr, slot, passphrase.view().data(),
                                       passphrase.size(), 0);
  if (r >= 0) return true;
  if (r == -EPERM || r == -ENOENT || r == -EINVAL) return false;
  throw_errno("luksOpen --test-passphrase --key-slot=" + std::to_string(slot), -r);
}
}  // namespace

bool Device::check_key(int slot, const Secret& passphrase) {
  if (!unlocked_ || unlocked_->uuid.empty() || !plain_keyslot(slot))
    return test_passphrase(cd_, slot, passphrase);
  std::optional<SlotTag> tag;
  if (auto in = tag_inputs(slot)) tag = slot_tag(unlocked_->volume_key, *in, passphrase);
  if (tag && VerifiedSlots::contains(unlocked_->uuid, slot, *tag)) return true;
  const bool ok = test_passphrase(cd_, slot, passphrase);
  if (ok && tag) VerifiedSlots::record(unlocked_->uuid, slot, *tag);
  return ok;
}

void Device::test_key(int slot, const Secret& passphrase) {
  if (!check_key(slot, passphrase)) throw Error(Code::kKeyRejected, kKeyRejected);
}

void Device::unlock(int slot, const Secret& passphrase) {
  if (!plain_keyslot(slot)) {
    if (!test_passphrase(cd_, slot, passphrase)) throw Error(Code::kKeyRejected, kKeyRejected);
    return;
  }
  size_t size = static_cast<size_t>(crypt_get_volume_key_size(cd_));
  Secret vk(size);
  int r;
  {
    auto kdf = KdfSlot::acquire();
    r = crypt_volume_key_get(cd_, slot, reinterpret_cast<char*>(vk.data()), &size,
                             passphrase.view().data(), passphrase.size());
  }
  if (r == -EPERM || r == -ENOENT || r == -EINVAL) throw Error(Code::kKeyRejected, kKeyRejected);
  if (r < 0) throw_errno("luksOpen --test-passphrase --key-slot=" + std::to_string(slot), -r);
  set_unlocked(std::move(vk), slot, passphrase);
  record_verified(slot, passphrase);
}

void Device::kill_slot(int slot) {
  if (unlocked_ && unlocked_->slot == slot) unlocked_.reset();  // its passphrase opens no more
  int r = crypt_keyslot_destroy(cd_, slot);
  if (r < 0) throw_errno("luksKillSlot " + std::to_string(slot), -r);
  if (const char* uuid = crypt_get_uuid(cd_)) VerifiedSlots::forget(uuid, slot);
}

std::map<int, KeyslotInfo> Device::keyslots() {
  std::map<int, KeyslotInfo> out;
  const int max = crypt_keyslot_max(CRYPT_LUKS2);
  for (int i = 0; i < max; ++i) {
    crypt_keyslot_info s = crypt_keyslot_status(cd_, i);
    if (s != CRYPT_SLOT_ACTIVE && s != CRYPT_SLOT_ACTIVE_LAST) continue;
    KeyslotInfo k;
    k.slot = i;
    crypt_pbkdf_type p{};
    if (crypt_keyslot_get_pbkdf(cd_, i, &p) == 0 && p.type) k.kdf = p.type;
    out[i] = k;
  }
  return out;
}

std::optional<std::string> Device::token(int id) {
  const char* json = nullptr;
  int r = crypt_token_json_get(cd_, id, &json);
  if (r < 0) return std::nullopt;
  return std::string(json);
}

void Device::set_token(int id, const std::string& json) {
  remove_token(id);
  int r = crypt_token_json_set(cd_, id, json.c_str());
  if (r < 0) throw_errno("token import --token-id " + std::to_string(id), -r);
}

void Device::remove_token(int id) {
  if (token(id)) crypt_token_json_set(cd_, id, nullptr);
}

std::map<int, std::string> Device::tokens() {
  std::map<int, std::string> out;
  for (int i = 0; i < 32; ++i)
    if (auto t = token(i)) out[i] = *t;
  return out;
}

Secret Device::volume_key(int slot, const Secret& passphrase) {
  size_t size = static_cast<size_t>(crypt_get_volume_key_size(cd_));
  Secret vk(size);
  auto kdf = KdfSlot::acquire();
  int r = crypt_volume_key_get(cd_, slot, reinterpret_cast<char*>(vk.data()), &size,
                               passphrase.view().data(), passphrase.size());
  if (r == -EPERM || r == -ENOENT) throw Error(Code::kKeyRejected, kKeyRejected);
  if (r < 0) throw_errno("volume key", -r);
  return vk;
}

std::string Device::header_json() {
  const char* json = nullptr;
  int r = crypt_dump_json(cd_, &json, 0);
  if (r < 0) throw_errno("luksDump", -r);
  return json;
}

uint64_t Device::data_offset() const {
  return crypt_get_data_offset(cd_) * 512;
}
std::optional<uint64_t> Device::data_size() {
  // The segment LUKS2 maps (segments."0"; cryptnode never reencrypts, so there is one).
  auto meta = nlohmann::json::parse(header_json(), nullptr, false);
  const auto* seg = meta.is_object() && meta.contains("segments") && meta["segments"].is_object() &&
                            meta["segments"].contains("0")
                        ? &meta["segments"]["0"]
                        : nullptr;
  if (!seg || !seg->contains("size") || !(*seg)["size"].is_string())
    throw Error(Code::kCorrupt, path_ + ": LUKS2 header has no data segment");
  const std::string size = (*seg)["size"];
  if (size == "dynamic") return std::nullopt;
  try {
    return std::stoull(size);
  } catch (const std::exception&) {
    throw Error(Code::kCorrupt, path_ + ": invalid LUKS2 data segment size \"" + size + "\"");
  }
}

uint32_t Device::sector_size() const {
  return static_cast<uint32_t>(crypt_get_sector_size(cd_));
}
std::string Device::cipher() const {
  return std::string(crypt_get_cipher(cd_)) + "-" + crypt_get_cipher_mode(cd_);
}
int Device::volume_key_bits() const {
  return crypt_get_volume_key_size(cd_) * 8;
}

void Device::activate(const std::string& name, int slot, const Secret& passphrase,
                      const ActivateOptions& o) {
  uint32_t flags;
  try {
    flags = perf_flags(o.perf_options);
  } catch (const Error& e) {
    throw e.wrap("invalid luks performance options");
  }
  if (o.allow_discards) flags |= CRYPT_ACTIVATE_ALLOW_DISCARDS;
  if (o.read_only) flags |= CRYPT_ACTIVATE_READONLY;
  auto kdf = KdfSlot::acquire();
  int r = crypt_activate_by_passphrase(cd_, name.c_str(), slot, passphrase.view().data(),
                                       passphrase.size(), flags);
  if (r == -EPERM || r == -ENOENT) throw Error(Code::kKeyRejected, kKeyRejected);
  if (r == -EBUSY || r == -EEXIST) throw Error(Code::kDeviceBusy, kBusy);
  if (r < 0) throw_errno("luksOpen " + path_ + " " + name, -r);
}

void Device::deactivate(const std::string& name, const LogSink& log) {
  prepare_libcryptsetup();
  crypt_device* cd = nullptr;
  if (crypt_init_by_name(&cd, name.c_str()) != 0) return;  // not active
  LogSink sink = log;
  crypt_set_log_callback(cd, log_to_sink, &sink);
  int r = crypt_deactivate(cd, name.c_str());
  crypt_free(cd);
  if (r == -EBUSY) throw Error(Code::kDeviceBusy, kBusy);
  if (r < 0 && r != -ENODEV) throw_errno("luksClose " + name, -r);
}

bool Device::active(const std::string& name) {
  prepare_libcryptsetup();
  crypt_status_info s = crypt_status(nullptr, name.c_str());
  return s == CRYPT_ACTIVE || s == CRYPT_BUSY;
}

void wipe_header(const std::string& path, Env& env) {
  auto dev = env.open_block(path, true);
  // Both binary headers + JSON areas: hdr_size from the primary (16 KiB by default) or, when
  // that is damaged, every offset cryptsetup may use for the secondary.
  uint64_t hdr = 16384;
  unsigned char buf[16];
  if (dev->size() >= 16) {
    dev->read_at(0, buf, 16);
    if (std::memcmp(buf, "LUKS\xba\xbe", 6) == 0) {
      uint64_t v = 0;
      for (int i = 8; i < 16; ++i) v = v << 8 | buf[i];
      if (v >= 16384 && v <= (4u << 20)) hdr = v;
    }
  }
  std::string zeros(static_cast<size_t>(std::min<uint64_t>(2 * hdr, dev->size())), '\0');
  dev->write_at(0, zeros.data(), zeros.size());
  dev->sync();
}

}  // namespace cryptnode::luks2
