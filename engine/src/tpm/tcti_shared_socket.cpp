// One connection to a swtpm data socket per process, shared by every Tpm that talks to it.
//
// tpm2-tss 3.2's swtpm TCTI (src/tss2-tcti/tcti-swtpm.c) connects to swtpm's socket in every
// transmit and closes the connection after every receive: a TPM command costs a connect, an
// accept, swtpm's "Data client disconnected" log line and a close, about 1 ms on this machine
// kind, and an unseal is 13 commands. Talos talks to /dev/tpmrm0, where none of this exists.
//
// This TCTI speaks the same protocol on the same socket (the command's bytes out, a 10-byte
// response header and the rest of the response back) over one connection that stays open while
// any context of this process uses that socket. swtpm serves one data connection at a time, so
// the connection is shared rather than per context: two Tpm objects alive at once in one process
// (a test holding one while the code under test opens another) share it and cannot wait on each
// other. Each command holds the connection from its transmit to the end of its receive, so
// threads take turns command by command. The connection closes when the last context using it
// is finalized; another process (tpm2-tools) is served once it is closed, as before. A transport
// error closes it; the next command reconnects.
// Where it does not apply (any TCTI other than "swtpm:path=...", or CRYPTNODE_TPM_TCTI=tctildr),
// tss2-tctildr loads tpm2-tss' own TCTI as before. Locality, cancel and poll handles are not
// implemented (ESYS uses none of them here; tcti-swtpm implements locality through the control
// socket, which nothing in the engine asks for).
#include "tcti_shared_socket.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <utility>

namespace cryptnode::tpm::detail {
namespace {

constexpr uint64_t kMagic = 0x636e736861726564ULL;  // "cnshared"
constexpr size_t kHeader = 10;                      // tag, size, code
constexpr const char* kPrefix = "swtpm:path=";

std::atomic<unsigned long> connections{0};

// The shared connection to one socket path.
struct Connection {
  explicit Connection(std::string p) : path(std::move(p)) {}
  std::string path;
  int fd = -1;
  std::mutex io;  // held from a command's transmit to the end of its receive

  ~Connection() {
    if (fd >= 0) ::close(fd);
  }

  bool connect() {
    // swtpm sends nothing unasked: an idle connection with something to read has been closed by
    // the other end (swtpm stopped or restarted since). Drop it and connect again.
    if (fd >= 0) {
      pollfd pfd{fd, POLLIN | POLLRDHUP, 0};
      if (::poll(&pfd, 1, 0) == 0) return true;
      drop();
    }
    sockaddr_un addr{};
    if (path.size() >= sizeof(addr.sun_path)) return false;
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    int s = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0) return false;
    int r;
    do {
      r = ::connect(s, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    } while (r != 0 && errno == EINTR);
    if (r != 0) {
      ::close(s);
      return false;
    }
    fd = s;
    connections.fetch_add(1, std::memory_order_relaxed);
    return true;
  }

  void drop() {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
};

std::mutex registry_mu;
std::map<std::string, std::weak_ptr<Connection>>& registry() {
  static auto* r = new std::map<std::string, std::weak_ptr<Connection>>();  // never destroyed
  return *r;
}

std::shared_ptr<Connection> connection_for(const std::string& path) {
  std::lock_guard<std::mutex> l(registry_mu);
  auto& reg = registry();
  if (auto it = reg.find(path); it != reg.end())
    if (auto c = it->second.lock()) return c;
  for (auto it = reg.begin(); it != reg.end();)  // entries of sockets no Tpm uses any more
    it = it->second.expired() ? reg.erase(it) : std::next(it);
  auto c = std::make_shared<Connection>(path);
  reg[path] = c;
  return c;
}

struct Context {
  TSS2_TCTI_CONTEXT_COMMON_V2 common;
  std::shared_ptr<Connection> conn;
  std::unique_lock<std::mutex> held;  // between a transmit and the end of its receive
  uint8_t header[kHeader];
  size_t header_read = 0;  // 0 or kHeader
  uint32_t response_size = 0;
};

Context* cast(TSS2_TCTI_CONTEXT* ctx) {
  auto* c = reinterpret_cast<Context*>(ctx);
  return c && c->common.v1.magic == kMagic ? c : nullptr;
}

bool write_all(int fd, const uint8_t* p, size_t n) {
  while (n) {
    ssize_t w = ::send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

// Reads exactly n bytes; `timeout_ms` < 0 blocks. 1 read, 0 timed out, -1 failed.
int read_all(int fd, uint8_t* p, size_t n, int32_t timeout_ms) {
  while (n) {
    if (timeout_ms >= 0) {
      pollfd pfd{fd, POLLIN, 0};
      int r = ::poll(&pfd, 1, timeout_ms);
      if (r < 0 && errno == EINTR) continue;
      if (r == 0) return 0;
      if (r < 0) return -1;
    }
    ssize_t got = ::recv(fd, p, n, 0);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return -1;
    p += got;
    n -= static_cast<size_t>(got);
  }
  return 1;
}

// A failed command: the connection is closed (the next command reconnects) and released.
TSS2_RC fail(Context* c, TSS2_RC rc) {
  c->conn->drop();
  c->header_read = 0;
  if (c->held.owns_lock()) c->held.unlock();
  return rc;
}

TSS2_RC transmit(TSS2_TCTI_CONTEXT* ctx, size_t size, const uint8_t* command) {
  Context* c = cast(ctx);
  if (!c) return TSS2_TCTI_RC_BAD_CONTEXT;
  if (!command || size < kHeader) return TSS2_TCTI_RC_BAD_VALUE;
  if (c->held.owns_lock()) return TSS2_TCTI_RC_BAD_SEQUENCE;  // a response is still due
  c->held = std::unique_lock<std::mutex>(c->conn->io);
  c->header_read = 0;
  if (!c->conn->connect()) return fail(c, TSS2_TCTI_RC_IO_ERROR);
  if (!write_all(c->conn->fd, command, size)) return fail(c, TSS2_TCTI_RC_IO_ERROR);
  return TSS2_RC_SUCCESS;
}

TSS2_RC receive(TSS2_TCTI_CONTEXT* ctx, size_t* size, uint8_t* response, int32_t timeout) {
  Context* c = cast(ctx);
  if (!c) return TSS2_TCTI_RC_BAD_CONTEXT;
  if (!size) return TSS2_TCTI_RC_BAD_REFERENCE;
  if (!c->held.owns_lock()) return TSS2_TCTI_RC_BAD_SEQUENCE;  // no command sent
  if (c->header_read == 0) {
    int r = read_all(c->conn->fd, c->header, kHeader, timeout);
    if (r == 0) return TSS2_TCTI_RC_TRY_AGAIN;
    if (r < 0) return fail(c, TSS2_TCTI_RC_IO_ERROR);
    c->header_read = kHeader;
    c->response_size = (uint32_t{c->header[2]} << 24) | (uint32_t{c->header[3]} << 16) |
                       (uint32_t{c->header[4]} << 8) | uint32_t{c->header[5]};
    if (c->response_size < kHeader) return fail(c, TSS2_TCTI_RC_MALFORMED_RESPONSE);
  }
  if (!response) {
    *size = c->response_size;
    return TSS2_RC_SUCCESS;
  }
  if (*size < c->response_size) {
    *size = c->response_size;
    return TSS2_TCTI_RC_INSUFFICIENT_BUFFER;
  }
  // The body is read without a timeout: swtpm sends a response whole.
  if (read_all(c->conn->fd, response + kHeader, c->response_size - kHeader, -1) != 1)
    return fail(c, TSS2_TCTI_RC_IO_ERROR);
  std::memcpy(response, c->header, kHeader);
  *size = c->response_size;
  c->header_read = 0;
  c->held.unlock();
  return TSS2_RC_SUCCESS;
}

void finalize(TSS2_TCTI_CONTEXT* ctx) {
  Context* c = cast(ctx);
  if (!c) return;
  if (c->held.owns_lock()) {  // a command without its response: the stream is out of step
    c->conn->drop();
    c->held.unlock();
  }
  c->conn.reset();  // the connection closes with its last user
  c->common.v1.magic = 0;
}

TSS2_RC not_implemented(TSS2_TCTI_CONTEXT*) {
  return TSS2_TCTI_RC_NOT_IMPLEMENTED;
}
TSS2_RC no_poll_handles(TSS2_TCTI_CONTEXT*, TSS2_TCTI_POLL_HANDLE*, size_t*) {
  return TSS2_TCTI_RC_NOT_IMPLEMENTED;
}
TSS2_RC no_locality(TSS2_TCTI_CONTEXT*, uint8_t) {
  return TSS2_TCTI_RC_NOT_IMPLEMENTED;
}
TSS2_RC no_sticky(TSS2_TCTI_CONTEXT*, TPM2_HANDLE*, uint8_t) {
  return TSS2_TCTI_RC_NOT_IMPLEMENTED;
}

}  // namespace

TSS2_TCTI_CONTEXT* shared_socket_tcti(const std::string& conf, TSS2_RC* rc) {
  *rc = TSS2_RC_SUCCESS;
  const char* choice = std::getenv("CRYPTNODE_TPM_TCTI");
  if (choice && std::strcmp(choice, "tctildr") == 0) return nullptr;
  if (conf.rfind(kPrefix, 0) != 0) return nullptr;
  const std::string path = conf.substr(std::strlen(kPrefix));
  if (path.empty() || path.find(',') != std::string::npos) return nullptr;  // other options
  auto* c = new Context();
  c->common.v1.magic = kMagic;
  c->common.v1.version = 2;
  c->common.v1.transmit = transmit;
  c->common.v1.receive = receive;
  c->common.v1.finalize = finalize;
  c->common.v1.cancel = not_implemented;
  c->common.v1.getPollHandles = no_poll_handles;
  c->common.v1.setLocality = no_locality;
  c->common.makeSticky = no_sticky;
  c->conn = connection_for(path);
  {
    // Connecting now answers "is swtpm there" at initialization, as tcti-swtpm's probe does.
    std::lock_guard<std::mutex> io(c->conn->io);
    if (!c->conn->connect()) {
      *rc = TSS2_TCTI_RC_IO_ERROR;
      finalize(reinterpret_cast<TSS2_TCTI_CONTEXT*>(c));
      delete c;
      return nullptr;
    }
  }
  return reinterpret_cast<TSS2_TCTI_CONTEXT*>(c);
}

void free_shared_socket_tcti(TSS2_TCTI_CONTEXT* ctx) {
  if (!ctx) return;
  finalize(ctx);
  delete reinterpret_cast<Context*>(ctx);
}

bool is_shared_socket_tcti(const TSS2_TCTI_CONTEXT* ctx) {
  return ctx && reinterpret_cast<const Context*>(ctx)->common.v1.magic == kMagic;
}

unsigned long shared_socket_connections() {
  return connections.load(std::memory_order_relaxed);
}

}  // namespace cryptnode::tpm::detail
