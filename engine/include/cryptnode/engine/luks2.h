// The LUKS2 layer over libcryptsetup (RAII, no shelling out): format with Talos' parameters,
// keyslots, tokens, volume key, header wipe (TALOS-SPEC.md §5). Errors map to Talos' texts:
// a wrong passphrase is Error(kKeyRejected, "encryption key rejected"), a missing token
// Error(kNoToken, "no token with supplied id exists").
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cryptnode/engine/env.h"
#include "cryptnode/engine/secret.h"

struct crypt_device;

namespace cryptnode::luks2 {

// "production": cryptsetup's defaults (argon2id, benchmarked to 2 s / up to 1 GiB), what Talos
// gets from `cryptsetup luksFormat`. "fast": argon2id at its minimum cost (t=4, m=32 KiB, p=1), no
// benchmark: for tests and simulations (Talos' header validation rejects pbkdf2, so argon2id
// stays).
enum class Pbkdf { kFast, kProduction };
Pbkdf parse_pbkdf(const std::string& name);  // "fast" | "production"

struct FormatOptions {
  std::string cipher;          // "" => aes-xts-plain64; xchacha12/20,aes-adiantum-plain64
  uint64_t key_size_bits = 0;  // 0 => 512 for aes-xts-plain64, 256 for adiantum
  // 0 => 512. Decision: Talos leaves it to cryptsetup, which picks 512 on a 512-byte-sector
  // device and 4096 on image files; cryptnode always sets it so files and loop devices agree.
  uint32_t sector_size = 0;
  Pbkdf pbkdf = Pbkdf::kFast;
};

struct KeyslotInfo {
  int slot = 0;
  std::string kdf;  // "argon2id", "argon2i", "pbkdf2"
};

class Device {
 public:
  // Loads an existing LUKS2 device. Throws Error(kInvalidArgument, "<path> is not a LUKS2
  // device") when it is not one, kIO when it cannot be opened.
  static Device load(const std::string& path);
  // luksFormat: a new volume key, the first keyslot `slot` with `passphrase`.
  static Device format(const std::string& path, int slot, const Secret& passphrase,
                       const FormatOptions& options, Env& env);

  Device(Device&&) noexcept;
  Device& operator=(Device&&) noexcept;
  ~Device();

  const std::string& path() const { return path_; }

  // luksAddKey --key-slot=<slot>: authorised by `existing` (any slot).
  void add_key(int slot, const Secret& existing, const Secret& passphrase, Pbkdf pbkdf);
  // luksOpen --test-passphrase --key-slot=<slot>. Throws kKeyRejected when it does not open
  // that slot (also when the slot is empty).
  void test_key(int slot, const Secret& passphrase);
  // True when the passphrase opens that slot (no exception for a mismatch).
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
  uint32_t sector_size() const;
  std::string cipher() const;  // "aes-xts-plain64"
  int volume_key_bits() const;

  crypt_device* raw() const { return cd_; }

 private:
  Device(std::string path, crypt_device* cd) : path_(std::move(path)), cd_(cd) {}
  std::string path_;
  crypt_device* cd_ = nullptr;
};

// Destroys the LUKS2 signatures: both binary headers and their JSON areas, so blkid (and Talos)
// sees no LUKS any more.
void wipe_header(const std::string& path, Env& env);

}  // namespace cryptnode::luks2
