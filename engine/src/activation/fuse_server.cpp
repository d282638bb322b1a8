#define FUSE_USE_VERSION 312
#include "fuse_server.h"

#include <fuse3/fuse_lowlevel.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "cryptnode/engine/error.h"
#include "fuse_control.h"

namespace cryptnode::activation {
namespace {

// FUSE 3's largest request (the kernel's max_pages 256 of 4 KiB): a loop device's 1 MiB request
// arrives whole.
constexpr unsigned kMaxRequest = 1u << 20;
// Threads libfuse may run at once. The loop devices keep several requests in flight (direct I/O,
// 4 MiB readahead = four 1 MiB requests); each thread keeps a reply buffer of kMaxRequest and
// libfuse a receive buffer of the same size. Measured with `make bench` on 2 cores: 4 threads
// gave encrypted/passthrough 1.02 write / 1.10 read and 47.6 MiB RSS per node (8 nodes), 16
// threads 0.93 / 0.78 and 51.7 MiB: more threads only contend for the cores and hold buffers.
// Requests beyond four wait in the kernel's queue; nothing blocks on another request.
constexpr unsigned kMaxThreads = 4;

using FileRef = std::shared_ptr<SectorFile>;

FileRef& handle(fuse_file_info* fi) {
  return *reinterpret_cast<FileRef*>(static_cast<uintptr_t>(fi->fh));
}

// The reply of a read: one buffer per FUSE thread, grown to the largest request once.
uint8_t* reply_buffer(size_t n) {
  thread_local std::vector<uint8_t> buf;
  if (buf.size() < n) buf.resize(std::max<size_t>(n, 128u << 10));
  return buf.data();
}

void fill_root(struct stat* st) {
  std::memset(st, 0, sizeof(*st));
  st->st_ino = FUSE_ROOT_ID;
  st->st_mode = S_IFDIR | 0700;
  st->st_nlink = 2;
}

void fill_file(uint64_t ino, const SectorFile& f, struct stat* st) {
  std::memset(st, 0, sizeof(*st));
  st->st_ino = ino;
  st->st_mode = S_IFREG | (f.read_only() ? 0400 : 0600);
  st->st_nlink = 1;
  st->st_size = static_cast<off_t>(f.size());
  st->st_blksize = static_cast<blksize_t>(f.sector_size());
  st->st_blocks = static_cast<blkcnt_t>(f.size() / 512);
}

}  // namespace

struct FuseServer::Ops {
  static FuseServer& self(fuse_req_t req) {
    return *static_cast<FuseServer*>(fuse_req_userdata(req));
  }
  // The file behind an inode number (nullptr: none, or the root).
  static FileRef find(FuseServer& s, fuse_ino_t ino) {
    std::lock_guard<std::mutex> l(s.mu_);
    auto it = s.nodes_.find(ino);
    return it == s.nodes_.end() ? nullptr : it->second.file;
  }

  static void init(void*, fuse_conn_info* conn) {
    conn->max_write = kMaxRequest;
    conn->max_read = kMaxRequest;  // as the max_read mount option says (libfuse checks)
    if (conn->capable & FUSE_CAP_ASYNC_DIO) conn->want |= FUSE_CAP_ASYNC_DIO;
    conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
  }

  static void lookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
    FuseServer& s = self(req);
    fuse_entry_param e{};
    {
      std::lock_guard<std::mutex> l(s.mu_);
      if (parent == FUSE_ROOT_ID)
        for (const auto& [ino, n] : s.nodes_)
          if (n.name == name) {
            e.ino = ino;
            fill_file(ino, *n.file, &e.attr);
          }
    }
    if (!e.ino) {
      fuse_reply_err(req, ENOENT);
      return;
    }
    fuse_reply_entry(req, &e);  // timeouts 0: files come and go with volumes
  }

  static void getattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info*) {
    struct stat st;
    if (ino == FUSE_ROOT_ID) {
      fill_root(&st);
    } else if (FileRef f = find(self(req), ino)) {
      fill_file(ino, *f, &st);
    } else {
      fuse_reply_err(req, ENOENT);
      return;
    }
    fuse_reply_attr(req, &st, 0);
  }

  static void setattr(fuse_req_t req, fuse_ino_t ino, struct stat*, int to_set,
                      fuse_file_info* fi) {
    if (to_set & FUSE_SET_ATTR_SIZE) {
      fuse_reply_err(req, EPERM);  // a volume's size is its data segment's
      return;
    }
    getattr(req, ino, fi);
  }

  static void open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
    FileRef f = find(self(req), ino);
    if (!f) {
      fuse_reply_err(req, ino == FUSE_ROOT_ID ? EISDIR : ENOENT);
      return;
    }
    if (f->read_only() && (fi->flags & O_ACCMODE) != O_RDONLY) {
      fuse_reply_err(req, EROFS);
      return;
    }
    FuseServer& s = self(req);
    auto* h = new FileRef(std::move(f));
    {
      std::lock_guard<std::mutex> l(s.mu_);
      s.handles_.insert(h);
    }
    fi->fh = reinterpret_cast<uintptr_t>(h);
    fi->direct_io = 1;
    fi->keep_cache = 0;
    if (fuse_reply_open(req, fi) != 0) forget(s, h);  // the opener is gone
  }

  static void forget(FuseServer& s, FileRef* h) {
    {
      std::lock_guard<std::mutex> l(s.mu_);
      s.handles_.erase(h);
    }
    delete h;
  }

  static void release(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
    forget(self(req), &handle(fi));
    fuse_reply_err(req, 0);
  }

  static void read(fuse_req_t req, fuse_ino_t, size_t size, off_t off, fuse_file_info* fi) {
    uint8_t* buf = reply_buffer(size);
    ssize_t n = handle(fi)->read(static_cast<uint64_t>(off), buf, size);
    if (n < 0)
      fuse_reply_err(req, static_cast<int>(-n));
    else
      fuse_reply_buf(req, reinterpret_cast<const char*>(buf), static_cast<size_t>(n));
  }

  static void write(fuse_req_t req, fuse_ino_t, const char* buf, size_t size, off_t off,
                    fuse_file_info* fi) {
    ssize_t n =
        handle(fi)->write(static_cast<uint64_t>(off), reinterpret_cast<const uint8_t*>(buf), size);
    if (n < 0)
      fuse_reply_err(req, static_cast<int>(-n));
    else
      fuse_reply_write(req, static_cast<size_t>(n));
  }

  static void flush(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
    fuse_reply_err(req, -handle(fi)->sync());
  }
  static void fsync(fuse_req_t req, fuse_ino_t, int, fuse_file_info* fi) {
    fuse_reply_err(req, -handle(fi)->sync());
  }

  static void readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info*) {
    if (ino != FUSE_ROOT_ID) {
      fuse_reply_err(req, ENOTDIR);
      return;
    }
    FuseServer& s = self(req);
    std::vector<std::pair<std::string, fuse_ino_t>> entries{{".", FUSE_ROOT_ID},
                                                            {"..", FUSE_ROOT_ID}};
    {
      std::lock_guard<std::mutex> l(s.mu_);
      for (const auto& [i, n] : s.nodes_) entries.emplace_back(n.name, i);
    }
    std::vector<char> buf(size);
    size_t used = 0;
    for (size_t i = static_cast<size_t>(off); i < entries.size(); ++i) {
      struct stat st {};
      st.st_ino = entries[i].second;
      st.st_mode = entries[i].second == FUSE_ROOT_ID ? S_IFDIR : S_IFREG;
      size_t need = fuse_add_direntry(req, buf.data() + used, size - used, entries[i].first.c_str(),
                                      &st, static_cast<off_t>(i + 1));
      if (need > size - used) break;
      used += need;
    }
    fuse_reply_buf(req, buf.data(), used);
  }

  static const fuse_lowlevel_ops& table() {
    static const fuse_lowlevel_ops ops = [] {
      fuse_lowlevel_ops o{};
      o.init = init;
      o.lookup = lookup;
      o.getattr = getattr;
      o.setattr = setattr;
      o.open = open;
      o.release = release;
      o.read = read;
      o.write = write;
      o.flush = flush;
      o.fsync = fsync;
      o.readdir = readdir;
      return o;
    }();
    return ops;
  }
};

FuseServer::FuseServer(std::string mountpoint, Env& env)
    : env_(env), mountpoint_(std::move(mountpoint)) {}

FuseServer::~FuseServer() {
  stop();
}

std::string FuseServer::add(const std::string& name, std::shared_ptr<SectorFile> file) {
  std::lock_guard<std::mutex> l(mu_);
  if (!se_) start();
  nodes_[next_ino_++] = Node{name, std::move(file)};
  return mountpoint_ + "/" + name;
}

void FuseServer::remove(const std::string& name) {
  bool last;
  {
    std::lock_guard<std::mutex> l(mu_);
    for (auto it = nodes_.begin(); it != nodes_.end();)
      it = it->second.name == name ? nodes_.erase(it) : std::next(it);
    last = nodes_.empty();
  }
  if (last) stop();
}

void FuseServer::start() {
  env_.make_dirs(mountpoint_, 0700);
  const std::string opts = "fsname=cryptnode-mapper,max_read=" + std::to_string(kMaxRequest);
  std::vector<std::string> argv = {"cryptnode-mapper", "-o", opts};
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(a.data());
  fuse_args fa = FUSE_ARGS_INIT(static_cast<int>(args.size()), args.data());
  fuse_session* se = fuse_session_new(&fa, &Ops::table(), sizeof(fuse_lowlevel_ops), this);
  fuse_opt_free_args(&fa);
  if (!se) throw Error(Code::kIO, "cannot start the FUSE server for " + mountpoint_);
  if (fuse_session_mount(se, mountpoint_.c_str()) != 0) {
    fuse_session_destroy(se);
    throw Error(Code::kIO, "cannot mount the FUSE server at " + mountpoint_);
  }
  se_ = se;
  loop_ = std::thread([se] {
    fuse_loop_config* cfg = fuse_loop_cfg_create();
    fuse_loop_cfg_set_clone_fd(cfg, 0);
    fuse_loop_cfg_set_max_threads(cfg, kMaxThreads);
    fuse_loop_cfg_set_idle_threads(cfg, kMaxThreads);  // no thread churn under load
    fuse_session_loop_mt(se, cfg);
    fuse_loop_cfg_destroy(cfg);
  });
}

void FuseServer::stop() {
  fuse_session* se;
  {
    std::lock_guard<std::mutex> l(mu_);
    se = se_;
    se_ = nullptr;
  }
  if (!se) return;
  // Ask the loop to end, then abort the connection through fusectl so that the threads blocked
  // reading /dev/fuse return (ENODEV); without fusectl, wake one with an uncached request (a
  // directory listing): it answers, sees the exit and the loop cancels the others. Unmount only
  // afterwards: an unmount refused while a file is still referenced would leave the threads
  // blocked forever.
  fuse_session_exit(se);
  if (!abort_fuse_connection(env_, mount_devno(env_, mountpoint_))) {
    try {
      env_.list_dir(mountpoint_);
    } catch (const std::exception&) {
    }
  }
  if (loop_.joinable()) loop_.join();
  {
    std::lock_guard<std::mutex> l(mu_);
    for (FileRef* h : handles_) delete h;  // no thread is left to use them
    handles_.clear();
  }
  fuse_session_unmount(se);
  fuse_session_destroy(se);
  env_.unmount(mountpoint_, true);  // a no-op when the unmount above succeeded
  try {
    env_.remove(mountpoint_);
  } catch (const std::exception&) {
  }
}

}  // namespace cryptnode::activation
