"""The node process behind the CLI (docs/design.md): `cryptnode -n DIR boot` starts it in the
background; it owns the node (loop devices, mounts, FUSE) while the node is powered on, the way a VM
process owns a VM, and serves the other CLI commands over a unix socket, DIR/run/api.sock. When the
node powers off (shutdown, reset --reboot=false, a crash at an armed fault point) the process ends.

Clients are served concurrently (socketserver.ThreadingUnixStreamServer), each with a deadline for
its request line, so an idle or vanished client blocks nobody; node operations run one at a time
under one lock. Only the user that owns the node process may talk to it: run/ is 0700, the socket
0600, and each peer's uid is checked with SO_PEERCRED.

Protocol: one JSON object per line each way. Request {"op": ..., "args": {...}}; a config travels
base64-encoded in args["config_b64"] (configs are bytes). Response {"ok": true, "result": ...,
"node": <summary>} or {"ok": false, "error": {"type", "code", "message"}, "node": <summary>}.
Nothing secret is ever on a command line, in a response or in node.log."""

from __future__ import annotations

import base64
import binascii
import ctypes
import json
import os
import resource
import signal
import socket
import socketserver
import struct
import sys
import threading
import time
from typing import Any, Callable, Dict, Optional

from .node import Node
from .volume_status import to_talos


def _request_timeout() -> float:
    """Seconds a client has to send its request line: 10, or CRYPTNODE_REQUEST_TIMEOUT (tests that
    wait out the deadline use a short one)."""
    text = os.environ.get("CRYPTNODE_REQUEST_TIMEOUT", "")
    try:
        value = float(text) if text else 10.0
    except ValueError:
        value = -1.0
    if not 0 < value <= 3600:
        raise ValueError(f"CRYPTNODE_REQUEST_TIMEOUT={text!r} is not a number of seconds "
                         "in (0, 3600]")
    return value


REQUEST_TIMEOUT = _request_timeout()
MAX_REQUEST = 16 << 20  # a 4 MiB config, base64-encoded, with room to spare


def socket_path(node_dir: str) -> str:
    return os.path.join(node_dir, "run", "api.sock")


def _short(path: str) -> tuple:
    """(an AF_UNIX address for path, an fd to close): a path longer than sun_path (108 bytes) is
    reached through /proc/self/fd/N of its directory."""
    if len(path.encode()) < 100:
        return path, None
    fd = os.open(os.path.dirname(path), os.O_PATH | os.O_DIRECTORY)
    return f"/proc/self/fd/{fd}/{os.path.basename(path)}", fd


def status_dict(st) -> Dict[str, Any]:
    """One VolumeStatus in Talos' names (the table in volume_status.py)."""
    return to_talos(st)


def node_summary(node: Node) -> Dict[str, Any]:
    if node._n is None:
        return {"path": "", "state": "off", "pid": os.getpid(), "volumes": []}
    return {"path": node.path, "state": node.state, "pid": os.getpid(),
            "lastCrash": node.last_crash, "clockMs": node.clock_ms,
            "volumes": [to_talos(s) for s in node.volumes()]}


def safe_message(e: BaseException) -> str:
    """An exception's text for a client: a TypeError from a native call lists the call's
    arguments (a config, passphrases), so it is never shown."""
    if isinstance(e, TypeError):
        return "invalid arguments (not shown: they may hold secrets)"
    return str(e)


def _log(text: str) -> None:
    print(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {text}", file=sys.stderr, flush=True)


def _config(args: Dict[str, Any]) -> Optional[bytes]:
    b64 = args.pop("config_b64", None)
    if b64 is None:
        return None
    if not isinstance(b64, str):
        raise ValueError("config_b64 must be a base64 string")
    try:
        return base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("config_b64 is not valid base64") from None


class App:
    """The operations, run one at a time on the node."""

    def __init__(self, node: Node):
        self.node = node
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.ops: Dict[str, Callable[..., Any]] = {
            "status": lambda: None,
            "apply_config": lambda config, mode="auto", insecure=False: node.apply_config(
                config, mode, insecure),
            "reset": lambda labels, reboot=False, graceful=True: node.reset(labels, reboot,
                                                                           graceful),
            "patch_config": lambda config, mode="auto": node.patch_config(config, mode),
            "upgrade": lambda to: node.upgrade(to),
            "reboot": node.reboot,
            "advance": node.advance,
            "crash_at": node.crash_at,
            "set_firmware": lambda secure_boot=True, setup_mode=False: node.set_firmware(
                secure_boot, setup_mode),
            "clear_tpm": node.clear_tpm,
            "meta": node.meta,
            "luks_dump": node.luks_dump,
            "events": lambda: [{"timeMs": e.time_ms, "step": e.step, "message": e.message}
                               for e in node.events()],
            "shutdown": node.shutdown,
        }

    def handle(self, req: Any) -> Dict[str, Any]:
        if not isinstance(req, dict) or not isinstance(req.get("args", {}), dict):
            return _failure("InvalidArgument", "invalid_argument", "bad request")
        name = req.get("op", "")
        op = self.ops.get(name) if isinstance(name, str) else None
        if op is None:
            return _failure("InvalidArgument", "invalid_argument", f"unknown operation {name!r}")
        args = dict(req.get("args", {}))
        with self.lock:
            if self.stop.is_set():
                return _failure("FailedPrecondition", "failed_precondition",
                                "the node is powering off")
            try:
                config = _config(args)
                if config is not None:
                    args["config"] = config
                resp = {"ok": True, "result": op(**args)}
            except Exception as e:  # noqa: BLE001 - every error goes back to the client
                resp = _failure(type(e).__name__, getattr(e, "code", ""), safe_message(e))
            _log(f"{name}: {'ok' if resp['ok'] else resp['error']['type']}")
            resp["node"] = node_summary(self.node)
            if not self.node.powered_on:  # shutdown, reset --reboot=false, a crash: power off
                self.stop.set()
        return resp


def _failure(type_name: str, code: str, message: str) -> Dict[str, Any]:
    return {"ok": False, "error": {"type": type_name, "code": code, "message": message}}


class _Handler(socketserver.StreamRequestHandler):
    timeout = REQUEST_TIMEOUT  # on the connection: reading the request, writing the reply

    def handle(self) -> None:
        server: Server = self.server  # type: ignore[assignment]
        refusal = server.refuse(self.connection)
        if refusal:
            _log(refusal)
            self._reply(_failure("PermissionError", "permission_denied", refusal))
            return
        try:
            line = self.rfile.readline(MAX_REQUEST + 1)
        except (socket.timeout, OSError):
            return  # an idle client: its deadline passed
        if not line:
            return
        if len(line) > MAX_REQUEST:
            self._reply(_failure("InvalidArgument", "invalid_argument", "request too large"))
            return
        op = None
        with server.busy:
            try:
                req = json.loads(line)
            except RecursionError:  # nesting deeper than the interpreter's recursion limit
                resp = _failure("InvalidArgument", "invalid_argument",
                                "bad request: JSON nested too deeply")
            except ValueError:  # JSONDecodeError, UnicodeDecodeError, an integer too long
                resp = _failure("InvalidArgument", "invalid_argument", "bad request: not JSON")
            else:
                op = req.get("op") if isinstance(req, dict) else None
                resp = server.app.handle(req)
            self._reply(resp, op if isinstance(op, str) else None)

    def _reply(self, resp: Dict[str, Any], op: Optional[str] = None) -> None:
        try:
            self.wfile.write((json.dumps(resp) + "\n").encode())
            self.wfile.flush()
        except (OSError, socket.timeout):  # BrokenPipeError, ConnectionResetError, ...
            _log(f"{op or 'request'}: the client went away before reading its reply")


class _Busy:
    """Counts requests between their request line and their reply, so the process does not end
    while a reply is on its way."""

    def __init__(self):
        self._n = 0
        self._cond = threading.Condition()

    def __enter__(self):
        with self._cond:
            self._n += 1

    def __exit__(self, *exc):
        with self._cond:
            self._n -= 1
            self._cond.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: self._n == 0, timeout)


class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = False

    def __init__(self, path: str, app: App, owner_uid: Optional[int] = None):
        self.app = app
        self.busy = _Busy()
        self.path = path
        self.owner_uid = os.geteuid() if owner_uid is None else owner_uid
        run = os.path.dirname(path)
        os.makedirs(run, mode=0o700, exist_ok=True)
        os.chmod(run, 0o700)
        if os.path.lexists(path):
            os.unlink(path)  # a crashed owner's socket: the node lock is ours now
        address, self._dir_fd = _short(path)
        old = os.umask(0o177)
        try:
            super().__init__(address, _Handler)
        finally:
            os.umask(old)
        os.chmod(path, 0o600)

    def refuse(self, conn: socket.socket) -> str:
        """Why a peer is refused ("" when it may talk to the node)."""
        try:
            creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
            pid, uid, _ = struct.unpack("3i", creds)
        except OSError as e:
            return f"refused a client: no peer credentials ({e.strerror})"
        if uid != self.owner_uid:
            return (f"refused a client (pid {pid}): uid {uid} is not the node's owner "
                    f"(uid {self.owner_uid})")
        return ""

    def handle_error(self, request, client_address) -> None:
        _log(f"a client's request failed: {sys.exc_info()[0].__name__}")

    def server_close(self) -> None:
        super().server_close()
        if self._dir_fd is not None:
            os.close(self._dir_fd)
            self._dir_fd = None
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass


def serve(node: Node, path: str, ready: Optional[Callable[[], None]] = None) -> None:
    """Serves until the node powers off or SIGTERM; then closes the node."""
    app = App(node)
    server = Server(path, app)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2},
                              name="api", daemon=True)
    thread.start()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: app.stop.set())
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    if ready:
        ready()
    try:
        while not app.stop.wait(0.5):
            pass
    finally:
        server.shutdown()
        server.server_close()
        with app.lock:
            node.close()
        server.busy.wait_idle(REQUEST_TIMEOUT)
        _log("power: off; the node process ends")


class NodeNotRunning(RuntimeError):
    pass


class RemoteError(RuntimeError):
    def __init__(self, type_name: str, code: str, message: str, node=None):
        super().__init__(message)
        self.type_name, self.code, self.node = type_name, code, node


def call(node_dir: str, op: str, timeout: Optional[float] = None, **args) -> Dict[str, Any]:
    """Client side: one request to the node process; the whole response (result and node
    summary). Raises NodeNotRunning, RemoteError."""
    path = socket_path(node_dir)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    address, fd = None, None
    try:
        try:
            address, fd = _short(path)
            s.connect(address)
        except (FileNotFoundError, ConnectionRefusedError):
            raise NodeNotRunning(f"node {node_dir} is not running (start it with `cryptnode -n "
                                 f"{node_dir} boot`)") from None
        finally:
            if fd is not None:
                os.close(fd)
        f = s.makefile("rwb")
        f.write((json.dumps({"op": op, "args": args}) + "\n").encode())
        f.flush()
        line = f.readline()
    finally:
        s.close()
    if not line:
        raise RemoteError("Unavailable", "unavailable",
                          f"node {node_dir}: the node process closed the connection")
    resp = json.loads(line)
    if not resp.get("ok"):
        err = resp.get("error", {})
        raise RemoteError(err.get("type", "Error"), err.get("code", ""), err.get("message", ""),
                          resp.get("node"))
    return resp


def request(node_dir: str, op: str, **args) -> Any:
    """One request; its result."""
    return call(node_dir, op, **args).get("result")


def encode_config(config: bytes) -> str:
    return base64.b64encode(config).decode()


def no_core_dumps() -> None:
    """The node process holds volume keys (the userspace backend's XTS keys), unsealed TPM blobs
    and passphrases while it serves: a core dump would write them to disk. RLIMIT_CORE 0 (soft and
    hard, inherited by the swtpm it starts) and PR_SET_DUMPABLE 0 (no dump, no ptrace attach by
    another process of the same user). An embedding Python process decides for itself."""
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE, 0
    except (OSError, AttributeError):
        pass  # RLIMIT_CORE 0 already refuses the dump


def main(argv=None) -> int:
    """python -m cryptnode.daemon NODE_DIR READY_FD [--config-stdin]: open, boot, serve; reports
    {"ok": ..., "result": summary} on READY_FD once the socket is listening. node.log is opened
    only once the directory is known to be a node's."""
    argv = sys.argv[1:] if argv is None else argv
    node_dir, ready_fd = argv[0], int(argv[1])
    no_core_dumps()
    config = sys.stdin.buffer.read() if "--config-stdin" in argv[2:] else None
    ready = os.fdopen(ready_fd, "w")
    os.chdir("/")

    def report(resp: Dict[str, Any]) -> None:
        ready.write(json.dumps(resp) + "\n")
        ready.close()

    try:
        node = Node.open(node_dir)
    except Exception as e:  # noqa: BLE001
        report(_failure(type(e).__name__, getattr(e, "code", ""), safe_message(e)))
        return 1
    log = os.open(os.path.join(node_dir, "node.log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND,
                  0o600)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    _log(f"node process {os.getpid()}: boot")
    try:
        node.boot(config=config)
    except Exception as e:  # noqa: BLE001
        _log(f"boot: {type(e).__name__}")
        report(_failure(type(e).__name__, getattr(e, "code", ""), safe_message(e)))
        node.close()
        return 1
    if not node.powered_on:  # a crash at an armed point during boot
        report({"ok": True, "result": node_summary(node)})
        node.close()
        return 0
    serve(node, socket_path(node_dir),
          ready=lambda: report({"ok": True, "result": node_summary(node)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
