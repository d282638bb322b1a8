// Userspace XTS throughput (one core, 4 KiB sectors) vs `openssl speed -evp aes-256-xts` measured
// in the same run. Prints `ratio xts userspace/openssl = X (goal >= 0.8)`.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "cryptnode/engine/activation/xts.h"

using namespace cryptnode;

static double openssl_speed_mbs() {
  FILE* p = popen("openssl speed -evp aes-256-xts -seconds 2 -bytes 4096 2>/dev/null", "r");
  if (!p) return 0;
  char line[512];
  double kbs = 0;
  while (fgets(line, sizeof(line), p)) {
    std::string s(line);
    if (s.rfind("AES-256-XTS", 0) == 0 || s.rfind("aes-256-xts", 0) == 0) {
      // "AES-256-XTS   1234567.89k"
      auto pos = s.find_last_of(' ', s.find('k', 12));
      kbs = std::atof(s.c_str() + s.find_first_of("0123456789", 11));
      (void)pos;
    }
  }
  pclose(p);
  return kbs * 1000 / 1e6;  // openssl's "k" is 1000 bytes
}

int main() {
  std::vector<uint8_t> raw(64);
  for (size_t i = 0; i < raw.size(); ++i) raw[i] = static_cast<uint8_t>(i * 13 + 7);
  activation::Xts xts(Secret(raw.data(), raw.size()), 4096);
  std::vector<uint8_t> buf(1 << 20, 0x5a);  // 1 MiB requests, like FUSE/loop I/O
  const int rounds = 1024;                  // 1 GiB
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < rounds; ++i) xts.encrypt(static_cast<uint64_t>(i) << 20, buf.data(), buf.size());
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  double ours = rounds * 1.048576 / s;
  double ref = openssl_speed_mbs();
  std::printf("xts userspace: %.0f MB/s (1 GiB, 4 KiB sectors, one core)\n", ours);
  std::printf("openssl speed -evp aes-256-xts (4096-byte blocks): %.0f MB/s\n", ref);
  if (ref > 0) std::printf("ratio xts userspace/openssl = %.2f (goal >= 0.8)\n", ours / ref);
  return 0;
}
