// The LUKS2 layer over libcryptsetup (RAII, no shelling out): format with Talos' parameters,
// keyslots, tokens, volume key, activation into dm-crypt, header wipe (docs/talos/luks2.md).
// luks2::Device is the only user of libcryptsetup in cryptnode. Errors map to Talos' texts: a wrong
// passphrase is Error(kKeyRejected, "encryption key rejected"), a missing token
// Error(kNoToken, "no token with supplied id exists").
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cryptnode/engine/env.h"
#include "cryptnode/engine/secret.h"

struct crypt_device;

namespace cryptnode::luks2 {

struct SlotTagInputs;  // engine/src/luks2/verified_slots.h

// --- the ciphers and perf options Talos knows: the one list --------------------------------------

// go-blockdevice `encryption/luks/luks.go` (ParseCipherKind, keySizeDefaults). The kernel backend
// serves every cipher the host kernel has; the userspace backend serves aes-xts-plain64 only.
struct CipherSpec {
  std::string_view name;      // Talos' cipher string, e.g. "aes-xts-plain64"
  std::string_view cipher;    // crypt_format's cipher: "aes", "xchacha12,aes"
  std::string_view mode;      // crypt_format's mode: "xts-plain64", "adiantum-plain64"
  uint32_t default_key_bits;  // --key-size when Talos' keySize is unset
  bool userspace;             // the userspace activation backend can serve it
};
inline constexpr CipherSpec kCiphers[] = {
    {"aes-xts-plain64", "aes", "xts-plain64", 512, true},
    {"xchacha12,aes-adiantum-plain64", "xchacha12,aes", "adiantum-plain64", 256, false},
    {"xchacha20,aes-adiantum-plain64", "xchacha20,aes", "adiantum-plain64", 256, false},
};
inline constexpr std::string_view kDefaultCipher = "aes-xts-plain64";  // an empty `cipher`

// nullptr when `name` is not one of kCiphers ("" is not: callers map it to kDefaultCipher).
const CipherSpec* find_cipher(std::string_view name);
// Throws Error(kInvalidArgument, "unknown cipher kind <name>") (go-blockdevice's text; Talos
// prefixes it with "failed to parse cipher kind: ").
const CipherSpec& parse_cipher(std::string_view name);

// dm-crypt performance flags (go-blockdevice `ValidatePerfOption`, `--perf-<name>` on luksFormat,
// luksOpen and luksAddKey). activate_flag is libcryptsetup's CRYPT_ACTIVATE_* bit (checked against
// libcryptsetup.h in device.cpp).
struct PerfOption {
  std::string_view name;
  uint32_t activate_flag;
};
inline constexpr PerfOption kPerfOptions[] = {
    {"no_read_workqueue", 1u << 24},   // CRYPT_ACTIVATE_NO_READ_WORKQUEUE
    {"no_write_workqueue", 1u << 25},  // CRYPT_ACTIVATE_NO_WRITE_WORKQUEUE
    {"same_cpu_crypt", 1u << 6},       // CRYPT_ACTIVATE_SAME_CPU_CRYPT
};
const PerfOption* find_perf_option(std::string_view name);  // nullptr: not one of them
// The CRYPT_ACTIVATE_* bits of `options`. Throws Error(kInvalidArgument, "invalid perf option
// <name>") (go-blockdevice's text; Talos prefixes it with "invalid luks performance options: ").
uint32_t perf_flags(const std::vector<std::string>& options);

// --- libcryptsetup's own log ---------------------------------------------------------------------

// libcryptsetup's messages ("No key available with this passphrase.", "Device luks2-x is still in
// use."), one line each, without the trailing newline. They never carry a secret. Without a sink
// they are dropped (libcryptsetup would print them to stderr).
enum class LogLevel { kNormal, kError, kVerbose, kDebug };
using LogSink = std::function<void(LogLevel level, const std::string& line)>;

// --- format
// ---------------------------------------------------------------------------------------

// "production": cryptsetup's defaults (argon2id, benchmarked to 2 s / up to 1 GiB), what Talos
// gets from `cryptsetup luksFormat`. "fast": argon2id at its minimum cost (t=4, m=32 KiB, p=1), no
// benchmark: for tests and simulations (Talos' header validation rejects pbkdf2, so argon2id
// stays).
enum class Pbkdf { kFast, kProduction };
Pbkdf parse_pbkdf(const std::string& name);  // "fast" | "production"

struct FormatOptions {
  std::string cipher;          // "" => aes-xts-plain64; one of kCiphers
  uint64_t key_size_bits = 0;  // 0 => the cipher's default_key_bits
  // 0 => 512. Decision: Talos leaves it to cryptsetup, which picks 512 on a 512-byte-sector
  // device and 4096 on image files; cryptnode always sets it so files and loop devices agree.
  uint32_t sector_size = 0;
  Pbkdf pbkdf = Pbkdf::kFast;
  // Validated as Talos passes them (`--perf-*` on luksFormat); nothing is activated by a format,
  // so they change nothing on disk.
  std::vector<std::string> perf_options;
  LogSink log;  // libcryptsetup's messages during the format and for the Device's lifetime
};

struct KeyslotInfo {
  int slot = 0;
  std::string kdf;  // "argon2id", "argon2i", "pbkdf2"
};

// luksOpen's options (go-blockdevice `Open`): perf options, discards, read-only.
struct ActivateOptions {
  std::vector<std::string> perf_options;  // names from kPerfOptions
  bool allow_discards = false;
  bool read_only = false;
};

class Device {
 public:
  // Loads an existing LUKS2 device. Throws Error(kInvalidArgument, "<path> is not a LUKS2
  // device") when it is not one, kIO when it cannot be opened.
  static Device load(const std::string& path);
  static Device load(const std::string& path, LogSink log);
  // luksFormat: a new volume key, the first keyslot `slot` with `passphrase`.
  static Device format(const std::string& path, int slot, const Secret& passphrase,
                       const FormatOptions& options, Env& env);

  Device(Device&&) noexcept;
  Device& operator=(Device&&) noexcept;
  ~Device();

  const std::string& path() const { return path_; }

  // luksAddKey --key-slot=<slot>: authorised by `existing` (any slot). When `existing` is the
  // passphrase this Device was formatted or unlocked with, the keyslot is added with the volume
  // key already at hand (crypt_keyslot_add_by_volume_key): the same keyslot, one KDF fewer.
  void add_key(int slot, const Secret& existing, const Secret& passphrase, Pbkdf pbkdf);
  // luksOpen --test-passphrase --key-slot=<slot>. Throws kKeyRejected when it does not open
  // that slot (also when the slot is empty).
  void test_key(int slot, const Secret& passphrase);
  // test_key that also keeps the volume key in this Device (the same single KDF): afterwards
  // check_key may answer from the verified-keyslot cache, and add_key authorised by this same
  // passphrase adds by volume key (no second KDF). Same errors as test_key.
  void unlock(int slot, const Secret& passphrase);
  // True when the passphrase opens that slot (no exception for a mismatch). On an unlocked (or
  // just formatted) Device, an unchanged keyslot verified before answers without its KDF
  // (engine/src/luks2/verified_slots.h); the answer is the same.
  bool check_key(int slot, const Secret& passphrase);
  // luksKillSlot.
  void kill_slot(int slot);
  std::map<int, KeyslotInfo> keyslots();

  std::optional<std::string> token(int id);         // nullopt: no token with that id
  void set_token(int id, const std::string& json);  // replaces an existing one
  void remove_token(int id);                        // not-found is ignored
  std::map<int, std::string> tokens();

  Secret volume_key(int slot, const Secret& passphrase);
  std::string header_json();     // the LUKS2 JSON metadata (no secrets beyond public KDF salts)
  uint64_t data_offset() const;  // bytes
  // Bytes of the data segment; nullopt for a "dynamic" segment (to the end of the device, what
  // luksFormat writes).
  std::optional<uint64_t> data_size();
  uint32_t sector_size() const;
  std::string cipher() const;  // "aes-xts-plain64"
  int volume_key_bits() const;

  // luksOpen <path> <name> --key-slot=<slot> [--perf-*] into dm-crypt: /dev/mapper/<name>.
  // Throws kKeyRejected for a wrong passphrase (or an empty slot), kDeviceBusy ("mapped device is
  // still in use") when <name> exists, kInvalidArgument for an unknown perf option, kIO otherwise.
  void activate(const std::string& name, int slot, const Secret& passphrase,
                const ActivateOptions& options);
  // luksClose <name>. Not active is not an error; kDeviceBusy while it is in use.
  static void deactivate(const std::string& name, const LogSink& log);
  static void deactivate(const std::string& name) { deactivate(name, {}); }
  // `cryptsetup status <name>`: true while /dev/mapper/<name> is an active dm-crypt device.
  static bool active(const std::string& name);

  crypt_device* raw() const { return cd_; }

 private:
  struct Unlocked;  // the volume key, the slot it came from, a tag of that slot's passphrase
  Device(std::string path, crypt_device* cd, std::unique_ptr<LogSink> log);
  void set_unlocked(Secret volume_key, int slot, const Secret& passphrase);
  bool unlocked_by(const Secret& passphrase) const;
  bool plain_keyslot(int slot);  // bound to the data segment, no reencryption in progress
  void record_verified(int slot, const Secret& passphrase);
  std::optional<SlotTagInputs> tag_inputs(int slot);  // nullopt: header or area unreadable
  std::string path_;
  crypt_device* cd_ = nullptr;
  std::unique_ptr<LogSink> log_;  // libcryptsetup holds its address
  std::unique_ptr<Unlocked> unlocked_;
};

// Destroys the LUKS2 signatures: both binary headers and their JSON areas, so blkid (and Talos)
// sees no LUKS any more.
void wipe_header(const std::string& path, Env& env);

}  // namespace cryptnode::luks2
