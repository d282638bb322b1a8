// A sync that adds 4 keys through the engine (one libcryptsetup handle) vs the cryptsetup CLI
// commands Talos runs for it (one `cryptsetup luksAddKey` per key, plus the `--test-passphrase`
// open), same cheap argon2id. Prints `ratio encryption_sync engine/cli = X (goal <= 0.5)`.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>

#include "cryptnode/engine/encryption_handler.h"
#include "../tests/support/scratch.h"

using namespace cryptnode;
using cryptnode::testing::run;
using cryptnode::testing::ScratchFile;

namespace {
config::EncryptionSpec spec(int keys) {
  std::string y =
      "apiVersion: v1alpha1\nkind: VolumeConfig\nname: EPHEMERAL\nencryption:\n  provider: luks2\n"
      "  keys:\n";
  for (int i = 0; i < keys; ++i)
    y += "    - slot: " + std::to_string(i) + "\n      static:\n        passphrase: key" +
         std::to_string(i) + "\n";
  return *config::MachineConfig::parse(y).encryption_for("EPHEMERAL");
}
double seconds(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}
}  // namespace

int main() {
  const int runs = 5;
  double engine = 0, cli = 0;
  for (int r = 0; r < runs; ++r) {
    {
      ScratchFile img(32 << 20);
      encryption::Handler(spec(1), "EPHEMERAL", {}, luks2::Pbkdf::kFast, Env::posix()).format_and_encrypt(img.path());
      encryption::Handler h(spec(5), "EPHEMERAL", {}, luks2::Pbkdf::kFast, Env::posix());
      auto t0 = std::chrono::steady_clock::now();
      auto res = h.open(img.path());  // open + syncKeys: 4 keys added
      engine += seconds(t0);
      if (!res.failed_syncs.empty()) return 1;
    }
    {
      ScratchFile img(32 << 20);
      encryption::Handler(spec(1), "EPHEMERAL", {}, luks2::Pbkdf::kFast, Env::posix()).format_and_encrypt(img.path());
      auto t0 = std::chrono::steady_clock::now();
      run({"cryptsetup", "open", "--test-passphrase", "--key-slot", "0", "--key-file", "-", img.path()},
          "key0");
      for (int k = 1; k <= 4; ++k) {
        const std::string file = img.dir() + "/k";
        FILE* f = std::fopen(file.c_str(), "w");
        std::fprintf(f, "key%d", k);
        std::fclose(f);
        run({"cryptsetup", "luksAddKey", "--batch-mode", "--pbkdf", "argon2id",
             "--pbkdf-force-iterations", "4", "--pbkdf-memory", "32", "--pbkdf-parallel", "1",
             "--key-slot", std::to_string(k), "--key-file", "-", img.path(), file},
            "key0");
        std::remove(file.c_str());
      }
      cli += seconds(t0);
    }
  }
  std::printf("sync of 4 keys: engine %.1f ms, cryptsetup CLI %.1f ms (median-free mean of %d)\n",
              engine / runs * 1000, cli / runs * 1000, runs);
  std::printf("ratio encryption_sync engine/cli = %.2f (goal <= 0.5)\n", engine / cli);
  return 0;
}
