// Userspace XTS throughput (4 KiB sectors, calls of 64 KiB: the chunks SectorFile ciphers a 1 MiB
// FUSE request in) vs `openssl speed -evp aes-256-xts -bytes 4096` with the same number of threads
// (`-multi N`), alternating --rounds times (5); prints each side's min/median/max and
// `ratio xts userspace/openssl = X`, the ratio of the medians, for the implementation the backend
// picks (and one line per implementation). Both sides divide by the same clock: with one thread by
// CPU time, as `openssl speed` does by default (user time, unless -elapsed) - on a shared machine
// the wall clock would mostly measure the other processes; with several by the wall clock, as its
// `-multi` children do.   activation_xts_bench [--threads N] [--rounds 5] [--bytes 65536]
#include <time.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "cryptnode/engine/activation/xts.h"

using namespace cryptnode;
using activation::XtsImpl;

namespace {

constexpr double kSeconds = 2.0;

// MB/s (10^6 bytes) of `openssl speed` over 4096-byte blocks; 0 when it could not run.
double openssl_speed_mbs(int threads) {
  std::string cmd = "openssl speed -evp aes-256-xts -seconds 2 -bytes 4096";
  if (threads > 1) cmd += " -multi " + std::to_string(threads);
  FILE* p = popen((cmd + " 2>/dev/null").c_str(), "r");
  if (!p) return 0;
  char line[512];
  double kbs = 0;
  while (fgets(line, sizeof(line), p)) {
    std::string s(line);
    // "AES-256-XTS   6255599.62k" (the table; with -multi: "evp ... " lines before it)
    if (s.rfind("AES-256-XTS", 0) == 0 || s.rfind("aes-256-xts", 0) == 0) {
      size_t k = s.rfind('k');
      size_t start = s.find_last_of(" \t", k);
      if (k != std::string::npos && start != std::string::npos)
        kbs = std::atof(s.substr(start + 1, k - start - 1).c_str());
    }
  }
  pclose(p);
  return kbs * 1000 / 1e6;  // openssl's "k" is 1000 bytes
}

double thread_cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) * 1e-9;
}

// MB/s of `threads` threads encrypting 1 MiB requests for kSeconds with one Xts, each thread's
// bytes over its CPU time (one thread) or over the wall clock (several), summed.
double ours_mbs(XtsImpl impl, int threads, size_t request) {
  const bool wall = threads > 1;
  std::vector<uint8_t> raw(64);
  for (size_t i = 0; i < raw.size(); ++i) raw[i] = static_cast<uint8_t>(i * 13 + 7);
  activation::Xts xts(Secret(raw.data(), raw.size()), 4096, impl);
  std::atomic<bool> stop{false};
  std::vector<double> rate(threads, 0);
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t)
    ts.emplace_back([&, t] {
      std::vector<uint8_t> buf(request, 0x5a);
      uint64_t i = static_cast<uint64_t>(t) << 32, bytes = 0;
      const auto w0 = std::chrono::steady_clock::now();
      const double c0 = thread_cpu_seconds();
      while (!stop.load(std::memory_order_relaxed)) {
        xts.encrypt(i++ * request, buf.data(), buf.size());
        bytes += buf.size();
      }
      const double s =
          wall ? std::chrono::duration<double>(std::chrono::steady_clock::now() - w0).count()
               : thread_cpu_seconds() - c0;
      rate[t] = static_cast<double>(bytes) / 1e6 / s;
    });
  std::this_thread::sleep_for(std::chrono::duration<double>(kSeconds));
  stop = true;
  for (auto& th : ts) th.join();
  double total = 0;
  for (double r : rate) total += r;
  return total;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 1;
  size_t request = 64 << 10;
  int rounds = 5;
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::string(argv[i]) == "--rounds") rounds = std::max(1, std::atoi(argv[i + 1]));
    if (std::string(argv[i]) == "--threads") threads = std::max(1, std::atoi(argv[i + 1]));
    if (std::string(argv[i]) == "--bytes")
      request = std::max<size_t>(4096, std::strtoull(argv[i + 1], nullptr, 10) / 4096 * 4096);
  }
  std::vector<XtsImpl> impls;
  for (XtsImpl i : {XtsImpl::kOpenssl, XtsImpl::kAesni, XtsImpl::kVaes})
    if (activation::xts_impl_available(i)) impls.push_back(i);
  const XtsImpl chosen = activation::xts_auto_impl();
  std::vector<double> ref;
  std::vector<std::vector<double>> ours(impls.size());
  for (int round = 0; round < rounds; ++round) {
    ref.push_back(openssl_speed_mbs(threads));
    for (size_t i = 0; i < impls.size(); ++i)
      ours[i].push_back(ours_mbs(impls[i], threads, request));
  }
  const double r = median(ref);
  auto spread = [](const std::vector<double>& v) {
    char out[96];
    std::snprintf(out, sizeof(out), "min %6.0f  median %6.0f  max %6.0f MB/s",
                  *std::min_element(v.begin(), v.end()), median(v),
                  *std::max_element(v.begin(), v.end()));
    return std::string(out);
  };
  std::printf("%d alternating rounds, MB/s per %s second:\n", rounds,
              threads > 1 ? "wall-clock" : "CPU");
  std::printf("openssl speed -evp aes-256-xts -bytes 4096 (%d process%s): %s\n", threads,
              threads > 1 ? "es" : "", spread(ref).c_str());
  for (size_t i = 0; i < impls.size(); ++i)
    std::printf("xts %-8s %zu KiB calls of 4 KiB sectors: %s\n",
                std::string(activation::xts_impl_name(impls[i])).c_str(), request >> 10,
                spread(ours[i]).c_str());
  if (r <= 0) return 0;
  for (size_t i = 0; i < impls.size(); ++i)
    std::printf("ratio xts_%s userspace/openssl = %.2f\n",
                std::string(activation::xts_impl_name(impls[i])).c_str(), median(ours[i]) / r);
  size_t c = std::find(impls.begin(), impls.end(), chosen) - impls.begin();
  std::printf("ratio xts userspace/openssl = %.2f (%s, %d thread%s; goal >= 0.9)\n",
              median(ours[c]) / r, std::string(activation::xts_impl_name(chosen)).c_str(), threads,
              threads > 1 ? "s" : "");
  return 0;
}
