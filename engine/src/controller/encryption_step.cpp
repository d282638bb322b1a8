// HandleEncryption for one volume (internal/app/machined/pkg/controllers/block/internal/volumes/
// encrypt.go): an encryption::Handler built from the volume's EncryptionSpec with this machine's
// key sources (UUID, lockToSTATE salt, KMS transport), FormatAndEncrypt or Open + syncKeys, the
// VolumeStatus encryption fields, then activation as /dev/mapper/luks2-<volumeID> (before 1.12:
// <partition>-encrypted); close.go's teardown by the name each release used.
#include "cryptnode/engine/encryption_handler.h"
#include "cryptnode/engine/error.h"
#include "cryptnode/engine/keys/kms_handler.h"
#include "machine_state.h"

namespace cryptnode::controller {
namespace {

class EncryptionStep final : public volume::VolumeEncryption {
 public:
  explicit EncryptionStep(Machine::State& s) : s_(s) {}

  std::string format_and_open(const volume::VolumeSpec& spec, const volume::Located& where,
                              volume::VolumeStatus& status) override {
    encryption::Handler h = handler(spec);
    try {
      h.format_and_encrypt(where.location);
    } catch (const Error& e) {
      throw Error(e.code(), std::string("error formatting and encrypting volume: ") + e.what(),
                  true);
    }
    return open_with(h, spec, where, status);
  }

  std::string open(const volume::VolumeSpec& spec, const volume::Located& where,
                   volume::VolumeStatus& status) override {
    encryption::Handler h = handler(spec);
    return open_with(h, spec, where, status);
  }

  // close.go: Handler.Close(name) ignores a name that is not active (ErrDeviceNotReady).
  // 1.9.0-1.10.3 closed filepath.Base(MountLocation), the resolved /dev/dm-N (here the mapped
  // device's own name, dm-N or the userspace backend's loopN): never a mapping's name, so the
  // close was a no-op and the mapping stayed open (talos#11725); the others close it by name.
  void close(const volume::VolumeSpec& spec, volume::VolumeStatus& status) override {
    auto& act = s_.host.activation();
    const std::string name = versions::applies(versions::Rule::kCloseByMapperName, s_.version)
                                 ? mapper_name(spec, status.location)
                                 : base_name(status.mount_location);
    if (act.is_open(name))
      act.close(name);
    else
      s_.note(spec.id, "closing \"" + name + "\": not active, ignored");
  }

 private:
  std::string open_with(encryption::Handler& h, const volume::VolumeSpec& spec,
                        const volume::Located& where, volume::VolumeStatus& status) {
    activation::OpenOptions o;
    o.perf_options = spec.encryption->perf_options;
    o.allow_discards = spec.encryption->allow_discards.value_or(false);
    // Talos' Open maps the volume (luksOpen) before syncKeys; activation errors keep their own
    // text (they are not "error opening encrypted volume: ...").
    std::string mapped;
    bool activating = false;
    // A mapping left open by an earlier attempt whose sync failed (fatal before 1.9): from 1.8.1
    // Talos checks IsOpen and only syncs the keys; 1.8.0 ran luksOpen again, which failed with
    // "mapped device is still in use" at every retry (talos#9415).
    auto activate = [&](int slot, const Secret& passphrase) {
      activating = true;
      auto& act = s_.host.activation();
      const std::string name = mapper_name(spec, where.location);
      if (act.is_open(name) &&
          versions::applies(versions::Rule::kOpenHandlesOpenVolume, s_.version))
        mapped = act.path(name);
      else
        mapped = act.open(where.location, slot, passphrase, name, o);
      activating = false;
    };
    encryption::OpenResult r;
    try {
      r = h.open(where.location, activate);
    } catch (const Error& e) {
      if (activating) throw;
      throw Error(e.code(), std::string("error opening encrypted volume: ") + e.what(), true);
    }
    status.encryption_provider = "luks2";
    status.encryption_slot = r.slot;
    status.encryption_failed_syncs = r.failed_syncs;
    status.encryption_locked_to_state = r.locked_to_state;
    status.configured_encryption_keys = r.configured_keys;
    status.tpm_pcrs.reset();
    status.tpm_pub_key_pcrs.reset();
    if (r.tpm) {
      status.tpm_pcrs = r.tpm->pcrs();
      status.tpm_pcrs_nil = r.tpm->pcrs_nil();
      status.tpm_pub_key_pcrs = r.tpm->pub_key_pcrs();
    }
    return mapped;
  }

  // encrypt.go's mapped name: luks2-<volumeID> since 1.12 (handler.Name() + "-" + ID), before
  // filepath.Base(Status.Location) + "-encrypted" ("loop3p6-encrypted").
  std::string mapper_name(const volume::VolumeSpec& spec, const std::string& location) const {
    if (versions::applies(versions::Rule::kMapperNameVolumeID, s_.version))
      return "luks2-" + spec.id;
    return base_name(location) + "-encrypted";
  }

  static std::string base_name(const std::string& path) {  // Go's filepath.Base
    std::string p = path;
    while (p.size() > 1 && p.back() == '/') p.pop_back();
    const size_t slash = p.rfind('/');
    return slash == std::string::npos || p.size() == 1 ? p : p.substr(slash + 1);
  }

  encryption::Handler handler(const volume::VolumeSpec& spec) {
    encryption::KeySources src;
    Machine::State* s = &s_;
    src.uuid = [s] { return s->uuid; };
    src.salt = [s]() -> Secret {
      if (!s->salt || s->salt->empty())
        throw Error(Code::kFailedPrecondition, "encryption salt not available", true);
      return *s->salt;
    };
    std::shared_ptr<keys::KmsTransport> kms = s_.host.kms(trusted_roots());
    src.kms = [s, kms](const config::EncryptionKey& key) {
      if (!kms) throw Error(Code::kUnavailable, "KMS is not available on this node");
      return keys::make_kms_handler(
          key.slot, key.kms->endpoint, [s] { return s->uuid; }, kms, s->env.random());
    };
    try {
      // hardware.LockPCRStatus(11, <volume ID>): PCRStatus "11" exists between enter-machined and
      // start-the-world; outside that window every seal and unseal is refused.
      tpm::TpmContext tpm_ctx = s_.host.tpm_context([s](const std::function<void()>& fn) {
        if (!s->pcr11_open)
          throw Error(Code::kFailedPrecondition,
                      "failed to lock PCR 11, as it is in the wrong state, a reboot might be "
                      "required");
        fn();
      });
      tpm_ctx.random = &s_.env.random();
      src.tpm = [tpm_ctx](const config::EncryptionKey& key) {
        return tpm::make_tpm_handler(key.slot, *key.tpm, tpm_ctx);
      };
      return encryption::Handler(*spec.encryption, spec.id, src, s_.settings.pbkdf, s_.env,
                                 s_.version);
    } catch (const Error& e) {
      throw Error(e.code(), std::string("failed to create encryption handler: ") + e.what());
    }
  }

  // The machine config's extra trusted CAs (TrustedRootsConfig), once a config is active.
  std::vector<std::string> trusted_roots() const {
    return s_.active ? s_.active->trusted_roots() : std::vector<std::string>{};
  }

  Machine::State& s_;
};

}  // namespace

std::unique_ptr<volume::VolumeEncryption> make_encryption_step(Machine::State& s) {
  return std::make_unique<EncryptionStep>(s);
}

}  // namespace cryptnode::controller
