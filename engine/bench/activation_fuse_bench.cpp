// Sequential write and read of a 1 GiB file on XFS through the userspace backend, encrypted vs the
// same FUSE + loop path with the cipher switched off (OpenOptions::passthrough). Both volumes stay
// open for the whole run and the two sides alternate round by round (which one goes first
// alternates too), so that warm-up and background load hit both alike.
// Each round, per side: a write through the page cache (dd bs=1M conv=fsync), then from a fresh
// mount a read through the page cache (dd bs=1M, XFS readahead) and a read with O_DIRECT
// (dd iflag=direct, 4 MiB blocks into one buffer dd reuses), then a write of a new file with
// O_DIRECT (dd oflag=direct conv=fsync, 4 MiB blocks).
// The O_DIRECT write and read are the data path's figures: every page they touch is reused round
// after round. The page-cache write and read fill pages the kernel has just allocated; on a VM
// whose kernel hands freed memory back to the hypervisor (free page reporting, virtio-balloon), the
// first touch of such a page faults in the host, and that cost lands at random on whichever side
// the round reads or writes (it shows as memcpy time in the FUSE server's reply, fuse_dev_do_write,
// 4-6x slower rounds on both sides; for the write, in dd's own copy into the page cache). That
// noise only ever slows a round. For the page-cache read the bench can tell a slowed round (the
// server spends far more CPU per GiB than on the O_DIRECT read of the same bytes) and compares the
// medians of the rounds that were not; for the page-cache write (the cost lands in dd) it compares
// each side's fastest round, as timeit does. Prints min/median/max per side, the rounds, and
//   ratio fuse_xfs_write encrypted/passthrough = X            (O_DIRECT writes, medians)
//   ratio fuse_xfs_read encrypted/passthrough = X             (O_DIRECT reads, medians)
//   ratio fuse_xfs_write_pagecache encrypted/passthrough = X  (fastest rounds)
//   ratio fuse_xfs_read_pagecache encrypted/passthrough = X   (rounds not slowed; n/a if none)
// It runs at least --rounds rounds and then more, up to --max-rounds, until the last three O_DIRECT
// write and read ratios of medians agree within --tolerance.
// The LUKS2 images live in --dir (default /dev/shm, a tmpfs: the shared disk's own speed and noise
// stay out of what is compared, and the passthrough side is as fast as the FUSE + loop path
// allows).
//   activation_fuse_bench [--rounds 5] [--max-rounds 15] [--tolerance 0.05] [--mib 1024]
//                         [--xts auto|openssl|aesni|vaes] [--dir /dev/shm]
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "../tests/support/scratch.h"
#include "cryptnode/engine/activation/backend.h"
#include "cryptnode/engine/luks2.h"

using namespace cryptnode;
using cryptnode::testing::run;

namespace {

// A sparse image in a fresh directory under `parent`, removed with it.
class Image {
 public:
  Image(const std::string& parent, uint64_t size) {
    std::string tmpl = parent + "/cryptnode-bench-XXXXXX";
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp in " + parent + " failed");
    dir_ = tmpl;
    path_ = dir_ + "/disk.img";
    int fd = ::open(path_.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 || ::ftruncate(fd, static_cast<off_t>(size)) != 0)
      throw std::runtime_error("cannot create " + path_);
    ::close(fd);
  }
  ~Image() {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  const std::string& path() const { return path_; }
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_, path_;
};

struct Side {
  std::string label;
  std::unique_ptr<Image> img;
  std::unique_ptr<activation::ActivationBackend> backend;
  std::string dev, mnt;
  std::vector<double> write_mbs, read_mbs, pagecache_write_mbs, pagecache_mbs;
  // The FUSE server's CPU seconds per GiB.
  std::vector<double> write_cpu, read_cpu, pagecache_write_cpu, pagecache_cpu;
};

// Free memory the guest kernel has handed back to the hypervisor so far, in KiB: the counter of the
// page_reporting module where the kernel exports one; -1 where it does not.
double reported_kib() {
  FILE* f = std::fopen("/sys/module/page_reporting/parameters/reported_kib", "r");
  double v = -1;
  if (f) {
    if (std::fscanf(f, "%lf", &v) != 1) v = -1;
    std::fclose(f);
  }
  return v;
}

// CPU seconds (user + system) this process used so far: its FUSE server threads (dd and the
// kernel's loop and writeback workers are not in it).
double server_cpu() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  auto sec = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec * 1e-6; };
  return sec(u.ru_utime) + sec(u.ru_stime);
}

double seconds_of(const std::vector<std::string>& argv) {
  auto t0 = std::chrono::steady_clock::now();
  auto r = run(argv);
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (r.status != 0) {
    std::fprintf(stderr, "%s failed: %s\n", argv[0].c_str(), r.output.c_str());
    std::exit(1);
  }
  return s;
}

void must(bool ok, const std::string& what) {
  if (!ok) {
    std::fprintf(stderr, "%s: %s\n", what.c_str(), std::strerror(errno));
    std::exit(1);
  }
}

void open_side(Side& s, const std::string& dir, bool passthrough, activation::XtsImpl xts,
               uint64_t mib) {
  s.img = std::make_unique<Image>(dir, (mib + 256) << 20);
  luks2::FormatOptions o;
  o.sector_size = 4096;
  luks2::Device::format(s.img->path(), 0, Secret(std::string_view("pw")), o, Env::posix());
  s.backend = activation::make_activation_backend("userspace", s.img->dir() + "/run", Env::posix());
  activation::OpenOptions opts;
  opts.passthrough = passthrough;
  opts.xts = xts;
  s.dev = s.backend->open(s.img->path(), 0, Secret(std::string_view("pw")), "luks2-bench", opts);
  seconds_of({"mkfs.xfs", "-q", "-f", s.dev});
  s.mnt = s.img->dir() + "/mnt";
  std::filesystem::create_directories(s.mnt);
  must(::mount(s.dev.c_str(), s.mnt.c_str(), "xfs", 0, nullptr) == 0, "mount " + s.dev);
}

void close_side(Side& s) {
  ::umount(s.mnt.c_str());
  s.backend->close("luks2-bench");
  s.backend.reset();
  std::filesystem::remove_all(s.img->dir() + "/run");
  std::filesystem::remove_all(s.mnt);
}

// POSIX_FADV_DONTNEED: the file's clean pages leave the page cache.
void drop_cached_pages(const std::string& file) {
  int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  must(fd >= 0, "open " + file);
  ::fdatasync(fd);
  must(::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED) == 0, "posix_fadvise " + file);
  ::close(fd);
}

// Runs argv and records its throughput over `mib` MiB and the server's CPU per GiB meanwhile.
void measure(const std::vector<std::string>& argv, uint64_t mib, std::vector<double>& mbs,
             std::vector<double>& cpu) {
  const double c0 = server_cpu();
  mbs.push_back(static_cast<double>(mib) * 1.048576 / seconds_of(argv));
  cpu.push_back((server_cpu() - c0) / (static_cast<double>(mib) / 1024));
}

void round_of(Side& s, uint64_t mib, int n) {
  const std::string file = s.mnt + "/f";
  measure({"dd", "if=/dev/zero", "of=" + file, "bs=1M", "count=" + std::to_string(mib),
           "conv=fsync", "status=none"},
          mib, s.pagecache_write_mbs, s.pagecache_write_cpu);
  // A fresh mount, and the file's pages dropped: the reads come through the device, not from
  // XFS' page cache. The umount alone is not enough: a process that copied the mount table into a
  // namespace of its own meanwhile (virtiofsd does) keeps the filesystem, and its cache, alive.
  // The page-cache read comes first: the pages the umount just freed are still backed by the host
  // (see the top of this file), and the read's new pages are mostly those.
  must(::umount(s.mnt.c_str()) == 0, "umount " + s.mnt);
  must(::mount(s.dev.c_str(), s.mnt.c_str(), "xfs", 0, nullptr) == 0, "mount " + s.dev);
  drop_cached_pages(file);
  measure({"dd", "if=" + file, "of=/dev/null", "bs=1M", "status=none"}, mib, s.pagecache_mbs,
          s.pagecache_cpu);
  drop_cached_pages(file);
  measure({"dd", "if=" + file, "of=/dev/null", "bs=4M", "iflag=direct", "status=none"}, mib,
          s.read_mbs, s.read_cpu);
  std::filesystem::remove(file);
  ::sync();
  measure({"dd", "if=/dev/zero", "of=" + file, "bs=4M", "count=" + std::to_string(mib / 4),
           "oflag=direct", "conv=fsync", "status=none"},
          mib, s.write_mbs, s.write_cpu);
  std::printf(
      "  round %2d %-22s write %5.0f  read %5.0f  page-cache write %5.0f  page-cache read %5.0f "
      "MB/s\n",
      n, s.label.c_str(), s.write_mbs.back(), s.read_mbs.back(), s.pagecache_write_mbs.back(),
      s.pagecache_mbs.back());
  std::fflush(stdout);
  std::filesystem::remove(file);
  ::sync();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

double fastest(const std::vector<double>& v) {
  return *std::max_element(v.begin(), v.end());
}

void report(const char* what, const Side& s, const std::vector<double>& v) {
  std::printf("fuse_xfs %-15s %-22s min %6.0f  median %6.0f  max %6.0f MB/s\n", what,
              s.label.c_str(), *std::min_element(v.begin(), v.end()), median(v),
              *std::max_element(v.begin(), v.end()));
}

}  // namespace

int main(int argc, char** argv) {
  int rounds = 5, max_rounds = 15;
  double tolerance = 0.05;
  uint64_t mib = 1024;
  activation::XtsImpl xts = activation::XtsImpl::kAuto;
  std::string dir = std::filesystem::exists("/dev/shm") ? "/dev/shm" : "/tmp";
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i], v = argv[i + 1];
    if (a == "--rounds") rounds = std::max(1, std::atoi(v.c_str()));
    if (a == "--max-rounds") max_rounds = std::max(1, std::atoi(v.c_str()));
    if (a == "--tolerance") tolerance = std::atof(v.c_str());
    if (a == "--mib") mib = std::max(16, std::atoi(v.c_str())) / 4 * 4;  // whole 4 MiB blocks
    if (a == "--dir") dir = v;
    if (a == "--xts") {
      xts = v == "openssl" ? activation::XtsImpl::kOpenssl
            : v == "aesni" ? activation::XtsImpl::kAesni
            : v == "vaes"  ? activation::XtsImpl::kVaes
                           : activation::XtsImpl::kAuto;
    }
  }
  Side plain, enc;
  plain.label = "passthrough";
  open_side(plain, dir, true, xts, mib);
  open_side(enc, dir, false, xts, mib);
  enc.label = "AES-XTS (" +
              std::string(activation::xts_impl_name(
                  xts == activation::XtsImpl::kAuto ? activation::xts_auto_impl() : xts)) +
              ")";
  const double reported0 = reported_kib();
  round_of(plain, mib, 0);  // round 0: the warm-up of both paths, not counted
  round_of(enc, mib, 0);
  for (Side* s : {&plain, &enc})
    for (auto* v : {&s->write_mbs, &s->read_mbs, &s->pagecache_write_mbs, &s->pagecache_mbs,
                    &s->write_cpu, &s->read_cpu, &s->pagecache_write_cpu, &s->pagecache_cpu})
      v->clear();
  // At least --rounds rounds, then more (up to --max-rounds) until both ratios of medians stopped
  // moving: the last three agree within --tolerance.
  std::vector<double> wr, rr;  // the ratios of medians after each round
  auto settled = [&] {
    if (wr.size() < 3) return false;
    auto spread = [](const std::vector<double>& v) {
      auto [lo, hi] = std::minmax_element(v.end() - 3, v.end());
      return *hi - *lo;
    };
    return spread(wr) <= tolerance && spread(rr) <= tolerance;
  };
  int r = 0;
  for (; r < max_rounds && (r < rounds || !settled()); ++r) {
    Side& first = r % 2 ? enc : plain;
    Side& second = r % 2 ? plain : enc;
    round_of(first, mib, r + 1);
    round_of(second, mib, r + 1);
    wr.push_back(median(enc.write_mbs) / median(plain.write_mbs));
    rr.push_back(median(enc.read_mbs) / median(plain.read_mbs));
  }
  close_side(plain);
  close_side(enc);
  std::printf("%d alternating rounds of %llu MiB (%s), 4 KiB sectors, images in %s:\n", r,
              static_cast<unsigned long long>(mib),
              settled() ? "ratios settled" : "ratios still moving at --max-rounds", dir.c_str());
  report("write", plain, plain.write_mbs);
  report("write", enc, enc.write_mbs);
  report("read", plain, plain.read_mbs);
  report("read", enc, enc.read_mbs);
  report("pagecache-write", plain, plain.pagecache_write_mbs);
  report("pagecache-write", enc, enc.pagecache_write_mbs);
  report("pagecache-read", plain, plain.pagecache_mbs);
  report("pagecache-read", enc, enc.pagecache_mbs);
  // The same rounds paired (each pair ran back to back): less exposed to slow drifts of the load.
  std::vector<double> pw, pr, pcw, pc;
  for (size_t i = 0; i < enc.write_mbs.size(); ++i) {
    pw.push_back(enc.write_mbs[i] / plain.write_mbs[i]);
    pr.push_back(enc.read_mbs[i] / plain.read_mbs[i]);
    pcw.push_back(enc.pagecache_write_mbs[i] / plain.pagecache_write_mbs[i]);
    pc.push_back(enc.pagecache_mbs[i] / plain.pagecache_mbs[i]);
  }
  std::printf(
      "per-round encrypted/passthrough (medians): write %.2f, read %.2f, page-cache write %.2f, "
      "page-cache read %.2f\n",
      median(pw), median(pr), median(pcw), median(pc));
  // What the cipher costs the server, whatever else the machine runs meanwhile.
  std::printf(
      "FUSE server CPU per GiB (median, passthrough / encrypted): write %.0f / %.0f ms; "
      "read %.0f / %.0f; page-cache write %.0f / %.0f; page-cache read %.0f / %.0f\n",
      1000 * median(plain.write_cpu), 1000 * median(enc.write_cpu), 1000 * median(plain.read_cpu),
      1000 * median(enc.read_cpu), 1000 * median(plain.pagecache_write_cpu),
      1000 * median(enc.pagecache_write_cpu), 1000 * median(plain.pagecache_cpu),
      1000 * median(enc.pagecache_cpu));
  if (reported0 >= 0 && reported_kib() >= reported0)
    std::printf(
        "host free-page reporting: %.0f MiB of freed memory handed to the hypervisor during the "
        "run (pages it will fault in again at their next first touch)\n",
        (reported_kib() - reported0) / 1024);
  std::printf(
      "ratio fuse_xfs_write encrypted/passthrough = %.2f (O_DIRECT writes, medians; goal >= 0.8)\n",
      median(enc.write_mbs) / median(plain.write_mbs));
  std::printf(
      "ratio fuse_xfs_read encrypted/passthrough = %.2f (O_DIRECT reads, medians; goal >= 0.8)\n",
      median(enc.read_mbs) / median(plain.read_mbs));
  std::printf(
      "ratio fuse_xfs_write_pagecache encrypted/passthrough = %.2f (fastest rounds; medians %.2f; "
      "goal >= 0.8)\n",
      fastest(enc.pagecache_write_mbs) / fastest(plain.pagecache_write_mbs),
      median(enc.pagecache_write_mbs) / median(plain.pagecache_write_mbs));
  // The page-cache read's rounds the host did not slow: the server did about the work of an
  // O_DIRECT read (a slowed round spends 3-20x that CPU in the reply's copy into fresh pages).
  auto clean = [](const Side& s) {
    const double limit = 1.5 * median(s.read_cpu);
    std::vector<double> v;
    for (size_t i = 0; i < s.pagecache_mbs.size(); ++i)
      if (s.pagecache_cpu[i] <= limit) v.push_back(s.pagecache_mbs[i]);
    return v;
  };
  const std::vector<double> plain_clean = clean(plain), enc_clean = clean(enc);
  if (plain_clean.empty() || enc_clean.empty())
    std::printf(
        "ratio fuse_xfs_read_pagecache encrypted/passthrough = n/a (rounds the host did not "
        "slow: %zu passthrough, %zu encrypted, of %zu; medians %.2f)\n",
        plain_clean.size(), enc_clean.size(), plain.pagecache_mbs.size(),
        median(enc.pagecache_mbs) / median(plain.pagecache_mbs));
  else
    std::printf(
        "ratio fuse_xfs_read_pagecache encrypted/passthrough = %.2f (medians of the rounds the "
        "host did not slow: %zu passthrough, %zu encrypted, of %zu; all rounds %.2f; goal >= "
        "0.8)\n",
        median(enc_clean) / median(plain_clean), plain_clean.size(), enc_clean.size(),
        plain.pagecache_mbs.size(), median(enc.pagecache_mbs) / median(plain.pagecache_mbs));
  return 0;
}
