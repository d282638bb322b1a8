#include "verified_slots.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <map>
#include <mutex>
#include <utility>
#include <vector>

#include "cryptnode/engine/error.h"

namespace cryptnode::luks2 {

namespace {

constexpr size_t kMaxRecords = 4096;  // a bound, not a working-set size: a full store is cleared

struct Store {
  std::mutex mu;
  std::map<std::pair<std::string, int>, SlotTag> records;
  VerifiedSlots::Stats stats;
};

Store& store() {
  static Store s;
  return s;
}

// Each field length-prefixed, so no two different inputs concatenate to the same message.
void field(std::vector<uint8_t>& msg, const void* data, size_t size) {
  for (int i = 0; i < 8; ++i)
    msg.push_back(static_cast<uint8_t>(static_cast<uint64_t>(size) >> (8 * i)));
  const auto* p = static_cast<const uint8_t*>(data);
  msg.insert(msg.end(), p, p + size);
}

}  // namespace

SlotTag slot_tag(const Secret& volume_key, const SlotTagInputs& in, const Secret& passphrase) {
  static constexpr char kDomain[] = "cryptnode verified LUKS2 keyslot v1";
  const std::string slot = std::to_string(in.slot);
  std::vector<uint8_t> msg;
  msg.reserve(128 + in.keyslot_json.size() + in.binding_json.size() + passphrase.size());
  field(msg, kDomain, sizeof kDomain - 1);
  field(msg, slot.data(), slot.size());
  field(msg, in.keyslot_json.data(), in.keyslot_json.size());
  field(msg, in.binding_json.data(), in.binding_json.size());
  field(msg, in.area_sha256.data(), in.area_sha256.size());
  field(msg, passphrase.data(), passphrase.size());
  SlotTag tag{};
  unsigned int len = 0;
  const bool ok = HMAC(EVP_sha256(), volume_key.data(), static_cast<int>(volume_key.size()),
                       msg.data(), msg.size(), tag.data(), &len) != nullptr;
  wipe(msg.data(), msg.size());  // it holds the passphrase
  if (!ok || len != tag.size())
    throw Error(Code::kInternal, "verified keyslot tag: HMAC-SHA256 failed");
  return tag;
}

bool VerifiedSlots::contains(const std::string& uuid, int slot, const SlotTag& tag) {
  Store& s = store();
  std::lock_guard<std::mutex> lock(s.mu);
  auto it = s.records.find({uuid, slot});
  uint8_t diff = it == s.records.end() ? 1 : 0;
  if (it != s.records.end())
    for (size_t i = 0; i < tag.size(); ++i) diff |= it->second[i] ^ tag[i];
  ++(diff == 0 ? s.stats.hits : s.stats.misses);
  return diff == 0;
}

void VerifiedSlots::record(const std::string& uuid, int slot, const SlotTag& tag) {
  Store& s = store();
  std::lock_guard<std::mutex> lock(s.mu);
  if (s.records.size() >= kMaxRecords && !s.records.count({uuid, slot})) s.records.clear();
  s.records[{uuid, slot}] = tag;
}

void VerifiedSlots::forget(const std::string& uuid, int slot) {
  Store& s = store();
  std::lock_guard<std::mutex> lock(s.mu);
  s.records.erase({uuid, slot});
}

VerifiedSlots::Stats VerifiedSlots::stats() {
  Store& s = store();
  std::lock_guard<std::mutex> lock(s.mu);
  return s.stats;
}

void VerifiedSlots::clear() {
  Store& s = store();
  std::lock_guard<std::mutex> lock(s.mu);
  s.records.clear();
  s.stats = {};
}

}  // namespace cryptnode::luks2
