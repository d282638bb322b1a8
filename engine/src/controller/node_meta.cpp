// META on the node's META partition (docs/disk-layout.md): tag 0x09 (STATE encryption config,
// rewritten from the active config: VolumeConfigController.setupStateEncryption), tag 0x0f (UUID
// override, which replaces the SMBIOS UUID of every nodeID key), and `talosctl meta write/delete`.
#include <cctype>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "cryptnode/engine/error.h"
#include "cryptnode/engine/meta.h"
#include "cryptnode/engine/state_encryption_meta.h"
#include "cryptnode/engine/versions.h"
#include "machine_state.h"

namespace cryptnode::controller {
namespace {

uint8_t checked_tag(int tag) {
  if (tag < 0 || tag > 255) throw Error(Code::kInvalidArgument, "key must be a uint8");
  return static_cast<uint8_t>(tag);
}

std::string need_meta(MachineHost& host) {
  std::string dev = host.meta_device();
  if (dev.empty()) throw Error(Code::kNotFound, "META partition not found");
  return dev;
}

// META 0x09 as the release `v` reads it (talos#11502, docs/talos/bugs.md):
//  - before v1.11.0-beta.1, into the legacy v1alpha1.EncryptionConfig: any provider string, and
//    what only the newer shape has (lockToState, TPM options, allowDiscards) is not read;
//  - v1.11.0-beta.1, into block.EncryptionSpec only (volume_config.go manageStateNoConfig): the
//    provider must be an EncryptionProviderType value, so the legacy JSON of a
//    systemDiskEncryption without `provider` ("") fails the VolumeConfigController;
//  - from v1.11.0-beta.2, block.EncryptionSpec with the legacy fallback (encryption_meta.go).
std::optional<config::EncryptionSpec> read_state_encryption(std::string_view value,
                                                            const versions::Version& v) {
  using versions::Rule;
  const bool modern = versions::applies(Rule::kMetaStateEncryptionModernJson, v);
  if (modern && !versions::applies(Rule::kMetaLegacyJsonFallback, v)) {
    const nlohmann::json j = nlohmann::json::parse(value, nullptr, false);
    if (j.is_object() && j.contains("EncryptionProvider") && j["EncryptionProvider"].is_string()) {
      const std::string provider = j["EncryptionProvider"].get<std::string>();
      std::string lower;
      for (char c : provider)
        lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (lower != "none" && lower != "luks2")
        throw Error(Code::kCorrupt,
                    "error creating state volume configuration: error unmarshalling state "
                    "encryption meta key: " +
                        provider + " does not belong to EncryptionProviderType values");
    }
  }
  std::optional<config::EncryptionSpec> spec = meta::unmarshal_state_encryption(value);
  if (spec && !modern && !spec->legacy) {
    spec->legacy = true;
    spec->allow_discards.reset();
    for (config::EncryptionKey& k : spec->keys) {
      k.lock_to_state.reset();
      if (k.tpm) k.tpm->options.reset();
    }
  }
  return spec;
}

}  // namespace

std::optional<config::EncryptionSpec> Machine::State::read_meta_at_boot() {
  const std::string dev = host.meta_device();
  if (dev.empty()) {
    note("meta", "no META partition");
    return std::nullopt;
  }
  auto block = env.open_block(dev, false);
  meta::Meta m = meta::Meta::load(*block);  // Talos: damaged copies load as empty
  std::optional<config::EncryptionSpec> state_encryption;
  if (auto tag = m.adv.get(meta::kStateEncryptionConfig))
    state_encryption = read_state_encryption(*tag, version);
  std::optional<std::string> uuid_override;
  if (auto tag = m.adv.get(meta::kUUIDOverride); tag && !tag->empty()) uuid_override = *tag;
  note("meta", std::string("read META: STATE encryption ") +
                   (state_encryption ? "configured" : "not configured") +
                   (uuid_override ? ", UUID override set" : ""));
  uuid = uuid_override ? *uuid_override : settings.uuid;
  return state_encryption;
}

void Machine::State::write_state_meta() {
  const std::string dev = host.meta_device();
  if (dev.empty() || !active) return;
  auto block = env.open_block(dev, true);
  meta::Meta m = meta::Meta::load(*block);
  const std::string value = meta::marshal_state_encryption(active->encryption_for("STATE"));
  if (m.adv.get(meta::kStateEncryptionConfig) == value) return;  // only when the bytes differ
  if (!m.adv.set(meta::kStateEncryptionConfig, value))
    throw Error(Code::kFailedPrecondition, "meta write failed");
  m.write(*block, env);
  note("meta", "wrote STATE encryption config (tag 0x09)");
}

bool Machine::State::delete_state_meta() {
  const std::string dev = host.meta_device();
  if (dev.empty()) return false;
  auto block = env.open_block(dev, true);
  meta::Meta m = meta::Meta::load(*block);
  if (!m.adv.remove(meta::kStateEncryptionConfig)) return false;
  m.write(*block, env);
  return true;
}

void Machine::meta_write(int tag, const std::string& value) {
  const uint8_t t = checked_tag(tag);
  auto block = s_->env.open_block(need_meta(s_->host), true);
  meta::Meta m = meta::Meta::load(*block);
  if (!m.adv.set(t, value)) throw Error(Code::kFailedPrecondition, "meta write failed");
  m.write(*block, s_->env);
  s_->note("meta", "tag " + std::to_string(tag) + " written");
  if (t == meta::kUUIDOverride) s_->apply_uuid_override(value);
}

void Machine::meta_delete(int tag) {
  const uint8_t t = checked_tag(tag);
  auto block = s_->env.open_block(need_meta(s_->host), true);
  meta::Meta m = meta::Meta::load(*block);
  if (!m.adv.remove(t)) throw Error(Code::kNotFound, "meta key not found");
  m.write(*block, s_->env);
  s_->note("meta", "tag " + std::to_string(tag) + " deleted");
  if (t == meta::kUUIDOverride) s_->apply_uuid_override("");
}

// Talos applies the override live: MetaWrite/MetaDelete update (or destroy) the MetaKey resource
// (internal/pkg/meta/meta.go updateTagResource), SystemInfoController watches MetaKeys and
// rewrites SystemInformation's UUID (internal/app/machined/pkg/controllers/hardware/system.go),
// and the volume manager's GetSystemInformation reads it whenever a nodeID or KMS key is derived.
// Volumes already open keep their mapping; the next format, open or keyslot sync uses the new
// UUID. An empty value falls back to the SMBIOS UUID, as an empty MetaKey does.
void Machine::State::apply_uuid_override(const std::string& value) {
  const std::string next = value.empty() ? settings.uuid : value;
  if (next == uuid) return;
  uuid = next;
  note("system-information",
       value.empty() ? "UUID rewrite removed: SMBIOS UUID in use" : "using UUID rewrite from META");
}

std::string Machine::meta_json() const {
  nlohmann::ordered_json j = nlohmann::ordered_json::object();
  const std::string dev = s_->host.meta_device();
  if (dev.empty()) return j.dump();
  auto block = s_->env.open_block(dev, false);
  meta::Meta m = meta::Meta::load(*block);
  char id[8];
  for (const auto& [tag, value] : m.adv.tags()) {
    std::snprintf(id, sizeof(id), "0x%02x", tag);
    j[id] = value;
  }
  return j.dump();
}

}  // namespace cryptnode::controller
