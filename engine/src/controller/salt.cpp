// Talos' EncryptionSaltController: the lockToSTATE salt is loaded from STATE's
// encryption-salt.yaml, or generated once and written there (O_CREAT|O_EXCL, 0600).
#include "cryptnode/engine/error.h"
#include "cryptnode/engine/keys/encryption_salt.h"
#include "machine_state.h"

namespace cryptnode::controller {

void Machine::State::load_or_create_salt() {
  const std::string path = statuses.at("STATE").mount_point + "/" + keys::kEncryptionSaltFilename;
  if (auto text = env.read_file(path)) {
    Secret bytes(*text);
    wipe(text->data(), text->size());
    salt = keys::parse_salt_yaml(bytes.view());
    note("salt", "loaded encryption-salt.yaml (checksum " + keys::salt_checksum(*salt) + ")");
    return;
  }
  Secret fresh = keys::generate_salt(env.random());
  Secret yaml = keys::marshal_salt_yaml(fresh);
  env.fault_point("salt.before_write");
  if (!env.create_file_exclusive(path, yaml.view(), 0600))
    throw Error(Code::kAlreadyExists, path + ": created by someone else meanwhile");
  env.fault_point("salt.after_write");
  salt = std::move(fresh);
  note("salt", "created encryption-salt.yaml (checksum " + keys::salt_checksum(*salt) + ")");
}

}  // namespace cryptnode::controller
