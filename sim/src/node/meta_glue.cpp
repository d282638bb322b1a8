// META and salt glue for the node: the engine's codecs on the node's devices and files.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cryptnode/engine/error.h"
#include "cryptnode/engine/keys/encryption_salt.h"
#include "cryptnode/engine/luks2.h"
#include "cryptnode/engine/meta.h"
#include "cryptnode/engine/state_encryption_meta.h"
#include "node_impl.h"

namespace cryptnode::sim {

MetaView read_meta(const std::string& meta_device) {
  auto dev = Env::posix().open_block(meta_device, false);
  meta::Meta m = meta::Meta::load(*dev);  // Talos: damaged copies load as empty
  MetaView v;
  if (auto tag = m.adv.get(meta::kStateEncryptionConfig)) {
    v.state_encryption_present = true;
    v.state_encryption = meta::unmarshal_state_encryption(*tag);
  }
  if (auto tag = m.adv.get(meta::kUUIDOverride); tag && !tag->empty()) v.uuid_override = *tag;
  return v;
}

bool write_meta_state_encryption(const std::string& meta_device,
                                 const std::optional<config::EncryptionSpec>& spec) {
  auto dev = Env::posix().open_block(meta_device, true);
  meta::Meta m = meta::Meta::load(*dev);
  const std::string value = meta::marshal_state_encryption(spec);
  if (m.adv.get(meta::kStateEncryptionConfig) == value) return false;  // only when bytes differ
  if (!m.adv.set(meta::kStateEncryptionConfig, value))
    throw Error(Code::kFailedPrecondition, "meta write failed");
  m.write(*dev, Env::posix());
  return true;
}

bool delete_meta_state_encryption(const std::string& meta_device) {
  auto dev = Env::posix().open_block(meta_device, true);
  meta::Meta m = meta::Meta::load(*dev);
  if (!m.adv.remove(meta::kStateEncryptionConfig)) return false;
  m.write(*dev, Env::posix());
  return true;
}

std::string meta_json(const std::string& meta_device) {
  nlohmann::ordered_json j = nlohmann::ordered_json::object();
  if (meta_device.empty()) return j.dump();
  auto dev = Env::posix().open_block(meta_device, false);
  meta::Meta m = meta::Meta::load(*dev);
  char id[8];
  for (const auto& [tag, value] : m.adv.tags()) {
    std::snprintf(id, sizeof(id), "0x%02x", tag);
    j[id] = value;
  }
  return j.dump();
}

Secret load_or_create_salt_file(const std::string& state_mount, bool* created) {
  const std::string path = state_mount + "/" + keys::kEncryptionSaltFilename;
  std::ifstream in(path, std::ios::binary);
  if (in) {
    std::stringstream ss;
    ss << in.rdbuf();
    std::string text = ss.str();
    Secret salt = keys::parse_salt_yaml(text);
    wipe(text.data(), text.size());
    *created = false;
    return salt;
  }
  Secret salt = keys::generate_salt(Env::posix().random());
  Secret yaml = keys::marshal_salt_yaml(salt);
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) throw_errno(path, errno);
  bool ok = ::write(fd, yaml.data(), yaml.size()) == static_cast<ssize_t>(yaml.size()) &&
            ::fsync(fd) == 0;
  ::close(fd);
  if (!ok) throw Error(Code::kIO, "cannot write " + path);
  *created = true;
  return salt;
}

}  // namespace cryptnode::sim

namespace cryptnode::sim {

std::string luks_dump_json(const std::string& device) {
  // The LUKS2 JSON metadata with the KDF salts and digests left out, plus two conveniences:
  // "cipher" and "sector_size" of segment 0.
  luks2::Device d = luks2::Device::load(device);
  nlohmann::json j = nlohmann::json::parse(d.header_json());
  std::function<void(nlohmann::json&)> strip = [&](nlohmann::json& n) {
    if (n.is_object()) {
      for (const char* k : {"salt", "digest"}) n.erase(k);
      for (auto& [k, v] : n.items()) strip(v);
    } else if (n.is_array()) {
      for (auto& v : n) strip(v);
    }
  };
  strip(j);
  j["cipher"] = d.cipher();
  j["sector_size"] = d.sector_size();
  return j.dump();
}

}  // namespace cryptnode::sim

namespace cryptnode::sim {

void meta_write_tag(const std::string& meta_device, int tag, const std::string& value) {
  if (tag < 0 || tag > 255) throw Error(Code::kInvalidArgument, "key must be a uint8");
  auto dev = Env::posix().open_block(meta_device, true);
  meta::Meta m = meta::Meta::load(*dev);
  if (!m.adv.set(static_cast<uint8_t>(tag), value))
    throw Error(Code::kFailedPrecondition, "meta write failed");
  m.write(*dev, Env::posix());
}

void meta_delete_tag(const std::string& meta_device, int tag) {
  if (tag < 0 || tag > 255) throw Error(Code::kInvalidArgument, "key must be a uint8");
  auto dev = Env::posix().open_block(meta_device, true);
  meta::Meta m = meta::Meta::load(*dev);
  if (!m.adv.remove(static_cast<uint8_t>(tag))) throw Error(Code::kNotFound, "meta key not found");
  m.write(*dev, Env::posix());
}

}  // namespace cryptnode::sim
