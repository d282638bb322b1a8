// Internals of sim::Node shared by its source files (node.cpp: directory and power; boot.cpp: the
// boot sequence; operations.cpp: apply-config and reset; hardware.cpp: disks, mounts and the
// encryption glue while powered on).
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cryptnode/engine/config.h"
#include "cryptnode/engine/secret.h"
#include "cryptnode/engine/volume.h"
#include "cryptnode/sim/node.h"
#include "cryptnode/sim/node_lock.h"

namespace cryptnode::sim {

// What exists only while the node is powered on: loop devices for the disks, the activation
// backend, mounts. Destroying it tears everything down in order (unmount, close, detach), also
// after errors. power_cut() destroys it without unmounting cleanly first.
class Hardware : public volume::VolumeHost, public volume::VolumeEncryption {
 public:
  ~Hardware() override = default;

  // META partition of the system disk (label META, exactly 1 MiB); "" when absent.
  virtual std::string meta_device() = 0;
  virtual std::map<std::string, std::string> partitions() = 0;  // label -> device

  // Mounts the volume's mount_location at <node>/run/mnt/<id>; returns the mount point.
  virtual std::string mount(const volume::VolumeStatus& status) = 0;
  virtual void unmount(const std::string& id) = 0;
  // Wipes a partition as Talos' reset does and deletes its GPT entry.
  virtual void wipe_partition(const volume::VolumeStatus& status) = 0;
  // Abrupt stop: drop everything without syncing or unmounting cleanly.
  virtual void cut() = 0;
};

// Encryption context the hardware needs from the node (UUID, salt, PBKDF profile).
struct KeyContext {
  std::string uuid;                       // SMBIOS or META override
  std::optional<Secret>* salt = nullptr;  // loaded from STATE; nullopt until then
  std::string pbkdf;
};

std::unique_ptr<Hardware> power_on_hardware(const std::string& node_dir,
                                            const NodeSettings& settings, KeyContext* keys);

struct Node::Impl {
  std::string path;
  NodeSettings settings;
  std::unique_ptr<NodeLock> lock;

  int64_t clock_ms = 0;                              // virtual clock
  std::chrono::steady_clock::time_point powered_at;  // real time of the last power-on
  int64_t next_retry_ms = -1;  // 30 s retry ticker armed when a retryable error happened
  std::optional<int64_t> try_rollback_ms;  // apply-config --mode=try

  std::unique_ptr<Hardware> hw;  // non-null while powered on
  KeyContext keys;
  std::optional<Secret> salt;
  bool maintenance = false;
  bool running = false;

  std::optional<std::string> offered_config;  // boot(config=...): like cmdline/platform config
  std::optional<std::string> active_text;     // active machine config
  std::optional<config::MachineConfig> active;
  std::optional<std::string> try_previous;  // config to roll back to after try

  std::map<std::string, volume::VolumeSpec> specs;
  std::map<std::string, volume::VolumeStatus> statuses;
  std::vector<std::string> order;  // volume ids in processing order
  std::vector<Event> events;

  void log(const std::string& step, const std::string& message);

  // boot.cpp
  void power_on();
  void power_off(bool clean);
  void run_boot();  // from META to running (or maintenance / stalled)
  void settle();    // one controller pass over every volume, then the follow-ups
  void activate_config(const std::string& text);  // config becomes active (META rewritten)
  void persist_config(const std::string& text);   // write config.yaml into STATE
  std::optional<std::string> read_persisted_config();
  void load_or_create_salt();
  void write_state_meta();
  std::map<std::string, volume::VolumeSpec> volume_specs() const;

  std::string mount_point(const std::string& id) const;
};

}  // namespace cryptnode::sim

namespace cryptnode::sim {

// META glue (meta_glue.cpp): the engine's META codec on the node's META partition.
struct MetaView {
  std::optional<config::EncryptionSpec> state_encryption;  // tag 0x09 (nullopt: absent or null)
  bool state_encryption_present = false;                   // tag 0x09 exists (even as null)
  std::optional<std::string> uuid_override;                // tag 0x0f
};
MetaView read_meta(const std::string& meta_device);
// Rewrites tag 0x09 from the active config's STATE encryption (JSON null when unencrypted); only
// writes when the bytes differ. Returns true when it wrote.
bool write_meta_state_encryption(const std::string& meta_device,
                                 const std::optional<config::EncryptionSpec>& spec);
bool delete_meta_state_encryption(const std::string& meta_device);
std::string meta_json(const std::string& meta_device);

// Salt glue: load encryption-salt.yaml from the mounted STATE or create it (O_EXCL, 0600).
Secret load_or_create_salt_file(const std::string& state_mount, bool* created);

}  // namespace cryptnode::sim

namespace cryptnode::sim {
volume::VolumeSpec state_spec_before_config(const std::optional<config::EncryptionSpec>& meta);
constexpr int64_t kRetryIntervalMs = 30'000;  // Talos' retryTicker
}  // namespace cryptnode::sim

namespace cryptnode::sim {
void rollback_try(Node::Impl& impl);  // operations.cpp
// v1alpha1 paths changed between two configs that are outside Talos' immediate-apply allow-list
// (≤1.13 CanApplyImmediate); empty when the change can be applied without a reboot.
std::vector<std::string> changes_needing_reboot(const std::string& old_text,
                                                const std::string& new_text);
}  // namespace cryptnode::sim

namespace cryptnode::sim {
std::string luks_dump_json(const std::string& device);  // meta_glue.cpp
}  // namespace cryptnode::sim

namespace cryptnode::sim {
void meta_write_tag(const std::string& meta_device, int tag, const std::string& value);
void meta_delete_tag(const std::string& meta_device, int tag);
}  // namespace cryptnode::sim
