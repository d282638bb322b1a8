// nodeID key: passphrase = machine UUID (SMBIOS, or META 0x0f override) + volume ID, after Talos'
// "primitive entropy check" (docs/talos/keys.md).
#include <map>

#include "cryptnode/engine/error.h"
#include "cryptnode/engine/keys/key_handler.h"

namespace cryptnode::keys {

void check_uuid_entropy(std::string_view uuid) {
  // Go counts runes; a UUID is ASCII, so bytes are runes. Integer division as in Go.
  std::map<char, size_t> counts;
  for (char c : uuid) ++counts[c];
  for (const auto& [c, n] : counts)
    if (n > uuid.size() / 2)
      throw Error(Code::kFailedPrecondition,
                  "machine UUID " + std::string(uuid) + " entropy check failed");
}

Secret node_id_passphrase(std::string_view uuid, std::string_view volume_id) {
  if (uuid.empty()) throw Error(Code::kFailedPrecondition, "machine UUID is not populated ");
  check_uuid_entropy(uuid);
  Secret s(uuid);
  s.append(reinterpret_cast<const uint8_t*>(volume_id.data()), volume_id.size());
  return s;
}

namespace {

class NodeIDKeyHandler final : public KeyHandler {
 public:
  NodeIDKeyHandler(int slot, UUIDGetter uuid, std::string volume_id)
      : slot_(slot), uuid_(std::move(uuid)), volume_id_(std::move(volume_id)) {}
  int slot() const override { return slot_; }
  config::KeyType type() const override { return config::KeyType::kNodeID; }
  std::string go_type() const override { return "*keys.NodeIDKeyHandler"; }
  NewKey new_key() override { return {node_id_passphrase(uuid_(), volume_id_), std::nullopt}; }
  Secret get_key(const std::optional<std::string>&) override {
    return node_id_passphrase(uuid_(), volume_id_);
  }

 private:
  int slot_;
  UUIDGetter uuid_;
  std::string volume_id_;
};

}  // namespace

std::unique_ptr<KeyHandler> make_node_id_handler(int slot, UUIDGetter uuid, std::string volume_id) {
  return std::make_unique<NodeIDKeyHandler>(slot, std::move(uuid), std::move(volume_id));
}

}  // namespace cryptnode::keys
