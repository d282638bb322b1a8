// sim::Node: the node directory (create/open, node.json, the lock), power and the read-only views.
#include "cryptnode/sim/node.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "cryptnode/engine/error.h"
#include "node_impl.h"

namespace fs = std::filesystem;

namespace cryptnode::sim {
namespace {

std::string read_text(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error(Code::kNotFound, path + ": not found");
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void write_text(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    f << text;
    if (!f.flush()) throw Error(Code::kIO, "cannot write " + tmp);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) throw_errno("rename " + path, errno);
}

void create_sparse(const std::string& path, uint64_t size) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) throw_errno(path, errno);
  if (::ftruncate(fd, static_cast<off_t>(size)) != 0) {
    int e = errno;
    ::close(fd);
    throw_errno(path + ": ftruncate", e);
  }
  ::close(fd);
}

}  // namespace

// Lays out a fresh system disk image (Talos GPT with META zeroed); hardware.cpp.
void format_system_disk_image(const std::string& image, const NodeSettings& settings);

Node::Node(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Node::~Node() {
  try {
    impl_->power_off(true);
  } catch (...) {
    try {
      impl_->power_off(false);
    } catch (...) {
    }
  }
}

std::unique_ptr<Node> Node::create(const std::string& path, const NodeSettings& in) {
  NodeSettings settings = in;
  for (size_t i = 0; i < settings.disks.size(); ++i)
    if (settings.disks[i].image.empty()) settings.disks[i].image = settings.disks[i].name + ".img";
  settings.validate();
  std::error_code ec;
  if (fs::exists(path, ec) && !fs::is_empty(path, ec))
    throw Error(Code::kAlreadyExists,
                "node directory " + path + " already exists and is not empty");
  fs::create_directories(path + "/disks", ec);
  if (ec) throw Error(Code::kIO, "cannot create " + path + ": " + ec.message());
  auto impl = std::make_unique<Impl>();
  impl->path = fs::absolute(path).lexically_normal().string();
  impl->lock = std::make_unique<NodeLock>(impl->path);
  impl->settings = settings;
  try {
    for (const auto& d : settings.disks) create_sparse(impl->path + "/disks/" + d.image, d.size);
    format_system_disk_image(impl->path + "/disks/" + settings.disks[0].image, settings);
    write_text(impl->path + "/node.json", settings.to_json());
  } catch (...) {
    impl->lock.reset();
    fs::remove_all(path, ec);
    throw;
  }
  return std::unique_ptr<Node>(new Node(std::move(impl)));
}

std::unique_ptr<Node> Node::open(const std::string& path) {
  const std::string json_path = path + "/node.json";
  if (!fs::exists(json_path))
    throw Error(Code::kNotFound, path + " is not a cryptnode node directory (no node.json)");
  auto impl = std::make_unique<Impl>();
  impl->path = fs::absolute(path).lexically_normal().string();
  impl->lock = std::make_unique<NodeLock>(impl->path);
  impl->settings = NodeSettings::from_json(read_text(json_path), json_path);
  for (const auto& d : impl->settings.disks) {
    const std::string img = impl->path + "/disks/" + d.image;
    struct stat st {};
    if (::stat(img.c_str(), &st) != 0)
      throw Error(Code::kCorrupt, path + ": disk image " + d.image + " is missing");
    if (static_cast<uint64_t>(st.st_size) != d.size)
      throw Error(Code::kCorrupt, path + ": disk image " + d.image + " has size " +
                                      std::to_string(st.st_size) + ", node.json says " +
                                      std::to_string(d.size));
  }
  return std::unique_ptr<Node>(new Node(std::move(impl)));
}

const std::string& Node::path() const {
  return impl_->path;
}
const NodeSettings& Node::settings() const {
  return impl_->settings;
}

void Node::boot(const std::optional<std::string>& config) {
  if (config) {
    auto errors = config::validate_text(*config);
    if (!errors.empty()) {
      std::string m;
      for (const auto& e : errors) m += (m.empty() ? "" : "\n") + e;
      throw Error(Code::kConfigInvalid, m);
    }
  }
  impl_->power_on();
  impl_->offered_config = config;
  try {
    impl_->run_boot();
  } catch (...) {
    impl_->power_off(true);
    throw;
  }
}

void Node::reboot() {
  if (!impl_->hw) throw Error(Code::kFailedPrecondition, "node is not powered on");
  impl_->power_off(true);
  impl_->power_on();
  impl_->offered_config.reset();
  impl_->run_boot();
}

void Node::shutdown() {
  impl_->power_off(true);
}
void Node::power_cut() {
  impl_->power_off(false);
}
bool Node::powered_on() const {
  return impl_->hw != nullptr;
}
bool Node::maintenance() const {
  return impl_->hw && impl_->maintenance;
}
bool Node::running() const {
  return impl_->hw && impl_->running;
}

void Node::advance(double seconds) {
  if (seconds < 0) throw Error(Code::kInvalidArgument, "advance: seconds must not be negative");
  const int64_t until = impl_->clock_ms + static_cast<int64_t>(seconds * 1000);
  for (;;) {
    int64_t next = until;
    if (impl_->next_retry_ms >= 0) next = std::min(next, impl_->next_retry_ms);
    if (impl_->try_rollback_ms) next = std::min(next, *impl_->try_rollback_ms);
    impl_->clock_ms = std::max(impl_->clock_ms, next);
    if (impl_->try_rollback_ms && *impl_->try_rollback_ms <= impl_->clock_ms) {
      impl_->try_rollback_ms.reset();
      rollback_try(*impl_);
      continue;
    }
    if (impl_->next_retry_ms >= 0 && impl_->next_retry_ms <= impl_->clock_ms) {
      impl_->next_retry_ms = -1;
      impl_->log("retry", "30 s retry tick");
      impl_->settle();
      continue;
    }
    if (impl_->clock_ms >= until) break;
  }
}

volume::VolumeStatus Node::volume_status(const std::string& id) const {
  auto it = impl_->statuses.find(id);
  if (it == impl_->statuses.end())
    throw Error(Code::kNotFound, "volume status \"" + id + "\" not found");
  return it->second;
}

std::vector<volume::VolumeStatus> Node::volumes() const {
  std::vector<volume::VolumeStatus> out;
  for (const auto& [id, st] : impl_->statuses) out.push_back(st);
  return out;
}

std::map<std::string, std::string> Node::devices() const {
  if (!impl_->hw) return {};
  return impl_->hw->partitions();
}

namespace {
std::string checked_path(const std::string& volume, const std::string& rel) {
  fs::path p(rel);
  if (rel.empty() || p.is_absolute())
    throw Error(Code::kInvalidArgument, "path \"" + rel + "\" must be relative to the volume");
  for (const auto& part : p)
    if (part == "..")
      throw Error(Code::kInvalidArgument, "path \"" + rel + "\" must not contain ..");
  return rel;
}
}  // namespace

void Node::write_file(const std::string& volume, const std::string& path, const std::string& data) {
  const std::string full = impl_->mount_point(volume) + "/" + checked_path(volume, path);
  fs::create_directories(fs::path(full).parent_path());
  std::ofstream f(full, std::ios::binary | std::ios::trunc);
  f << data;
  if (!f.flush()) throw Error(Code::kIO, "cannot write " + path + " on " + volume);
  f.close();
  int fd = ::open(full.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

std::string Node::read_file(const std::string& volume, const std::string& path) const {
  const std::string full = impl_->mount_point(volume) + "/" + checked_path(volume, path);
  std::ifstream f(full, std::ios::binary);
  if (!f) throw Error(Code::kNotFound, volume + ": " + path + ": no such file");
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::string Node::active_config() const {
  return impl_->active_text.value_or("");
}
std::vector<Event> Node::events() const {
  return impl_->events;
}

std::string Node::meta() const {
  if (!impl_->hw) throw Error(Code::kFailedPrecondition, "node is not powered on");
  return meta_json(impl_->hw->meta_device());
}

void Node::meta_write(int tag, const std::string& value) {
  if (!impl_->hw) throw Error(Code::kFailedPrecondition, "node is not powered on");
  meta_write_tag(impl_->hw->meta_device(), tag, value);
  impl_->log("meta", "tag " + std::to_string(tag) + " written");
}

void Node::meta_delete(int tag) {
  if (!impl_->hw) throw Error(Code::kFailedPrecondition, "node is not powered on");
  meta_delete_tag(impl_->hw->meta_device(), tag);
  impl_->log("meta", "tag " + std::to_string(tag) + " deleted");
}

void Node::set_firmware(bool secure_boot, bool setup_mode) {
  impl_->settings.secure_boot = secure_boot;
  impl_->settings.setup_mode = setup_mode;
  write_text(impl_->path + "/node.json", impl_->settings.to_json());
}

void Node::clear_tpm() {
  std::error_code ec;
  fs::remove_all(impl_->path + "/tpm", ec);
}

}  // namespace cryptnode::sim

namespace cryptnode::sim {

std::string Node::luks_dump(const std::string& volume) const {
  if (!impl_->hw) throw Error(Code::kFailedPrecondition, "node is not powered on");
  std::string device;
  auto it = impl_->statuses.find(volume);
  if (it != impl_->statuses.end() && !it->second.location.empty()) device = it->second.location;
  if (device.empty()) {
    auto parts = impl_->hw->partitions();
    auto p = parts.find(volume);
    if (p == parts.end()) throw Error(Code::kNotFound, "volume \"" + volume + "\" not found");
    device = p->second;
  }
  if (impl_->hw->probe(device) != "luks")
    throw Error(Code::kNotFound, "volume \"" + volume + "\" is not encrypted (no LUKS2 header)");
  return luks_dump_json(device);
}

}  // namespace cryptnode::sim
