// sim::Node: the node directory (create/open, node.json, the lock), power, and the operations,
// each handed to Talos' controllers (controller::Machine) of the current power-on.
#include "cryptnode/sim/node.h"

#include <cmath>
#include <filesystem>
#include <limits>

#include "cryptnode/engine/error.h"
#include "cryptnode/engine/versions.h"
#include "node_impl.h"

namespace fs = std::filesystem;

namespace cryptnode::sim {
namespace {

void create_sparse(Env& env, const std::string& path, uint64_t size) {
  if (!env.create_file_exclusive(path, "", 0600))
    throw Error(Code::kAlreadyExists, path + ": already exists");
  if (size > 0) env.open_block(path, true)->write_at(size - 1, "", 1);
}

void remove_tree(Env& env, const std::string& path) {
  for (const auto& name : env.list_dir(path)) remove_tree(env, path + "/" + name);
  env.remove(path);
}

std::string absolute(const std::string& path) {
  if (path.empty()) throw Error(Code::kInvalidArgument, "node directory: the path is empty");
  return fs::absolute(path).lexically_normal().string();
}

}  // namespace

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

std::unique_ptr<Node> Node::create(const std::string& path_in, const NodeSettings& in, Env& env) {
  NodeSettings settings = in;
  for (size_t i = 0; i < settings.disks.size(); ++i)
    if (settings.disks[i].image.empty()) settings.disks[i].image = settings.disks[i].name + ".img";
  settings.validate();
  const std::string path = absolute(path_in);
  if (env.exists(path) && !env.list_dir(path).empty())
    throw Error(Code::kAlreadyExists,
                "node directory " + path_in + " already exists and is not empty");
  const bool existed = env.exists(path);
  env.make_dirs(path + "/disks", 0700);
  auto impl = std::make_unique<Impl>(env);
  impl->path = path;
  try {
    impl->lock = std::make_unique<NodeLock>(impl->path, env);
    impl->settings = settings;
    for (const auto& d : settings.disks)
      create_sparse(env, impl->path + "/disks/" + d.image, d.size);
    format_system_disk_image(impl->path + "/disks/" + settings.disks[0].image, settings, env);
    impl->save_settings();
  } catch (...) {
    impl->lock.reset();
    try {
      if (existed) {
        for (const auto& name : env.list_dir(path)) remove_tree(env, path + "/" + name);
      } else {
        remove_tree(env, path);
      }
    } catch (...) {
    }
    throw;
  }
  return std::unique_ptr<Node>(new Node(std::move(impl)));
}

std::unique_ptr<Node> Node::open(const std::string& path_in, Env& env) {
  const std::string path = absolute(path_in);
  const std::string json_path = path + "/node.json";
  auto text = env.exists(path) ? env.read_file(json_path) : std::nullopt;
  if (!text)
    throw Error(Code::kNotFound, path_in + " is not a cryptnode node directory (no node.json)");
  auto impl = std::make_unique<Impl>(env);
  impl->path = path;
  impl->lock = std::make_unique<NodeLock>(impl->path, env);
  impl->settings = NodeSettings::from_json(*text, json_path);
  // Holding the lock, anything a crashed owner left (mounts, the FUSE mapper, loop devices) is
  // stale: clear it now rather than at the next power-on.
  recover_hardware(impl->path, env);
  for (const auto& d : impl->settings.disks) {
    const std::string img = impl->path + "/disks/" + d.image;
    if (!env.exists(img))
      throw Error(Code::kCorrupt, path_in + ": disk image " + d.image + " is missing");
    const uint64_t size = env.open_block(img, false)->size();
    if (size != d.size)
      throw Error(Code::kCorrupt, path_in + ": disk image " + d.image + " has size " +
                                      std::to_string(size) + ", node.json says " +
                                      std::to_string(d.size));
  }
  return std::unique_ptr<Node>(new Node(std::move(impl)));
}

// --- power ---------------------------------------------------------------------------------

void Node::Impl::save_settings() {
  env.write_file_atomic(path + "/node.json", settings.to_json(), 0600);
}

controller::Machine& Node::Impl::on() const {
  if (!machine) throw Error(Code::kFailedPrecondition, "node is not powered on");
  return *machine;
}

void Node::Impl::power_on() {
  if (hw) throw Error(Code::kFailedPrecondition, "node is already powered on");
  last_crash.clear();
  log.start_wall_clock();
  hw = power_on_hardware(path, settings, env);
  controller::MachineSettings ms;
  ms.uuid = settings.uuid;
  ms.pbkdf = luks2::parse_pbkdf(settings.pbkdf);
  ms.talos_version = settings.talos_version;
  ms.layout = settings.layout;
  machine = std::make_unique<controller::Machine>(ms, *hw, env, log);
  log.add("power", "on");
}

void Node::Impl::power_off(bool clean) {
  if (!hw) return;
  if (clean && machine) {
    try {
      machine->shutdown();
    } catch (const PowerCut& cut) {
      last_crash = cut.point;
      clean = false;
    }
  }
  machine.reset();
  if (!clean) hw->cut();
  hw.reset();
  log.add("power", clean ? "off" : "cut");
}

void Node::Impl::boot(const std::optional<std::string>& offered) {
  power_on();
  try {
    guarded([&] { machine->boot(offered); });
  } catch (...) {
    power_off(true);
    throw;
  }
}

void Node::Impl::perform(controller::Action action) {
  if (action == controller::Action::kNone) return;
  power_off(true);
  if (action == controller::Action::kReboot) boot(std::nullopt);
}

void Node::boot(const std::optional<std::string>& config) {
  if (config) {
    // Offered like a cmdline/platform config: it must be a whole machine config.
    const auto version = versions::Version::parse(impl_->settings.talos_version);
    config::MachineConfig cfg = config::MachineConfig::parse(*config, version);
    auto errors = cfg.validate();
    if (!errors.empty()) throw Error(Code::kConfigInvalid, config::format_multierror(errors));
    if (!cfg.v1alpha1())
      throw Error(Code::kInvalidArgument,
                  "the applied machine configuration doesn't contain v1alpha1 config, did you "
                  "mean to patch the machine config instead?");
  }
  impl_->boot(config);
}

std::string Node::upgrade(const std::string& to) {
  const std::string resolved = versions::Version::parse(to).str();
  const bool was_on = impl_->hw != nullptr;
  const std::string from = impl_->settings.talos_version;
  impl_->power_off(true);
  impl_->settings.talos_version = to;
  impl_->save_settings();
  impl_->log.add("upgrade", "from " + from + " to " + resolved);
  if (was_on) impl_->boot(std::nullopt);
  return resolved;
}

void Node::reboot() {
  if (!impl_->hw) throw Error(Code::kFailedPrecondition, "node is not powered on");
  impl_->perform(controller::Action::kReboot);
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
  return impl_->machine && impl_->machine->maintenance();
}
bool Node::running() const {
  return impl_->machine && impl_->machine->running();
}

// --- operations ----------------------------------------------------------------------------

std::string Node::apply_config(const std::string& yaml, const std::string& mode, bool insecure) {
  controller::Machine& m = impl_->on();
  std::string applied;
  controller::Action action = controller::Action::kNone;
  impl_->guarded([&] { action = m.apply_config(yaml, mode, insecure, &applied); });
  impl_->perform(action);
  return applied;
}

std::string Node::patch_config(const std::string& patch, const std::string& mode) {
  const std::string active = impl_->on().active_config();
  if (active.empty())
    throw Error(Code::kFailedPrecondition,
                "the node has no active machine config to patch (maintenance mode: use "
                "apply_config with insecure=True)");
  return apply_config(config::strategic_merge(active, patch), mode, false);
}

void Node::reset(const std::vector<std::string>& labels, bool reboot, bool graceful) {
  controller::Machine& m = impl_->on();
  controller::Action action = controller::Action::kNone;
  impl_->guarded([&] { action = m.reset(labels, reboot, graceful); });
  impl_->perform(action);
}

void Node::advance(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0)
    throw Error(Code::kInvalidArgument,
                "advance: seconds must be a finite number of seconds, not negative");
  VirtualClock& clock = impl_->env.virtual_clock();
  const double ms = std::round(seconds * 1000);
  const int64_t now = clock.now_ms();
  if (ms > static_cast<double>(std::numeric_limits<int64_t>::max() - now))
    throw Error(Code::kInvalidArgument, "advance: " + std::to_string(seconds) +
                                            " seconds is beyond the end of the node's clock");
  const int64_t until = now + static_cast<int64_t>(ms);
  while (impl_->machine) {
    std::optional<int64_t> next = impl_->machine->next_deadline_ms();
    if (!next || *next > until) break;
    clock.set_ms(std::max(clock.now_ms(), *next));
    impl_->guarded([&] { impl_->machine->run_due_timers(); });
  }
  clock.set_ms(std::max(clock.now_ms(), until));
}

int64_t Node::clock_ms() const {
  return impl_->env.virtual_clock().now_ms();
}

void Node::crash_at(const std::string& point) {
  impl_->env.arm_crash(point);
}

std::string Node::last_crash() const {
  return impl_->last_crash;
}

// --- views ---------------------------------------------------------------------------------

const std::string& Node::path() const {
  return impl_->path;
}
const NodeSettings& Node::settings() const {
  return impl_->settings;
}

volume::VolumeStatus Node::volume_status(const std::string& id) const {
  if (impl_->machine) {
    const auto& all = impl_->machine->statuses();
    auto it = all.find(id);
    if (it != all.end()) return it->second;
  }
  throw Error(Code::kNotFound, "volume status \"" + id + "\" not found");
}

std::vector<volume::VolumeStatus> Node::volumes() const {
  std::vector<volume::VolumeStatus> out;
  if (impl_->machine)
    for (const auto& [id, st] : impl_->machine->statuses()) out.push_back(st);
  return out;
}

std::map<std::string, std::string> Node::devices() const {
  if (!impl_->hw) return {};
  return impl_->hw->partitions();
}

void Node::write_file(const std::string& volume, const std::string& path, const std::string& data) {
  const std::string root = impl_->on().mount_point(volume);
  try {
    impl_->env.write_file_beneath(root, path, data, 0644);
  } catch (const Error& e) {
    throw Error(e.code(), "cannot write " + path + " on " + volume + ": " + e.what());
  }
}

std::string Node::read_file(const std::string& volume, const std::string& path) const {
  const std::string root = impl_->on().mount_point(volume);
  std::optional<std::string> data;
  try {
    data = impl_->env.read_file_beneath(root, path);
  } catch (const Error& e) {
    throw Error(e.code(), "cannot read " + path + " on " + volume + ": " + e.what());
  }
  if (!data) throw Error(Code::kNotFound, volume + ": " + path + ": no such file");
  return *data;
}

std::string Node::active_config() const {
  return impl_->machine ? impl_->machine->active_config() : "";
}
std::vector<Event> Node::events() const {
  return impl_->log.events();
}

std::string Node::meta() const {
  return impl_->on().meta_json();
}
void Node::meta_write(int tag, const std::string& value) {
  impl_->on().meta_write(tag, value);
}
void Node::meta_delete(int tag) {
  impl_->on().meta_delete(tag);
}
std::string Node::luks_dump(const std::string& volume) const {
  return impl_->on().luks_dump(volume);
}

void Node::set_firmware(bool secure_boot, bool setup_mode) {
  impl_->settings.secure_boot = secure_boot;
  impl_->settings.setup_mode = setup_mode;
  impl_->save_settings();
}

void Node::set_tpm_latency(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0 || seconds > 3600)
    throw Error(Code::kInvalidArgument,
                "set_tpm_latency: seconds must be a finite number within 0..3600");
  impl_->settings.tpm_latency_ms = static_cast<int64_t>(std::round(seconds * 1000));
  impl_->save_settings();
}

void Node::clear_tpm() {
  // Running: TPM2_Clear now (PCRs kept); off: the TPM state goes, new seeds at the next start.
  if (impl_->hw)
    impl_->hw->clear_tpm();
  else
    remove_tree(impl_->env, impl_->path + "/tpm");
  impl_->log.add("tpm", "cleared: a new storage root key, every sealed key is lost");
}

}  // namespace cryptnode::sim
