"""The node process behind the CLI (DESIGN.md §3): `cryptnode -n DIR boot` starts it in the
background; it owns the node (loop devices, mounts, FUSE) until shutdown, the way a VM process owns
a VM, and serves the other CLI commands over a unix socket in the node directory (run/api.sock).

Protocol: one JSON object per line each way. Request {"op": ..., "args": {...}}; response
{"ok": true, "result": ...} or {"ok": false, "error": {"type": ..., "code": ..., "message": ...}}.
Config YAML travels over the socket, never on a command line."""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import threading
from typing import Any, Callable, Dict

from .node import Node


def socket_path(node_dir: str) -> str:
    return os.path.join(node_dir, "run", "api.sock")


def status_dict(st) -> Dict[str, Any]:
    return {
        "id": st.id, "phase": st.phase, "preFailPhase": st.pre_fail_phase,
        "errorMessage": st.error_message, "location": st.location,
        "mountLocation": st.mount_location, "size": st.size, "filesystem": st.filesystem,
        "encryptionProvider": st.encryption_provider, "encryptionSlot": st.encryption_slot,
        "encryptionFailedSyncs": list(st.failed_syncs),
        "encryptionLockedToState": st.locked_to_state,
        "configuredEncryptionKeys": list(st.configured_keys),
        "tpmEncryptionOptions": ({"pcrs": st.pcrs, "pubKeyPcrs": st.pub_key_pcrs}
                                 if st.pub_key_pcrs is not None else None),
    }


def node_summary(node: Node) -> Dict[str, Any]:
    return {"path": node.path, "powered_on": node.powered_on, "maintenance": node.maintenance,
            "running": node.running, "volumes": [status_dict(s) for s in node.volumes()]}


class Server:
    def __init__(self, node: Node):
        self.node = node
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.ops: Dict[str, Callable[..., Any]] = {
            "status": lambda: node_summary(node),
            "apply_config": lambda yaml, mode="auto", insecure=False: node.apply_config(
                yaml, mode, insecure),
            "reset": lambda labels, reboot=False, graceful=True: node.reset(labels, reboot,
                                                                           graceful),
            "reboot": node.reboot,
            "advance": node.advance,
            "meta": node.meta,
            "luks_dump": node.luks_dump,
            "events": lambda: [{"time_ms": e.time_ms, "step": e.step, "message": e.message}
                               for e in node.events()],
            "shutdown": self._shutdown,
        }

    def _shutdown(self):
        self.node.shutdown()
        self.stop.set()
        return None

    def handle(self, req: Dict[str, Any]) -> Dict[str, Any]:
        op = self.ops.get(req.get("op", ""))
        if op is None:
            return {"ok": False, "error": {"type": "InvalidArgument", "code": "invalid_argument",
                                           "message": f"unknown operation {req.get('op')!r}"}}
        try:
            with self.lock:
                return {"ok": True, "result": op(**req.get("args", {}))}
        except Exception as e:  # noqa: BLE001 - every error goes back to the client
            return {"ok": False, "error": {"type": type(e).__name__,
                                           "code": getattr(e, "code", ""), "message": str(e)}}

    def serve(self, path: str) -> None:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if os.path.exists(path):
            os.unlink(path)
        srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        srv.bind(path)
        os.chmod(path, 0o600)
        srv.listen(8)
        srv.settimeout(0.2)
        try:
            while not self.stop.is_set():
                try:
                    conn, _ = srv.accept()
                except socket.timeout:
                    continue
                with conn:
                    f = conn.makefile("rwb")
                    line = f.readline()
                    if not line:
                        continue
                    try:
                        req = json.loads(line)
                    except json.JSONDecodeError as e:
                        resp = {"ok": False, "error": {"type": "InvalidArgument",
                                                       "code": "invalid_argument",
                                                       "message": f"bad request: {e}"}}
                    else:
                        resp = self.handle(req)
                    f.write((json.dumps(resp) + "\n").encode())
                    f.flush()
        finally:
            srv.close()
            if os.path.exists(path):
                os.unlink(path)


def request(node_dir: str, op: str, **args) -> Any:
    """Client side: one request to the node process. Raises RuntimeError-derived errors."""
    path = socket_path(node_dir)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(path)
    except (FileNotFoundError, ConnectionRefusedError):
        raise NodeNotRunning(f"node {node_dir} is not running (start it with `cryptnode -n "
                             f"{node_dir} boot`)") from None
    with s:
        f = s.makefile("rwb")
        f.write((json.dumps({"op": op, "args": args}) + "\n").encode())
        f.flush()
        resp = json.loads(f.readline() or b"{}")
    if not resp.get("ok"):
        err = resp.get("error", {})
        raise RemoteError(err.get("type", "Error"), err.get("code", ""), err.get("message", ""))
    return resp.get("result")


class NodeNotRunning(RuntimeError):
    pass


class RemoteError(RuntimeError):
    def __init__(self, type_name: str, code: str, message: str):
        super().__init__(message)
        self.type_name, self.code = type_name, code


def main(argv=None) -> int:
    """python -m cryptnode.daemon NODE_DIR READY_FD [CONFIG_FILE]: open, boot, report on READY_FD,
    serve until shutdown."""
    argv = sys.argv[1:] if argv is None else argv
    node_dir, ready_fd = argv[0], int(argv[1])
    config = None
    if len(argv) > 2:
        with open(argv[2]) as f:
            config = f.read()
    ready = os.fdopen(ready_fd, "w")
    try:
        node = Node.open(node_dir)
        node.boot(config=config)
    except Exception as e:  # noqa: BLE001
        ready.write(json.dumps({"ok": False, "error": {"type": type(e).__name__,
                                                        "message": str(e)}}) + "\n")
        ready.close()
        return 1
    server = Server(node)
    signal.signal(signal.SIGTERM, lambda *_: server.stop.set())
    ready.write(json.dumps({"ok": True, "result": node_summary(node)}) + "\n")
    ready.close()
    try:
        server.serve(socket_path(node_dir))
    finally:
        node.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
