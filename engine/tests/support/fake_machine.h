// A machine without hardware for the controller's tests (no root, no loop devices, no mounts):
// every partition is a regular file in a scratch directory, "mounting" a volume gives a
// directory that keeps its files until the volume is wiped, the activation backend checks the
// passphrase with libcryptsetup and stands a plain file in for /dev/mapper/<name>, and mkfs
// writes an XFS magic. The Env is the host's with a virtual clock.
#pragma once

#include <sys/stat.h>

#include <cstring>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "cryptnode/engine/controller/machine_host.h"
#include "cryptnode/engine/env.h"
#include "cryptnode/engine/error.h"
#include "cryptnode/engine/luks2.h"

namespace cryptnode::testing {

class ClockEnv final : public EnvWrapper {
 public:
  ClockEnv() : EnvWrapper(Env::posix()) {}
  Clock& clock() override { return clock_; }
  VirtualClock& virtual_clock() { return clock_; }
  std::string crash_at;  // a fault point that throws Crash
  struct Crash {
    std::string point;
  };

 protected:
  void on_fault_point(std::string_view name) override {
    if (name == crash_at) {
      crash_at.clear();
      throw Crash{std::string(name)};
    }
  }

 private:
  VirtualClock clock_;
};

class FakeActivation final : public activation::ActivationBackend {
 public:
  explicit FakeActivation(std::string dir) : dir_(std::move(dir)) {}
  std::string kind() const override { return "fake"; }
  std::string open(const std::string& device, int keyslot, const Secret& passphrase,
                   const std::string& name, const activation::OpenOptions&) override {
    if (open_.count(name)) throw Error(Code::kDeviceBusy, "mapped device is still in use");
    luks2::Device d = luks2::Device::load(device);
    d.test_key(keyslot, passphrase);
    const std::string mapped = dir_ + "/mapper-" + name;
    if (!std::filesystem::exists(mapped)) Env::posix().create_file_exclusive(mapped, "", 0600);
    open_.insert(name);
    return mapped;
  }
  void close(const std::string& name) override { open_.erase(name); }
  void power_cut() { open_.clear(); }
  bool is_open(const std::string& name) const override { return open_.count(name) > 0; }
  std::string path(const std::string& name) const override {
    if (!open_.count(name)) throw Error(Code::kNotFound, name + ": not an open mapping");
    return dir_ + "/mapper-" + name;
  }
  std::vector<std::string> open_names() const override { return {open_.begin(), open_.end()}; }

 private:
  std::string dir_;
  std::set<std::string> open_;
};

class FakeMachine final : public controller::MachineHost {
 public:
  static constexpr uint64_t kPartitionSize = 24ull << 20;  // room for a LUKS2 header

  FakeMachine() : activation_(make_dir()) {
    Env::posix().make_dirs(dir_ + "/mnt", 0700);
    write_zeroes(dir_ + "/META", 1 << 20);
  }
  ~FakeMachine() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  const std::string& dir() const { return dir_; }
  bool can_provision = true;
  std::vector<std::string> phases;  // PCR 11 phases the controller extended
  std::vector<std::string> wiped;

  std::string part(const std::string& label) const { return dir_ + "/part-" + label; }
  // The machine lost power: nothing stays open.
  void power_cut() { activation_.power_cut(); }

  // --- VolumeHost
  std::optional<volume::Located> locate(const volume::VolumeSpec& spec) override {
    if (spec.label == "META") return volume::Located{dir_ + "/META", dir_ + "/disk", 2, 1 << 20};
    if (!std::filesystem::exists(part(spec.label))) return std::nullopt;
    return volume::Located{part(spec.label), dir_ + "/disk", index(spec.label), kPartitionSize};
  }
  std::optional<volume::Located> provision(const volume::VolumeSpec& spec) override {
    if (!can_provision) return std::nullopt;
    write_zeroes(part(spec.label), kPartitionSize);
    return locate(spec);
  }
  std::string probe(const std::string& device) override {
    char b[8] = {};
    auto dev = Env::posix().open_block(device, false);
    if (dev->size() < 8) return "";
    dev->read_at(0, b, 8);
    if (std::memcmp(b, "LUKS\xba\xbe", 6) == 0) return b[7] == 2 ? "luks" : "";
    if (std::memcmp(b, "XFSB", 4) == 0) return "xfs";
    return "";
  }
  void make_filesystem(const std::string& device, const volume::VolumeSpec&) override {
    write_zeroes(device, 4096);
    Env::posix().open_block(device, true)->write_at(0, "XFSB", 4);
  }

  // --- MachineHost
  std::string meta_device() override { return dir_ + "/META"; }
  std::map<std::string, std::string> partitions() override {
    std::map<std::string, std::string> out;
    for (const auto& e : std::filesystem::directory_iterator(dir_)) {
      const std::string name = e.path().filename();
      if (name.rfind("part-", 0) == 0) out[name.substr(5)] = e.path();
    }
    out["META"] = dir_ + "/META";
    return out;
  }
  activation::ActivationBackend& activation() override { return activation_; }
  std::string mount(const volume::VolumeStatus& status) override {
    const std::string d = dir_ + "/mnt/" + status.id;
    Env::posix().make_dirs(d, 0700);
    return d;
  }
  void unmount(const std::string&) override {}
  void wipe_partition(const volume::VolumeStatus& status, bool drop_partition) override {
    wiped.push_back(status.id);
    if (status.id == "META") {
      write_zeroes(dir_ + "/META", 1 << 20);
      return;
    }
    std::error_code ec;
    if (drop_partition)
      std::filesystem::remove(part(status.id), ec);
    else if (std::filesystem::exists(part(status.id), ec))
      write_zeroes(part(status.id), std::filesystem::file_size(part(status.id), ec));
    std::filesystem::remove(dir_ + "/mapper-luks2-" + status.id, ec);
    std::filesystem::remove_all(dir_ + "/mnt/" + status.id, ec);
  }
  void wipe_system_disk() override {
    wiped.push_back("*");
    for (const auto& [label, dev] : partitions())
      if (label != "META") std::filesystem::remove(dev);
    write_zeroes(dir_ + "/META", 1 << 20);
    std::error_code ec;
    std::filesystem::remove_all(dir_ + "/mnt", ec);
    Env::posix().make_dirs(dir_ + "/mnt", 0700);
  }
  std::shared_ptr<keys::KmsTransport> kms(const std::vector<std::string>&) override {
    return nullptr;
  }
  void extend_pcr_phase(std::string_view phase) override { phases.emplace_back(phase); }

 private:
  std::string make_dir() {
    char tmpl[] = "/tmp/cryptnode-machine-XXXXXX";
    if (!mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
    dir_ = tmpl;
    return dir_;
  }
  static int index(const std::string& label) {
    if (label == "STATE") return 3;
    if (label == "EPHEMERAL") return 4;
    return 5;
  }
  static void write_zeroes(const std::string& path, uint64_t size) {
    std::error_code ec;
    if (!std::filesystem::exists(path)) Env::posix().create_file_exclusive(path, "", 0600);
    std::filesystem::resize_file(path, 0, ec);
    std::filesystem::resize_file(path, size, ec);
  }

  std::string dir_;
  FakeActivation activation_;
};

}  // namespace cryptnode::testing
