// The node's hardware while powered on (node_impl.h Hardware): disks on loop devices, volume
// provisioning on them (Talos' allocation, TALOS-DISK.md §2.6), the encryption step through the
// engine's encryption handler and activation backend, filesystems and mounts under <node>/run.
#include <sys/mount.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>

#include "cryptnode/engine/activation/backend.h"
#include "cryptnode/engine/encryption_handler.h"
#include "cryptnode/engine/error.h"
#include "cryptnode/sim/disk.h"
#include "cryptnode/sim/filesystem.h"
#include "cryptnode/sim/kms.h"
#include "node_impl.h"

namespace fs = std::filesystem;

namespace cryptnode::sim {
namespace {

constexpr uint64_t kMiB = 1 << 20;

class NodeHardware final : public Hardware {
 public:
  NodeHardware(const std::string& node_dir, const NodeSettings& settings, KeyContext* keys)
      : dir_(node_dir), run_(node_dir + "/run"), settings_(settings), keys_(keys) {
    // Recover from a crash of an earlier owner: mounts and the FUSE mapper left under
    // <node>/run, loop devices on it, then loop devices still backed by our disk images.
    activation::recover_userspace_backend(run_);
    for (const auto& l : activation::loop_devices_backed_under(node_dir + "/disks/"))
      activation::force_detach(l);
    fs::create_directories(run_ + "/mnt");
    try {
      for (const auto& d : settings.disks)
        disks_.push_back(std::make_unique<AttachedDisk>(d.name, dir_ + "/disks/" + d.image));
      backend_ = activation::make_activation_backend(settings.backend, run_);
    } catch (...) {
      disks_.clear();
      throw;
    }
  }

  ~NodeHardware() override { teardown(true); }

  // --- VolumeHost ----------------------------------------------------------------------------
  std::optional<volume::Located> locate(const volume::VolumeSpec& spec) override {
    for (const auto& d : disks_) {
      if (!d->has_gpt()) continue;
      if (auto p = d->read_gpt().find(spec.label)) return located(*d, *p);
    }
    return std::nullopt;
  }

  std::optional<volume::Located> provision(const volume::VolumeSpec& spec) override {
    for (AttachedDisk* d : candidates(spec.disk_selector)) {
      uint64_t available = d->has_gpt()
                               ? d->read_gpt().largest_free()
                               : Gpt::create(d->size(), Env::posix().random()).largest_free();
      if (available < spec.min_size) continue;
      uint64_t max = spec.max_size;
      if (spec.max_size_percent)
        max = available * static_cast<uint64_t>(spec.max_size_percent) / 100;
      uint64_t size = (max == 0 || max >= available) ? 0 : max / kMiB * kMiB;  // 0: all of it
      GptPartition p = d->add_partition(spec.label, size, kTypeLinuxData);
      return located(*d, p);
    }
    return std::nullopt;
  }

  std::string probe(const std::string& device) override { return sim::probe(device); }

  void make_filesystem(const std::string& device, const volume::VolumeSpec& spec) override {
    auto dev = Env::posix().open_block(device, false);
    sim::make_filesystem(device, spec.fs_type, spec.fs_label, dev->size());
  }

  // --- VolumeEncryption ----------------------------------------------------------------------
  std::string format_and_open(const volume::VolumeSpec& spec, const volume::Located& where,
                              volume::VolumeStatus& status) override {
    handler(spec).format_and_encrypt(where.location);
    return open(spec, where, status);
  }

  std::string open(const volume::VolumeSpec& spec, const volume::Located& where,
                   volume::VolumeStatus& status) override {
    encryption::Handler h = handler(spec);
    encryption::OpenResult r = h.open(where.location);
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
    activation::OpenOptions o;
    o.perf_options = spec.encryption->perf_options;
    o.allow_discards = spec.encryption->allow_discards.value_or(false);
    return backend_->open(where.location, r.slot, r.passphrase, "luks2-" + spec.id, o);
  }

  void close(const volume::VolumeSpec& spec, volume::VolumeStatus&) override {
    backend_->close("luks2-" + spec.id);
  }

  // --- Hardware ------------------------------------------------------------------------------
  std::string meta_device() override {
    for (const auto& d : disks_) {
      if (!d->has_gpt()) continue;
      auto p = d->read_gpt().find("META");
      if (p && p->size() == 1 * kMiB) return d->partition_device(p->index);
      break;  // META is looked for on the system disk only
    }
    return "";
  }

  std::map<std::string, std::string> partitions() override {
    std::map<std::string, std::string> out;
    for (const auto& d : disks_) {
      out[d->name()] = d->device();
      if (d->has_gpt())
        for (const auto& p : d->read_gpt().partitions())
          out[p.label] = d->partition_device(p.index);
    }
    return out;
  }

  std::string mount(const volume::VolumeStatus& status) override {
    const std::string dir = run_ + "/mnt/" + status.id;
    mount_filesystem(status.mount_location, status.filesystem.empty() ? "xfs" : status.filesystem,
                     dir);
    mounts_[status.id] = dir;
    return dir;
  }

  void unmount(const std::string& id) override {
    auto it = mounts_.find(id);
    if (it == mounts_.end()) return;
    unmount_filesystem(it->second);
    std::error_code ec;
    fs::remove(it->second, ec);
    mounts_.erase(it);
  }

  void wipe_partition(const volume::VolumeStatus& status) override {
    for (const auto& d : disks_)
      if (d->device() == status.parent_location) {
        d->wipe_and_delete(status.partition_index);
        return;
      }
    throw Error(Code::kNotFound, "failed to reset: volume \"" + status.id + "\" is not located");
  }

  void cut() override { teardown(false); }

 private:
  volume::Located located(const AttachedDisk& d, const GptPartition& p) {
    return {d.partition_device(p.index), d.device(), p.index, p.size()};
  }

  // Disk selection (decision: a small subset of Talos' CEL): "system_disk" selects the system
  // disk, "!system_disk" every other disk, anything else every disk, non-system disks first.
  std::vector<AttachedDisk*> candidates(const std::string& selector) {
    std::vector<AttachedDisk*> sys, other;
    for (size_t i = 0; i < disks_.size(); ++i) (i == 0 ? sys : other).push_back(disks_[i].get());
    std::string s;
    for (char c : selector)
      if (c != ' ') s += c;
    if (s == "system_disk") return sys;
    if (s.find("!system_disk") != std::string::npos) return other;
    other.insert(other.end(), sys.begin(), sys.end());
    return other;
  }

  encryption::Handler handler(const volume::VolumeSpec& spec) {
    encryption::KeySources src;
    KeyContext* k = keys_;
    src.uuid = [k] { return k->uuid; };
    src.salt = [k]() -> Secret {
      if (!k->salt || !*k->salt)
        throw Error(Code::kFailedPrecondition, "encryption salt not available", true);
      return **k->salt;
    };
    std::shared_ptr<keys::KmsTransport> kms = kms_;
    src.kms = [k, kms](const config::EncryptionKey& key) {
      return keys::make_kms_handler(
          key.slot, key.kms->endpoint, [k] { return k->uuid; }, kms, Env::posix().random());
    };
    return encryption::Handler(*spec.encryption, spec.id, src, luks2::parse_pbkdf(keys_->pbkdf));
  }

  void teardown(bool clean) {
    for (auto it = mounts_.begin(); it != mounts_.end();) {
      if (clean) {
        try {
          unmount_filesystem(it->second);
        } catch (...) {
          ::umount2(it->second.c_str(), MNT_DETACH);
        }
      } else {
        ::umount2(it->second.c_str(), MNT_DETACH);
      }
      it = mounts_.erase(it);
    }
    backend_.reset();  // closes every mapping (loop, FUSE)
    disks_.clear();    // BLKPG delete + detach
  }

  std::string dir_, run_;
  NodeSettings settings_;
  KeyContext* keys_;
  std::vector<std::unique_ptr<AttachedDisk>> disks_;
  std::unique_ptr<activation::ActivationBackend> backend_;
  std::shared_ptr<keys::KmsTransport> kms_ = make_grpc_kms_transport();
  std::map<std::string, std::string> mounts_;
};

}  // namespace

std::unique_ptr<Hardware> power_on_hardware(const std::string& node_dir,
                                            const NodeSettings& settings, KeyContext* keys) {
  return std::make_unique<NodeHardware>(node_dir, settings, keys);
}

void format_system_disk_image(const std::string& image, const NodeSettings& settings) {
  // An installed, unconfigured Talos disk (UEFI layout): EFI then META (exactly 1 MiB, zeroed);
  // machined provisions STATE and EPHEMERAL at the first boot with a config.
  auto dev = Env::posix().open_block(image, true);
  Gpt gpt = Gpt::create(dev->size(), Env::posix().random());
  const uint64_t efi = settings.layout == "talos" ? 2101 * kMiB : 8 * kMiB;
  gpt.add("EFI", efi, kTypeEFI, Env::posix().random());
  GptPartition meta = gpt.add("META", kMiB, kTypeLinuxData, Env::posix().random());
  gpt.write(*dev);
  std::string zeros(kMiB, '\0');
  dev->write_at(meta.offset(), zeros.data(), zeros.size());
  dev->sync();
}

}  // namespace cryptnode::sim
