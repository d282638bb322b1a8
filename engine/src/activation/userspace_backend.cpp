// The userspace backend (docs/design.md, "Activation backends"): where there is no
// device-mapper, the plaintext of an open volume is a file of the node's FUSE server
// (<runtime_dir>/mapper/<name>, fuse_server.h) and a loop device over it, with the LUKS2 sector
// size as its logical block size, stands in for /dev/mapper/<name>. Everything about the volume
// (volume key, data segment, sector size, cipher) comes from luks2::Device.
#include <algorithm>
#include <map>
#include <memory>
#include <mutex>

#include "activation_backends.h"
#include "cryptnode/engine/error.h"
#include "cryptnode/engine/luks2.h"
#include "fuse_server.h"
#include "loop_queue.h"
#include "sector_file.h"

namespace cryptnode::activation {
namespace {

bool servable_sector_size(uint32_t s) {
  return s == 512 || s == 1024 || s == 2048 || s == 4096;  // Xts and LOOP_CONFIGURE block_size
}

struct Volume {
  std::shared_ptr<SectorFile> file;
  std::unique_ptr<LoopDevice> loop;
};

class UserspaceBackend final : public ActivationBackend {
 public:
  UserspaceBackend(const std::string& runtime_dir, Env& env, luks2::LogSink log)
      : env_(env), log_(std::move(log)), server_(runtime_dir + "/mapper", env) {}

  ~UserspaceBackend() override {
    for (const auto& n : open_names()) {
      try {
        close_volume(n, true);
      } catch (...) {
      }
    }
  }

  std::string kind() const override { return "userspace"; }

  std::string open(const std::string& device, int keyslot, const Secret& passphrase,
                   const std::string& name, const OpenOptions& o) override {
    if (name.empty() || name.find('/') != std::string::npos || name == "." || name == "..")
      throw Error(Code::kInvalidArgument, "invalid mapped device name \"" + name + "\"");
    std::lock_guard<std::mutex> op(op_mu_);
    if (is_open(name)) throw Error(Code::kDeviceBusy, "mapped device is still in use");
    try {
      luks2::perf_flags(o.perf_options);  // validated; dm-crypt's queues do not exist here
    } catch (const Error& e) {
      throw e.wrap("invalid luks performance options");
    }

    luks2::Device dev = luks2::Device::load(device, log_);
    const std::string cipher = dev.cipher();
    const luks2::CipherSpec* spec = luks2::find_cipher(cipher);
    if (!spec || !spec->userspace)
      throw Error(Code::kUnsupported,
                  name + ": the userspace activation backend cannot serve cipher " + cipher +
                      " (only aes-xts-plain64); use the kernel backend");
    SegmentLayout layout;
    layout.sector = dev.sector_size();
    if (!servable_sector_size(layout.sector))
      throw Error(Code::kUnsupported,
                  name + ": the userspace activation backend cannot serve sector size " +
                      std::to_string(layout.sector) + " (512, 1024, 2048 or 4096)");
    layout.offset = dev.data_offset();
    const std::optional<uint64_t> fixed = dev.data_size();
    std::unique_ptr<BlockDevice> block = env_.open_block(device, !o.read_only);
    const uint64_t end = block->size();
    if (layout.offset % layout.sector)
      throw Error(Code::kCorrupt,
                  name + ": the LUKS2 data segment offset " + std::to_string(layout.offset) +
                      " is not a multiple of its sector size " + std::to_string(layout.sector));
    if (layout.offset >= end || (fixed && *fixed > end - layout.offset))
      throw Error(Code::kCorrupt, name + ": the LUKS2 data segment (offset " +
                                      std::to_string(layout.offset) + ", size " +
                                      (fixed ? std::to_string(*fixed) : std::string("dynamic")) +
                                      ") lies beyond the end of " + device + " (" +
                                      std::to_string(end) + " bytes)");
    layout.size = (fixed ? *fixed : end - layout.offset) / layout.sector * layout.sector;
    if (layout.size == 0)
      throw Error(Code::kCorrupt, name + ": the LUKS2 data segment of " + device + " is empty");

    std::unique_ptr<Xts> xts;
    {
      Secret key = dev.volume_key(keyslot, passphrase);  // kKeyRejected for a wrong passphrase
      if (!o.passthrough) xts = std::make_unique<Xts>(key, layout.sector, o.xts);
    }
    auto v = std::make_shared<Volume>();
    v->file = std::make_shared<SectorFile>(std::move(block), layout, std::move(xts), o.read_only);
    const std::string path = server_.add(name, v->file);
    try {
      v->loop = env_.attach_loop(path, layout.sector, o.read_only, /*direct_io=*/true);
      tune_loop_queue(v->loop->path());  // best effort: the device works either way
    } catch (...) {
      server_.remove(name);
      throw;
    }
    std::lock_guard<std::mutex> l(mu_);
    volumes_[name] = v;
    return v->loop->path();
  }

  void close(const std::string& name) override { close_volume(name, false); }

  bool is_open(const std::string& name) const override {
    std::lock_guard<std::mutex> l(mu_);
    return volumes_.count(name) > 0;
  }

  std::string path(const std::string& name) const override {
    std::lock_guard<std::mutex> l(mu_);
    auto it = volumes_.find(name);
    if (it == volumes_.end()) throw Error(Code::kNotFound, name + ": not an open mapping");
    return it->second->loop->path();
  }

  std::vector<std::string> open_names() const override {
    std::lock_guard<std::mutex> l(mu_);
    std::vector<std::string> out;
    for (const auto& [n, v] : volumes_) out.push_back(n);
    return out;
  }

 private:
  // force: also while the loop device is mounted (the backend is going away; the kernel detaches
  // the loop device when its last user lets go).
  void close_volume(const std::string& name, bool force) {
    std::lock_guard<std::mutex> op(op_mu_);
    std::shared_ptr<Volume> v;
    {
      std::lock_guard<std::mutex> l(mu_);
      auto it = volumes_.find(name);
      if (it == volumes_.end()) return;
      v = it->second;
    }
    // As dm-crypt refuses to remove a mapping that is open: a mounted filesystem on the loop
    // device would lose its device.
    for (const auto& m : force ? std::vector<MountEntry>() : env_.mounts())
      if (m.source == v->loop->path())
        throw Error(Code::kDeviceBusy, "mapped device is still in use");
    v->loop->detach();     // flushes through FUSE before the file goes away
    v->file->close();      // the device and the key go now, whenever FUSE releases its handle
    server_.remove(name);  // unmounts with the last volume
    std::lock_guard<std::mutex> l(mu_);
    volumes_.erase(name);
  }

  Env& env_;
  luks2::LogSink log_;
  std::mutex op_mu_;  // one open or close at a time
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<Volume>> volumes_;
  FuseServer server_;  // declared last: stopped first on destruction
};

}  // namespace

std::unique_ptr<ActivationBackend> make_userspace_backend(const std::string& runtime_dir, Env& env,
                                                          luks2::LogSink log) {
  if (!env.exists("/dev/fuse"))
    throw Error(Code::kUnsupported, "the userspace activation backend needs /dev/fuse");
  return std::make_unique<UserspaceBackend>(runtime_dir, env, std::move(log));
}

}  // namespace cryptnode::activation
