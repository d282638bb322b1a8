// The node's hardware while powered on (controller::MachineHost): disks on loop devices, volume
// provisioning on them (Talos' allocation, docs/disk-layout.md), the activation backend,
// filesystems and mounts under <node>/run, the KMS client transport.
#include "hardware.h"

#include <algorithm>
#include <map>

#include "cryptnode/engine/blkid.h"
#include "cryptnode/engine/cel.h"
#include "cryptnode/engine/error.h"
#include "cryptnode/sim/disk.h"
#include "cryptnode/sim/filesystem.h"
#include "cryptnode/sim/kms.h"
#include "cryptnode/sim/swtpm.h"
#include "disk_facts.h"
#include "node_tpm.h"

namespace cryptnode::sim {
namespace {

constexpr uint64_t kMiB = 1 << 20;

bool has_gpt_signature(BlockDevice& dev) {
  char sig[8] = {};
  if (dev.size() < 1024) return false;
  dev.read_at(512, sig, 8);
  return std::string(sig, 8) == "EFI PART";
}

class NodeHardware final : public Hardware {
 public:
  NodeHardware(const std::string& node_dir, const NodeSettings& settings, Env& env)
      : dir_(node_dir), run_(node_dir + "/run"), settings_(settings), env_(env) {
    recover_hardware(node_dir, env);
    env_.make_dirs(run_ + "/mnt", 0700);
    // The simulated installer: a system disk without a partition table (a reset of the whole
    // system disk) gets Talos' installed layout again, as a reinstall would lay it down.
    const std::string system_image = dir_ + "/disks/" + settings.disks.front().image;
    if (!has_gpt_signature(*env_.open_block(system_image, false)))
      format_system_disk_image(system_image, settings, env_);
    try {
      for (const auto& d : settings.disks) {
        disks_.push_back(std::make_unique<AttachedDisk>(d.name, dir_ + "/disks/" + d.image, env_));
        disk_facts_.push_back(simulated_disk_facts(disk_facts_.size(), disks_.back()->size()));
      }
      backend_ = activation::make_activation_backend(settings.backend, run_, env_);
      if (settings.tpm) tpm_ = std::make_unique<NodeTpm>(env_, dir_, settings);
    } catch (...) {
      backend_.reset();
      disks_.clear();
      throw;
    }
  }

  ~NodeHardware() override { teardown(true); }

  // --- VolumeHost ----------------------------------------------------------------------------
  std::optional<volume::Located> locate(const volume::VolumeSpec& spec) override {
    if (!spec.volume_locator.empty()) return locate_volume(spec);
    if (spec.type == "disk") return locate_disk(spec);
    for (const auto& d : disks_) {
      if (!d->has_gpt()) continue;
      if (auto p = d->read_gpt().find(spec.label)) return located(*d, *p);
    }
    return std::nullopt;
  }

  // Talos' provisionNewVolume (internal/app/machined/pkg/controllers/block/internal/volumes/
  // locate.go): the disks the selector matches (findCandidateDisks), then the first of them with
  // room (selectBestDisk, CheckDiskForProvisioning in disk.go).
  std::optional<volume::Located> provision(const volume::VolumeSpec& spec) override {
    const std::vector<AttachedDisk*> matched = candidates(spec.disk_selector);
    if (spec.type == "disk" && matched.size() > 1)
      throw Error(
          Code::kFailedPrecondition,
          "multiple disks matched locator for disk volume; matched disks: " + dev_paths(matched));
    int not_enough_space = 0, wrong_format = 0;
    for (AttachedDisk* d : matched) {
      if (spec.type == "disk") {  // CheckDiskForProvisioning: a disk volume needs an empty disk
        if (!sim::probe(d->device(), env_).empty()) {
          ++wrong_format;
          continue;
        }
        return volume::Located{d->device(), "", 0, d->size()};
      }
      if (!d->has_gpt() && !sim::probe(d->device(), env_).empty()) {
        ++wrong_format;  // not empty and not GPT: cannot be partitioned
        continue;
      }
      uint64_t available = d->has_gpt() ? d->read_gpt().largest_free()
                                        : Gpt::create(d->size(), env_.random()).largest_free();
      if (available < spec.min_size) {
        ++not_enough_space;
        continue;
      }
      uint64_t max = spec.max_size;
      if (spec.max_size_percent)
        max = available * static_cast<uint64_t>(spec.max_size_percent) / 100;
      uint64_t size = (max == 0 || max >= available) ? 0 : max / kMiB * kMiB;  // 0: all of it
      GptPartition p = d->add_partition(spec.label, size, spec.partition_type);
      return located(*d, p);
    }
    // Tagged Retryable in Talos: the 30 s ticker tries again (a disk may appear or be wiped).
    throw Error(Code::kFailedPrecondition,
                "no disks matched for volume (" + std::to_string(matched.size()) +
                    " matched selector): " + std::to_string(not_enough_space) +
                    " have not enough space, " + std::to_string(wrong_format) +
                    " have wrong format, 0 have other issues",
                true);
  }

  std::string probe(const std::string& device) override { return sim::probe(device, env_); }

  void make_filesystem(const std::string& device, const volume::VolumeSpec& spec) override {
    env_.fault_point("volume.before_mkfs");
    const uint64_t size = env_.open_block(device, false)->size();
    sim::make_filesystem(env_, device, spec.fs_type, spec.fs_label, size);
  }

  // --- MachineHost -------------------------------------------------------------------------
  activation::ActivationBackend& activation() override { return *backend_; }
  std::shared_ptr<keys::KmsTransport> kms(const std::vector<std::string>& roots) override {
    return make_grpc_kms_transport(roots, settings_.trusted_ca_pem);
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
    mount_filesystem(env_, status.mount_location,
                     status.filesystem.empty() ? "xfs" : status.filesystem, dir);
    mounts_[status.id] = dir;
    return dir;
  }

  void unmount(const std::string& id) override {
    auto it = mounts_.find(id);
    if (it == mounts_.end()) return;
    unmount_filesystem(env_, it->second);
    env_.remove(it->second);
    mounts_.erase(it);
  }

  void wipe_partition(const volume::VolumeStatus& status, bool drop_partition) override {
    for (const auto& d : disks_)
      if (d->device() == status.parent_location) {
        if (drop_partition)
          d->wipe_and_delete(status.partition_index);
        else
          d->wipe(status.partition_index);
        return;
      }
    throw Error(Code::kNotFound, "failed to reset: volume \"" + status.id + "\" is not located");
  }

  void extend_pcr_phase(std::string_view phase) override {
    if (tpm_) tpm_->extend_phase(phase);
  }

  tpm::TpmContext tpm_context(
      std::function<void(const std::function<void()>&)> pcr11_lock) override {
    if (!tpm_) return MachineHost::tpm_context(std::move(pcr11_lock));
    return tpm_->context(std::move(pcr11_lock));
  }

  void clear_tpm() override {
    if (tpm_) tpm_->clear();
  }

  void wipe_system_disk() override {
    if (disks_.empty()) return;
    disks_.front()->wipe_all();
  }

  void cut() override { teardown(false); }

 private:
  volume::Located located(const AttachedDisk& d, const GptPartition& p) {
    return {d.partition_device(p.index), d.device(), p.index, p.size()};
  }

  // findCandidateDisks: the diskSelector's CEL expression evaluated against each writable disk's
  // block.Disk (`disk`) and `system_disk`, in the order of the disks' IDs (sda, sdb, ...). Talos'
  // texts: an evaluation error is "error evaluating disk locator: <cel-go's text>", no match at
  // all is "no disks matched selector for volume"; neither is tagged Retryable. A volume without
  // a selector gets Talos' noMatch ("false", volumeconfig/types.go).
  std::vector<AttachedDisk*> candidates(const std::string& selector) {
    std::vector<AttachedDisk*> matched = match_disks(selector, /*partition_locator=*/true);
    if (matched.empty()) throw Error(Code::kNotFound, "no disks matched selector for volume");
    return matched;
  }

  // The disks a diskSelector matches, in disk order. A partition locator skips read-only disks
  // and offers `system_disk`; a disk volume's locator sees every disk and `disk` alone.
  std::vector<AttachedDisk*> match_disks(const std::string& selector, bool partition_locator) {
    const cel::Program program = cel::Program::compile(selector.empty() ? "false" : selector,
                                                       cel::Environment::kDiskLocator);
    std::vector<AttachedDisk*> matched;
    for (size_t i = 0; i < disks_.size(); ++i) {
      if (partition_locator && disk_facts_[i].readonly) continue;
      const cel::DiskActivation vars{
          disk_facts_[i], partition_locator ? std::optional<bool>(i == 0) : std::nullopt};
      bool matches = false;
      try {
        matches = program.evaluate(vars);
      } catch (const Error& e) {
        throw e.wrap("error evaluating disk locator");
      }
      if (matches) matched.push_back(disks_[i].get());
    }
    return matched;
  }

  // A disk volume (locate.go locateDiskByDiskMatch, 1.12.5+): the diskSelector evaluated against
  // each disk with `disk` alone in the activation (no `system_disk`: referencing it is cel-go's
  // "no such attribute(s): system_disk"); more than one match is an error; the match is located
  // at the whole disk (its whole-disk discovered volume).
  std::optional<volume::Located> locate_disk(const volume::VolumeSpec& spec) {
    std::vector<AttachedDisk*> matched = match_disks(spec.disk_selector, false);
    if (matched.size() > 1)
      throw Error(
          Code::kFailedPrecondition,
          "multiple disks matched locator for disk volume; matched disks: " + dev_paths(matched));
    if (matched.empty()) return std::nullopt;
    return volume::Located{matched.front()->device(), "", 0, matched.front()->size()};
  }

  // locate.go locateVolumeByMatch: the Locator.Match expression against every discovered volume
  // (each disk, then its partitions), `disk` being the volume's disk; the first match.
  std::optional<volume::Located> locate_volume(const volume::VolumeSpec& spec) {
    const cel::Program program =
        cel::Program::compile(spec.volume_locator, cel::Environment::kVolumeLocator);
    auto matches = [&](const cel::VolumeFacts& v, size_t disk) {
      try {
        return program.evaluate(cel::VolumeActivation{v, disk_facts_[disk]});
      } catch (const Error& e) {
        throw e.wrap("error evaluating volume locator");
      }
    };
    for (size_t i = 0; i < disks_.size(); ++i) {
      AttachedDisk& d = *disks_[i];
      const blkid::Info info = blkid::probe_info(*env_.open_block(d.device(), false), {});
      cel::VolumeFacts whole;
      whole.size = info.size;
      whole.name = info.probed.name;
      whole.label = info.probed.label.value_or("");
      whole.uuid = info.probed.uuid.value_or("");
      whole.type = "disk";
      whole.dev_path = disk_facts_[i].dev_path;
      if (matches(whole, i)) return volume::Located{d.device(), "", 0, d.size()};
      for (const blkid::NestedProbeResult& p : info.parts) {
        cel::VolumeFacts part;
        part.size = p.partition_size;
        part.name = p.probed.name;
        part.label = p.probed.label.value_or("");
        part.uuid = p.probed.uuid.value_or("");
        part.partition_uuid = p.partition_uuid;
        part.partition_type = p.partition_type;
        part.partition_label = p.partition_label;
        part.partition_index = p.partition_index;
        part.type = "partition";
        part.dev_path = disk_facts_[i].dev_path + std::to_string(p.partition_index);
        part.parent_dev_path = disk_facts_[i].dev_path;
        if (matches(part, i))
          return volume::Located{d.partition_device(static_cast<int>(p.partition_index)),
                                 d.device(), static_cast<int>(p.partition_index), p.partition_size};
      }
    }
    return std::nullopt;
  }

  // Go's %v of the disks' DevPaths: "[/dev/sdb /dev/sdc]".
  std::string dev_paths(const std::vector<AttachedDisk*>& disks) const {
    std::string out;
    for (const AttachedDisk* d : disks)
      for (size_t i = 0; i < disks_.size(); ++i)
        if (disks_[i].get() == d) out += (out.empty() ? "" : " ") + disk_facts_[i].dev_path;
    return "[" + out + "]";
  }

  void teardown(bool clean) {
    if (tpm_ && !clean) tpm_->cut();
    tpm_.reset();  // clean: swtpm stopped (a power-off); after a cut: nothing left to stop
    for (auto it = mounts_.begin(); it != mounts_.end();) {
      try {
        if (clean)
          unmount_filesystem(env_, it->second);
        else
          env_.unmount(it->second, true);
      } catch (...) {
        env_.unmount(it->second, true);
      }
      it = mounts_.erase(it);
    }
    backend_.reset();  // closes every mapping (loop, FUSE)
    disks_.clear();    // BLKPG delete + detach
  }

  std::string dir_, run_;
  NodeSettings settings_;
  Env& env_;
  std::vector<std::unique_ptr<AttachedDisk>> disks_;
  std::vector<cel::DiskFacts> disk_facts_;  // block.Disk of disks_[i]
  std::unique_ptr<activation::ActivationBackend> backend_;
  std::unique_ptr<NodeTpm> tpm_;  // null: a node without a TPM
  std::map<std::string, std::string> mounts_;
};

}  // namespace

void recover_hardware(const std::string& node_dir, Env& env) {
  // Recover from a crash of an earlier owner: mounts and the FUSE mapper left under <node>/run,
  // loop devices on it, then loop devices still backed by the node's disk images.
  activation::recover_userspace_backend(node_dir + "/run", env);
  for (const auto& l : env.loops_backed_under(node_dir + "/disks/")) env.detach_loop(l);
  Swtpm::stop_leftover(env, node_dir);
}

std::unique_ptr<Hardware> power_on_hardware(const std::string& node_dir,
                                            const NodeSettings& settings, Env& env) {
  return std::make_unique<NodeHardware>(node_dir, settings, env);
}

void format_system_disk_image(const std::string& image, const NodeSettings& settings, Env& env) {
  // An installed, unconfigured Talos disk (UEFI layout): EFI then META (exactly 1 MiB, zeroed);
  // machined provisions STATE and EPHEMERAL at the first boot with a config.
  auto dev = env.open_block(image, true);
  Gpt gpt = Gpt::create(dev->size(), env.random());
  const uint64_t efi = settings.layout == "talos" ? 2101 * kMiB : 8 * kMiB;
  gpt.add("EFI", efi, kTypeEFI, env.random());
  GptPartition meta = gpt.add("META", kMiB, kTypeLinuxData, env.random());
  gpt.write(*dev);
  std::string zeros(kMiB, '\0');
  dev->write_at(meta.offset(), zeros.data(), zeros.size());
  dev->sync();
}

}  // namespace cryptnode::sim
