// The userspace backend (DESIGN.md §2): one FUSE mount per node at <runtime_dir>/mapper serving
// one file per open volume, whose bytes are the decrypted LUKS2 data segment, and a loop device
// over each file (logical block size = the LUKS2 sector size) standing in for /dev/mapper/<name>.
// The FUSE server runs on its own threads and never calls into anything but this file.
#define FUSE_USE_VERSION 35
#include <dirent.h>
#include <fcntl.h>
#include <fuse3/fuse.h>
#include <libcryptsetup.h>
#include <linux/fs.h>
#include <linux/loop.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <thread>
#include <vector>

#include "activation_backends.h"
#include "cryptnode/engine/env.h"
#include "cryptnode/engine/activation/xts.h"
#include "cryptnode/engine/error.h"

namespace cryptnode::activation {
namespace {

struct Volume {
  std::string name;
  int fd = -1;          // the LUKS2 device
  uint64_t offset = 0;  // data segment offset in bytes
  uint64_t size = 0;    // data segment size in bytes
  uint32_t sector = 512;
  bool read_only = false;
  std::unique_ptr<Xts> xts;  // null: passthrough (benchmarks)
  std::unique_ptr<LoopDevice> loop;
  ~Volume() {
    if (fd >= 0) ::close(fd);
  }
};

class UserspaceBackend;
UserspaceBackend* self() {
  return static_cast<UserspaceBackend*>(fuse_get_context()->private_data);
}

class UserspaceBackend final : public ActivationBackend {
 public:
  UserspaceBackend(std::string runtime_dir, Env& env)
      : env_(env), mountpoint_(std::move(runtime_dir) + "/mapper") {}
  ~UserspaceBackend() override {
    for (const auto& n : open_names()) {
      try {
        close(n);
      } catch (...) {
      }
    }
    stop();
  }

  std::string kind() const override { return "userspace"; }

  std::string open(const std::string& device, int keyslot, const Secret& passphrase,
                   const std::string& name, const OpenOptions& o) override {
    if (name.empty() || name.find('/') != std::string::npos)
      throw Error(Code::kInvalidArgument, "invalid mapped device name \"" + name + "\"");
    {
      std::lock_guard<std::mutex> l(mu_);
      if (volumes_.count(name)) throw Error(Code::kDeviceBusy, "mapped device is still in use");
    }
    auto v = std::make_shared<Volume>();
    v->name = name;
    v->read_only = o.read_only;
    Secret key = volume_key(device, keyslot, passphrase, *v);
    if (!o.passthrough) v->xts = std::make_unique<Xts>(key, v->sector);
    v->fd = ::open(device.c_str(), (o.read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);
    if (v->fd < 0) throw_errno(device, errno);
    start();
    {
      std::lock_guard<std::mutex> l(mu_);
      volumes_[name] = v;
    }
    try {
      v->loop = env_.attach_loop(mountpoint_ + "/" + name, v->sector, o.read_only);
    } catch (...) {
      std::lock_guard<std::mutex> l(mu_);
      volumes_.erase(name);
      throw;
    }
    return v->loop->path();
  }

  void close(const std::string& name) override {
    std::shared_ptr<Volume> v;
    {
      std::lock_guard<std::mutex> l(mu_);
      auto it = volumes_.find(name);
      if (it == volumes_.end()) return;
      v = it->second;
    }
    if (v->loop) v->loop->detach();  // flushes through FUSE before the file goes away
    ::fdatasync(v->fd);
    bool last;
    {
      std::lock_guard<std::mutex> l(mu_);
      volumes_.erase(name);
      last = volumes_.empty();
    }
    v.reset();  // the XTS key is wiped with it
    if (last) stop();
  }

  bool is_open(const std::string& name) const override {
    std::lock_guard<std::mutex> l(mu_);
    return volumes_.count(name) > 0;
  }
  std::vector<std::string> open_names() const override {
    std::lock_guard<std::mutex> l(mu_);
    std::vector<std::string> out;
    for (const auto& [n, v] : volumes_) out.push_back(n);
    return out;
  }

  // --- FUSE operations ---------------------------------------------------------------------
  std::shared_ptr<Volume> find(const char* path) {
    if (!path || path[0] != '/') return nullptr;
    std::lock_guard<std::mutex> l(mu_);
    auto it = volumes_.find(path + 1);
    return it == volumes_.end() ? nullptr : it->second;
  }

  int getattr(const char* path, struct stat* st) {
    std::memset(st, 0, sizeof(*st));
    if (std::strcmp(path, "/") == 0) {
      st->st_mode = S_IFDIR | 0700;
      st->st_nlink = 2;
      return 0;
    }
    auto v = find(path);
    if (!v) return -ENOENT;
    st->st_mode = S_IFREG | (v->read_only ? 0400 : 0600);
    st->st_nlink = 1;
    st->st_size = static_cast<off_t>(v->size);
    st->st_blksize = v->sector;
    st->st_blocks = static_cast<blkcnt_t>(v->size / 512);
    return 0;
  }

  int readdir(void* buf, fuse_fill_dir_t filler) {
    filler(buf, ".", nullptr, 0, static_cast<fuse_fill_dir_flags>(0));
    filler(buf, "..", nullptr, 0, static_cast<fuse_fill_dir_flags>(0));
    for (const auto& n : open_names())
      filler(buf, n.c_str(), nullptr, 0, static_cast<fuse_fill_dir_flags>(0));
    return 0;
  }

  // Reads [a, b) of the segment (sector-aligned) and decrypts it into out.
  static int read_sectors(Volume& v, uint64_t a, uint64_t b, uint8_t* out) {
    size_t len = b - a;
    size_t done = 0;
    while (done < len) {
      ssize_t n = ::pread(v.fd, out + done, len - done, static_cast<off_t>(v.offset + a + done));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return n < 0 ? -errno : -EIO;
      done += static_cast<size_t>(n);
    }
    if (v.xts) v.xts->decrypt(a, out, len);
    return 0;
  }

  int read(const char* path, char* buf, size_t size, off_t off) {
    auto v = find(path);
    if (!v) return -ENOENT;
    uint64_t start = static_cast<uint64_t>(off);
    if (start >= v->size) return 0;
    size = static_cast<size_t>(std::min<uint64_t>(size, v->size - start));
    const uint64_t ss = v->sector;
    uint64_t a = start / ss * ss, b = (start + size + ss - 1) / ss * ss;
    if (a == start && b == start + size) {  // aligned: decrypt in place
      int r = read_sectors(*v, a, b, reinterpret_cast<uint8_t*>(buf));
      return r < 0 ? r : static_cast<int>(size);
    }
    std::vector<uint8_t> tmp(b - a);
    int r = read_sectors(*v, a, b, tmp.data());
    if (r < 0) return r;
    std::memcpy(buf, tmp.data() + (start - a), size);
    wipe(tmp.data(), tmp.size());
    return static_cast<int>(size);
  }

  int write(const char* path, const char* buf, size_t size, off_t off) {
    auto v = find(path);
    if (!v) return -ENOENT;
    if (v->read_only) return -EROFS;
    uint64_t start = static_cast<uint64_t>(off);
    if (start >= v->size) return -ENOSPC;
    size = static_cast<size_t>(std::min<uint64_t>(size, v->size - start));
    const uint64_t ss = v->sector;
    uint64_t a = start / ss * ss, b = (start + size + ss - 1) / ss * ss;
    std::vector<uint8_t> tmp(b - a);
    // Read-modify-write of partial first/last sectors.
    if (start != a) {
      int r = read_sectors(*v, a, a + ss, tmp.data());
      if (r < 0) return r;
    }
    if (start + size != b && (b - ss != a || start == a)) {
      int r = read_sectors(*v, b - ss, b, tmp.data() + (b - ss - a));
      if (r < 0) return r;
    }
    std::memcpy(tmp.data() + (start - a), buf, size);
    if (v->xts) v->xts->encrypt(a, tmp.data(), tmp.size());
    size_t done = 0;
    while (done < tmp.size()) {
      ssize_t n = ::pwrite(v->fd, tmp.data() + done, tmp.size() - done,
                           static_cast<off_t>(v->offset + a + done));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return n < 0 ? -errno : -EIO;
      done += static_cast<size_t>(n);
    }
    return static_cast<int>(size);
  }

  int fsync(const char* path) {
    auto v = find(path);
    if (!v) return -ENOENT;
    return ::fdatasync(v->fd) == 0 ? 0 : -errno;
  }

 private:
  static Secret volume_key(const std::string& device, int keyslot, const Secret& passphrase,
                           Volume& v) {
    crypt_device* cd = nullptr;
    if (int r = crypt_init(&cd, device.c_str()); r < 0) throw_errno(device, -r);
    struct Free {
      crypt_device* cd;
      ~Free() { crypt_free(cd); }
    } guard{cd};
    if (crypt_load(cd, CRYPT_LUKS2, nullptr) < 0)
      throw Error(Code::kInvalidArgument, device + " is not a LUKS2 device");
    const std::string cipher = std::string(crypt_get_cipher(cd)) + "-" + crypt_get_cipher_mode(cd);
    if (cipher != "aes-xts-plain64")
      throw Error(Code::kUnsupported, "the userspace backend cannot serve cipher " + cipher +
                                          " (only aes-xts-plain64)");
    size_t size = static_cast<size_t>(crypt_get_volume_key_size(cd));
    Secret key(size);
    int r = crypt_volume_key_get(cd, keyslot, reinterpret_cast<char*>(key.data()), &size,
                                 passphrase.view().data(), passphrase.size());
    if (r == -EPERM || r == -ENOENT) throw Error(Code::kKeyRejected, "encryption key rejected");
    if (r < 0) throw_errno("volume key of " + device, -r);
    v.offset = crypt_get_data_offset(cd) * 512;
    v.sector = static_cast<uint32_t>(crypt_get_sector_size(cd));
    int fd = ::open(device.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw_errno(device, errno);
    struct stat st {};
    uint64_t dev_size = 0;
    if (::fstat(fd, &st) == 0) dev_size = static_cast<uint64_t>(st.st_size);
    if (S_ISBLK(st.st_mode)) ::ioctl(fd, BLKGETSIZE64, &dev_size);
    ::close(fd);
    if (dev_size <= v.offset)
      throw Error(Code::kCorrupt, device + ": no room for the data segment");
    v.size = (dev_size - v.offset) / v.sector * v.sector;  // a dynamic segment: to the end
    return key;
  }

  void start();
  void stop();
  void abort_connection();

  Env& env_;
  std::string mountpoint_;
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<Volume>> volumes_;
  fuse* fuse_ = nullptr;
  std::thread thread_;
};

int op_getattr(const char* path, struct stat* st, fuse_file_info*) {
  return self()->getattr(path, st);
}
int op_readdir(const char*, void* buf, fuse_fill_dir_t filler, off_t, fuse_file_info*,
               fuse_readdir_flags) {
  return self()->readdir(buf, filler);
}
int op_open(const char* path, fuse_file_info* fi) {
  if (!self()->find(path)) return -ENOENT;
  fi->direct_io = 1;  // no second page cache under the loop device's own
  return 0;
}
int op_read(const char* path, char* buf, size_t size, off_t off, fuse_file_info*) {
  try {
    return self()->read(path, buf, size, off);
  } catch (...) {
    return -EIO;
  }
}
int op_write(const char* path, const char* buf, size_t size, off_t off, fuse_file_info*) {
  try {
    return self()->write(path, buf, size, off);
  } catch (...) {
    return -EIO;
  }
}
int op_fsync(const char* path, int, fuse_file_info*) {
  return self()->fsync(path);
}
int op_flush(const char* path, fuse_file_info*) {
  return self()->fsync(path);
}
int op_truncate(const char*, off_t, fuse_file_info*) {
  return -EPERM;
}

void UserspaceBackend::start() {
  std::lock_guard<std::mutex> l(mu_);
  if (fuse_) return;
  std::error_code ec;
  std::filesystem::create_directories(mountpoint_, ec);
  static const fuse_operations ops = [] {
    fuse_operations o{};
    o.getattr = op_getattr;
    o.readdir = op_readdir;
    o.open = op_open;
    o.read = op_read;
    o.write = op_write;
    o.fsync = op_fsync;
    o.flush = op_flush;
    o.truncate = op_truncate;
    return o;
  }();
  char arg0[] = "cryptnode-mapper";
  char* argv[] = {arg0, nullptr};
  fuse_args args = FUSE_ARGS_INIT(1, argv);
  fuse* f = fuse_new(&args, &ops, sizeof(ops), this);
  fuse_opt_free_args(&args);
  if (!f) throw Error(Code::kIO, "cannot start the FUSE server for " + mountpoint_);
  if (fuse_mount(f, mountpoint_.c_str()) != 0) {
    fuse_destroy(f);
    throw Error(Code::kIO, "cannot mount the FUSE server at " + mountpoint_);
  }
  fuse_ = f;
  thread_ = std::thread([f] {
    fuse_loop_config cfg{};
    cfg.clone_fd = 0;
    cfg.max_idle_threads = 8;
    fuse_loop_mt(f, &cfg);
  });
}

void UserspaceBackend::stop() {
  fuse* f;
  {
    std::lock_guard<std::mutex> l(mu_);
    f = fuse_;
    fuse_ = nullptr;
  }
  if (!f) return;
  // Ask the loop to end, then abort the connection through fusectl so that workers blocked reading
  // /dev/fuse return (ENODEV); without fusectl, wake one with an uncached request (opendir).
  // Unmount only afterwards: an unmount refused while a file is still referenced would leave the
  // workers blocked forever.
  fuse_exit(f);
  abort_connection();
  if (thread_.joinable()) thread_.join();
  fuse_unmount(f);
  fuse_destroy(f);
  env_.unmount(mountpoint_, true);  // no-op when the unmount above succeeded
  std::error_code ec;
  std::filesystem::remove(mountpoint_, ec);
}

// "major:minor" of the filesystem mounted at `dir` (from mountinfo: a stat() of a FUSE mount point
// would itself be a request that nobody may answer any more); "" when nothing is mounted there.
std::string mount_devno(Env& env, const std::string& dir) {
  std::string found;
  for (const auto& m : env.mounts())
    if (m.target == dir) found = m.devno;
  return found;
}

void abort_fuse_connection(Env& env, const std::string& devno) {
  if (devno.empty()) return;
  const std::string conn = devno.substr(devno.find(':') + 1);
  const std::string ctl = "/sys/fs/fuse/connections";
  // fusectl (the FUSE control filesystem, mounted by systemd on most hosts) is mounted when it is
  // not, and left mounted: unmounting it could race another node's abort (decision).
  if (!env.exists(ctl + "/" + conn)) {
    try {
      env.mount("fusectl", ctl, "fusectl", 0, "");
    } catch (const Error&) {
      // Without fusectl the abort below fails and stop() falls back to waking the workers.
    }
  }
  int fd = ::open((ctl + "/" + conn + "/abort").c_str(), O_WRONLY | O_CLOEXEC);
  if (fd >= 0) {
    (void)!::write(fd, "1", 1);
    ::close(fd);
  }
}

void UserspaceBackend::abort_connection() {
  abort_fuse_connection(env_, mount_devno(env_, mountpoint_));
}

}  // namespace

void recover_userspace_backend(const std::string& runtime_dir, Env& env) {
  const std::string mapper = runtime_dir + "/mapper";
  // Loop devices standing on the mapper files, found by their backing path while it is still
  // mounted (asking the loop device itself would stat the file through the dead connection).
  const std::vector<std::string> loops = env.loops_backed_under(mapper + "/");
  std::vector<std::string> stale;
  for (const auto& m : env.mounts())
    if (m.target.rfind(runtime_dir + "/", 0) == 0 && m.target != mapper)
      stale.push_back(m.target);
  std::sort(stale.rbegin(), stale.rend());  // deeper paths first
  for (const auto& m : stale) env.unmount(m, true);
  abort_fuse_connection(env, mount_devno(env, mapper));
  for (const auto& l : loops) env.detach_loop(l);
  env.unmount(mapper, true);
}

std::unique_ptr<ActivationBackend> make_userspace_backend(const std::string& runtime_dir,
                                                          Env& env) {
  if (::access("/dev/fuse", R_OK | W_OK) != 0)
    throw Error(Code::kUnsupported, "the userspace activation backend needs /dev/fuse");
  return std::make_unique<UserspaceBackend>(runtime_dir, env);
}

}  // namespace cryptnode::activation
