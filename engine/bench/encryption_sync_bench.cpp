// What Talos actually runs vs the engine, on the same loop device and the same cheap argon2id:
//
//  (a) FormatAndEncrypt with 4 keys of mixed kinds (nodeID in slot 0, static, a token-bearing
//      KMS-shaped key, a lockToSTATE static key);
//  (b) a boot-time Open + syncKeys that updates one key, checks two unchanged ones and adds two.
//
// The reference replays, with the cryptsetup CLI, the command sequence Talos 1.12 runs for these
// (internal/pkg/encryption/encryption.go: FormatAndEncrypt, Open, syncKeys, updateKey, checkKey,
// addKey, readToken; siderolabs/go-blockdevice encryption/luks/luks.go: Encrypt, IsOpen, Open,
// AddKey, CheckKey, RemoveKey, ReadKeyslots, SetToken, ReadToken, RemoveToken): one `cryptsetup`
// process per call, passphrases on stdin (--key-file=- with --keyfile-size for luksAddKey),
// ReadKeyslots in-process as go-blockdevice reads the JSON area. Where Talos maps the volume
// (`luksOpen DEV NAME`) the host has no device-mapper, so both sides test the key instead
// (`luksOpen --test-passphrase`, the engine's Handler::open without an activation): the same KDF.
// The KMS-shaped key seals locally (no gRPC on either side): the cost measured is LUKS2's.
//
// Then keyslot scale: a sync on a volume with N keys present and C of them changed, engine only,
// against keys changed (N = 32) and keys present (C = 1).
//
// Prints `ratio encryption_replay engine/cli = X (goal <= 0.25)` and the scale tables.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "../tests/support/scratch.h"
#include "cryptnode/engine/encryption_handler.h"
#include "cryptnode/engine/error.h"

using namespace cryptnode;
using cryptnode::testing::run;
using cryptnode::testing::ScratchFile;
using cryptnode::testing::ScratchLoop;

namespace {

constexpr const char* kUUID = "8f0e1c2a-3b4d-4e5f-9a6b-7c8d9e0f1a2b";
constexpr const char* kSalt = "0123456789abcdef0123456789abcdef";
constexpr uint64_t kSize = 64 << 20;
const std::vector<std::string> kArgon = {
    "--pbkdf",        "argon2id", "--pbkdf-force-iterations", "4",
    "--pbkdf-memory", "32",       "--pbkdf-parallel",         "1"};

// A KMS-shaped key: a passphrase per slot, "sealed" into a sideroKMS token (locally: the bench
// measures LUKS2, not gRPC).
std::string kms_passphrase(int slot) {
  return "kms-sealed-passphrase-of-slot-" + std::to_string(slot);
}
std::string kms_token(int) {
  return R"({"type":"sideroKMS","keyslots":[],"UserData":{"sealedData":"c2VhbGVk"}})";
}

struct Kms : keys::KeyHandler {
  int slot_;
  explicit Kms(int slot) : slot_(slot) {}
  int slot() const override { return slot_; }
  config::KeyType type() const override { return config::KeyType::kKMS; }
  std::string go_type() const override { return "*keys.KMSKeyHandler"; }
  keys::NewKey new_key() override { return {Secret(kms_passphrase(slot_)), kms_token(slot_)}; }
  Secret get_key(const std::optional<std::string>& token) override {
    if (!token) throw Error(Code::kTokenInvalid, "invalid token");
    return Secret(kms_passphrase(slot_));
  }
};

encryption::KeySources sources() {
  encryption::KeySources s;
  s.uuid = [] { return std::string(kUUID); };
  s.salt = [] { return Secret(std::string(kSalt)); };
  s.kms = [](const config::EncryptionKey& k) -> std::unique_ptr<keys::KeyHandler> {
    return std::make_unique<Kms>(k.slot);
  };
  return s;
}

// One configured key: its YAML and the passphrase it feeds to LUKS2 (what the CLI replay pipes).
struct Key {
  int slot;
  std::string kind;  // nodeID | static | kms | locked
  std::string secret;
  std::string yaml() const {
    std::string y = "    - slot: " + std::to_string(slot) + "\n";
    if (kind == "nodeID") return y + "      nodeID: {}\n";
    if (kind == "kms") return y + "      kms:\n        endpoint: grpc://127.0.0.1:1\n";
    y += "      static:\n        passphrase: " + secret + "\n";
    return kind == "locked" ? y + "      lockToState: true\n" : y;
  }
  std::string passphrase() const {
    if (kind == "nodeID") return std::string(kUUID) + "EPHEMERAL";
    if (kind == "kms") return kms_passphrase(slot);
    if (kind == "locked") return secret + kSalt;
    return secret;
  }
  bool has_token() const { return kind == "kms"; }
};

config::EncryptionSpec spec(const std::vector<Key>& keys) {
  std::string y =
      "apiVersion: v1alpha1\nkind: VolumeConfig\nname: EPHEMERAL\nencryption:\n  provider: luks2\n"
      "  keys:\n";
  for (const auto& k : keys) y += k.yaml();
  return *config::MachineConfig::parse(y).encryption_for("EPHEMERAL");
}

encryption::Handler handler(const std::vector<Key>& keys) {
  return encryption::Handler(spec(keys), "EPHEMERAL", sources(), luks2::Pbkdf::kFast, Env::posix());
}

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

std::string last_output;  // of the last cryptsetup call, for a failure's message
int cryptsetup(std::vector<std::string> args, const std::string& stdin_data = "") {
  args.insert(args.begin(), "cryptsetup");
  auto r = run(args, stdin_data);
  if (std::getenv("BENCH_TRACE")) {
    for (auto& a : args) std::fprintf(stderr, "%s ", a.c_str());
    std::fprintf(stderr, "-> %d\n", r.status);
  }
  last_output = r.output;
  return r.status;
}
std::vector<std::string> cat(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// --- the CLI replay of Talos' calls ------------------------------------------------------------

void must(bool ok, const std::string& what) {
  if (!ok) throw std::runtime_error("cryptsetup replay: " + what + " failed: " + last_output);
}

// go-blockdevice ReadKeyslots: the JSON area, read in-process. O_DIRECT: cryptsetup writes
// around the page cache, which may still hold an earlier image's header on a reused loop device.
std::vector<int> read_keyslots(const std::string& dev) {
  int fd = ::open(dev.c_str(), O_RDONLY | O_CLOEXEC | O_DIRECT);
  must(fd >= 0, "open " + dev);
  constexpr size_t kMax = 4 << 20;  // LUKS2's largest header
  void* buf = std::aligned_alloc(4096, kMax);
  must(::pread(fd, buf, 4096, 0) == 4096, "read header");
  const auto* hdr = static_cast<const unsigned char*>(buf);
  uint64_t size = 0;
  for (int i = 8; i < 16; ++i) size = size << 8 | hdr[i];
  must(size > 4096 && size <= kMax && ::pread(fd, buf, size, 0) == static_cast<ssize_t>(size),
       "read json");
  ::close(fd);
  std::string area(static_cast<const char*>(buf) + 4096, size - 4096);
  std::free(buf);
  area.resize(area.find('\0'));
  std::vector<int> out;
  const nlohmann::json meta = nlohmann::json::parse(area);
  for (const auto& [k, v] : meta["keyslots"].items()) out.push_back(std::stoi(k));
  return out;
}

// luks.Token export: exit 0 with JSON, or non-zero when there is no token in that id.
bool token_export(const std::string& dev, int id) {
  return cryptsetup({"token", "export", "-q", dev, "--token-id", std::to_string(id),
                     "--json-file=-"}) == 0;
}

// Handler.addKey: NewKey, SetToken (token import) first, then luksAddKey.
void cli_add_key(const std::string& dev, const Key& existing, const Key& k) {
  if (k.has_token())
    must(cryptsetup({"token", "import", "-q", dev, "--token-id", std::to_string(k.slot),
                     "--json-file=-", "--token-replace"},
                    kms_token(k.slot)) == 0,
         "token import");
  const std::string old = existing.passphrase();
  must(cryptsetup(
           cat({"luksAddKey", dev, "--key-file=-", "--keyfile-size=" + std::to_string(old.size())},
               cat(kArgon, {"--key-slot=" + std::to_string(k.slot)})),
           old + k.passphrase()) == 0,
       "luksAddKey --key-slot=" + std::to_string(k.slot) + (k.has_token() ? " (token)" : ""));
}

// Handler.checkKey: readToken, GetKey, luksOpen --test-passphrase on the key's slot.
bool cli_check_key(const std::string& dev, const Key& k) {
  token_export(dev, k.slot);
  return cryptsetup({"luksOpen", "--test-passphrase", dev, "--key-file=-",
                     "--key-slot=" + std::to_string(k.slot)},
                    k.passphrase()) == 0;
}

// FormatAndEncrypt: the lowest slot formats (luksFormat), SetToken, addKey for every other.
void cli_format(const std::string& dev, const std::vector<Key>& keys) {
  must(cryptsetup(
           cat({"luksFormat", "--type", "luks2", "--key-file=-", "-c", "aes-xts-plain64", dev},
               cat(kArgon, {"--key-slot=" + std::to_string(keys[0].slot)})),
           keys[0].passphrase()) == 0,
       "luksFormat");
  for (size_t i = 1; i < keys.size(); ++i) cli_add_key(dev, keys[0], keys[i]);
}

// Open (IsOpen, tryHandlers: readToken + luksOpen) then syncKeys.
void cli_open_and_sync(const std::string& dev, const std::vector<Key>& keys) {
  cryptsetup({"status", "luks2-bench-EPHEMERAL"});  // IsOpen: not active
  token_export(dev, keys[0].slot);  // readToken, then Open with that key (see the top)
  must(cryptsetup({"luksOpen", "--test-passphrase", dev, "--key-file=-",
                   "--key-slot=" + std::to_string(keys[0].slot)},
                  keys[0].passphrase()) == 0,
       "luksOpen");
  const std::vector<int> present = read_keyslots(dev);
  for (size_t i = 1; i < keys.size(); ++i) {
    const Key& k = keys[i];
    if (std::find(present.begin(), present.end(), k.slot) == present.end()) {
      cli_add_key(dev, keys[0], k);
      continue;
    }
    if (cli_check_key(dev, k)) continue;
    // updateKey: RemoveKey (luksKillSlot + token remove), then addKey.
    must(cryptsetup({"luksKillSlot", dev, std::to_string(k.slot), "--key-file=-"},
                    keys[0].passphrase()) == 0,
         "luksKillSlot");
    cryptsetup({"token", "remove", "--token-id", std::to_string(k.slot), dev});
    cli_add_key(dev, keys[0], k);
  }
}

// --- the runs ------------------------------------------------------------------------------------

const std::vector<Key> kFormatKeys = {
    {0, "nodeID", ""}, {1, "static", "first-static"}, {2, "kms", ""}, {3, "locked", "locked-3"}};
// Slot 1 changed (update), 2 and 3 unchanged (checked), 4 and 5 new (added).
const std::vector<Key> kBootKeys = {{0, "nodeID", ""},        {1, "static", "rotated-static"},
                                    {2, "kms", ""},           {3, "locked", "locked-3"},
                                    {4, "static", "added-4"}, {5, "kms", ""}};

struct Times {
  double format = 0, open = 0;
};

Times engine_run() {
  ScratchFile img(kSize);
  ScratchLoop loop(img.path());
  Times t;
  auto t0 = std::chrono::steady_clock::now();
  handler(kFormatKeys).format_and_encrypt(loop.path());
  t.format = ms_since(t0);
  t0 = std::chrono::steady_clock::now();
  auto r = handler(kBootKeys).open(loop.path());
  t.open = ms_since(t0);
  if (!r.failed_syncs.empty() || r.slot != 0) throw std::runtime_error("engine sync failed");
  return t;
}

Times cli_run() {
  ScratchFile img(kSize);
  ScratchLoop loop(img.path());
  Times t;
  auto t0 = std::chrono::steady_clock::now();
  cli_format(loop.path(), kFormatKeys);
  t.format = ms_since(t0);
  t0 = std::chrono::steady_clock::now();
  cli_open_and_sync(loop.path(), kBootKeys);
  t.open = ms_since(t0);
  // Both sides must have done the same thing: the engine opens what the CLI wrote.
  auto r = handler(kBootKeys).open(loop.path());
  if (!r.failed_syncs.empty()) throw std::runtime_error("the CLI replay left keys out of sync");
  return t;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// A volume with `present` static keys, `changed` of which are rotated; the sync's time.
double scale_run(int present, int changed) {
  std::vector<Key> before, after;
  for (int s = 0; s < present; ++s) {
    const std::string kind = s == 0       ? "nodeID"
                             : s % 3 == 1 ? "kms"
                             : s % 3 == 2 ? "static"
                                          : "locked";
    before.push_back({s, kind, "key-" + std::to_string(s)});
    after.push_back(before.back());
  }
  for (int c = 0; c < changed; ++c)
    after[present - 1 - c] = {present - 1 - c, "static", "new-" + std::to_string(c)};
  ScratchFile img(kSize);
  ScratchLoop loop(img.path());  // as a node's volumes: a loop device over a file
  handler(before).format_and_encrypt(loop.path());
  auto t0 = std::chrono::steady_clock::now();
  auto r = handler(after).open(loop.path());
  double t = ms_since(t0);
  if (!r.failed_syncs.empty())
    throw std::runtime_error("scale sync failed: " + r.failed_syncs.front());
  return t;
}

void replay() {
  const int runs = 5;
  std::vector<double> ef, eo, cf, co;
  for (int r = 0; r < runs; ++r) {
    Times e = engine_run(), c = cli_run();
    ef.push_back(e.format), eo.push_back(e.open), cf.push_back(c.format), co.push_back(c.open);
  }
  const double e = median(ef) + median(eo), c = median(cf) + median(co);
  std::printf("format 4 mixed keys:      engine %7.1f ms  cryptsetup CLI (Talos' calls) %7.1f ms\n",
              median(ef), median(cf));
  std::printf(
      "open + sync (1 upd, 2 add): engine %7.1f ms  cryptsetup CLI (Talos' calls) %7.1f ms\n",
      median(eo), median(co));
  std::printf("ratio encryption_format engine/cli = %.2f\n", median(ef) / median(cf));
  std::printf("ratio encryption_open_sync engine/cli = %.2f\n", median(eo) / median(co));
  std::printf("ratio encryption_replay engine/cli = %.2f (goal <= 0.25; median of %d runs)\n",
              e / c, runs);
}

void scale() {
  std::printf("keyslot scale: sync of 32 keys present vs keys changed (median of 3, ms):");
  double base_changed = 0, top_changed = 0;
  for (int changed : {0, 1, 2, 4, 8, 16}) {
    std::vector<double> v;
    for (int r = 0; r < 3; ++r) v.push_back(scale_run(32, changed));
    std::printf(" %d:%.1f", changed, median(v));
    if (changed == 1) base_changed = median(v);
    if (changed == 16) top_changed = median(v);
  }
  std::printf("\nkeyslot scale: sync of 1 key changed vs keys present (median of 3, ms):");
  double base_present = 0, top_present = 0;
  for (int present : {2, 4, 8, 16, 32}) {
    std::vector<double> v;
    for (int r = 0; r < 3; ++r) v.push_back(scale_run(present, 1));
    std::printf(" %d:%.1f", present, median(v));
    if (present == 2) base_present = median(v);
    if (present == 32) top_present = median(v);
  }
  std::printf("\nratio keyslot_sync 16-changed/1-changed = %.2f (grows with keys changed)\n",
              top_changed / base_changed);
  std::printf("ratio keyslot_sync 32-present/2-present = %.2f (goal: near 1)\n",
              top_present / base_present);
}

}  // namespace

// Arguments (to profile one part): `replay`, `scale`, `scale <present> <changed>` (one sync), or
// `engine` (the engine's side of the replay alone, no ratio). None runs replay then scale.
int main(int argc, char** argv) {
  const std::string part = argc > 1 ? argv[1] : "";
  if (part == "engine") {
    for (int r = 0; r < 5; ++r) {
      Times e = engine_run();
      std::printf("engine format %.1f ms, open + sync %.1f ms\n", e.format, e.open);
    }
    return 0;
  }
  if (part == "scale" && argc == 4) {  // one case: scale <present> <changed>
    std::printf("%.1f ms\n", scale_run(std::atoi(argv[2]), std::atoi(argv[3])));
    return 0;
  }
  if (part.empty() || part == "replay") replay();
  if (part.empty() || part == "scale") scale();
  return 0;
}
