// The verified-keyslot cache: lets a sync confirm "this passphrase still opens this unchanged
// keyslot" without running the keyslot's KDF again (docs/performance.md#verified-keyslot-cache).
//
// A record is a tag, HMAC-SHA256 keyed with the volume key over everything that decides whether
// a passphrase opens a keyslot: the slot number, the keyslot's JSON object (KDF, salt, AF, area),
// the digests it is bound to (not their keyslot lists), segments and config, SHA-256 of the
// keyslot's key material on disk, and the passphrase. Opening a LUKS2 keyslot is a deterministic
// function of exactly these inputs, so a tag computed now that equals one recorded after a keyslot
// was opened (or written) with that volume key means the keyslot opens now, with the same result.
// Any change to the keyslot, its area, its binding to the volume key, the volume key or the
// passphrase gives another tag: a miss, and the caller runs the real check (the KDF), which fails
// as it always did.
//
// Decision: the records live in the memory of the process (a node's process keeps them across the
// node's reboots), never in a file: nothing is left behind, and nothing derived from a passphrase
// reaches the disk. A tag is useless without the volume key (which opens the volume anyway).
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "cryptnode/engine/secret.h"

namespace cryptnode::luks2 {

using SlotTag = std::array<uint8_t, 32>;

struct SlotTagInputs {
  int slot = 0;
  std::string keyslot_json;  // keyslots."<slot>", canonical
  std::string binding_json;  // its digests (no keyslot lists), segments, config
  std::array<uint8_t, 32> area_sha256{};
};

SlotTag slot_tag(const Secret& volume_key, const SlotTagInputs& in, const Secret& passphrase);

// The process-wide store, keyed by LUKS2 UUID and slot (one record each; a new one replaces it).
class VerifiedSlots {
 public:
  static bool contains(const std::string& uuid, int slot, const SlotTag& tag);
  static void record(const std::string& uuid, int slot, const SlotTag& tag);
  static void forget(const std::string& uuid, int slot);

  // For tests and the bench: lookups that found the tag, and those that did not.
  struct Stats {
    uint64_t hits = 0, misses = 0;
  };
  static Stats stats();
  static void clear();  // drops every record (and resets the stats)
};

}  // namespace cryptnode::luks2
