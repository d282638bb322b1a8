"""Garbage on the node process's API socket (run/api.sock): random and malformed frames.

The daemon (bindings/python/cryptnode/daemon.py) is Python, out of libFuzzer's reach, so this is
its fuzz target: a property test that drives the real node process with seeded random frames and
hand-made hostile ones. Properties, for every frame:

- the reply is at most one line, and exactly one when the client sent a request line;
- that line is a JSON failure {"ok": false, "error": {type, code, message}} whose message is one
  line (an operation that reads — status, meta, events, luks_dump — may succeed);
- the node process then closes the connection;
- no request escapes the handler (node.log never says "a client's request failed", which is what
  socketserver's handle_error logs when an exception leaves it);
- afterwards the same node process still serves, with its volumes as before.

The seed is fixed (DAEMON_GARBAGE_SEED overrides it, DAEMON_GARBAGE_FRAMES the count); a failing
frame is reported with its index and its first bytes.
"""

import json
import os
import random
import socket

import pytest

from conftest import run_cli
from cryptnode import daemon

BASE = "version: v1alpha1\nmachine:\n  type: worker\n"
SEED = int(os.environ.get("DAEMON_GARBAGE_SEED", "1712"))
FRAMES = int(os.environ.get("DAEMON_GARBAGE_FRAMES", "300"))
READ_ONLY = ["status", "meta", "events", "luks_dump"]
# Operations that change the node: a garbage frame names them only with an argument no operation
# takes, so the call fails on its arguments before it runs.
MUTATING = ["apply_config", "reset", "patch_config", "upgrade", "reboot", "advance", "crash_at",
            "shutdown"]
ESCAPED = "a client's request failed"


@pytest.fixture(scope="module")
def running(tmp_path_factory):
    """One node process for every test here (each checks that it still serves afterwards)."""
    if os.geteuid() != 0:
        pytest.skip("simulated nodes need root")
    tmp = tmp_path_factory.mktemp("garbage")
    node_dir = tmp / "n"
    base = tmp / "base.yaml"
    base.write_text(BASE)
    r = run_cli("node", "create", node_dir)
    assert r.returncode == 0, r
    r = run_cli("-n", node_dir, "boot", "--config", base)
    assert r.returncode == 0, r
    yield node_dir
    run_cli("-n", node_dir, "shutdown")


def exchange(path: str, payload: bytes, timeout: float = 60) -> bytes:
    """Sends payload, closes the sending side, returns everything the node process wrote before
    it closed the connection."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    with s:
        s.connect(path)
        try:
            s.sendall(payload)
            s.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the node process answered and closed before reading everything
        out = b""
        while True:
            chunk = s.recv(1 << 16)
            if not chunk:
                return out  # closed by the node process
            out += chunk


# --- frames -----------------------------------------------------------------------------------

def random_json(rng: random.Random, depth: int = 0):
    kinds = ["null", "bool", "int", "float", "str"] + (["list", "dict"] if depth < 4 else [])
    kind = rng.choice(kinds)
    if kind == "null":
        return None
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "int":
        return rng.choice([0, -1, 1, 2**31, -2**63, 2**64, rng.randint(-10**6, 10**6)])
    if kind == "float":
        return rng.choice([0.5, -1e308, 1e-300, rng.uniform(-1e6, 1e6)])
    if kind == "str":
        return random_text(rng)
    if kind == "list":
        return [random_json(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return {random_text(rng): random_json(rng, depth + 1) for _ in range(rng.randint(0, 4))}


def random_text(rng: random.Random) -> str:
    alphabet = "abcXYZ019 _-./\\\"'\n\t\x00\u00e9\u2028\U0001f600\ud800"
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 24)))


def request_frame(rng: random.Random) -> dict:
    """An object that looks like a request: a known or unknown op, garbage arguments."""
    op = rng.choice(READ_ONLY + MUTATING + ["", "Status", "status ", "__init__", "handle",
                                            random_text(rng), rng.randint(0, 9), None, []])
    req = {"op": op}
    if rng.random() < 0.8:
        args = random_json(rng) if rng.random() < 0.3 else {
            rng.choice(["config_b64", "mode", "labels", "to", "point", "seconds", "volume_id",
                        "insecure", random_text(rng)]): random_json(rng)
            for _ in range(rng.randint(0, 3))}
        req["args"] = args
    if op in MUTATING:
        req["args"] = dict(req["args"]) if isinstance(req.get("args"), dict) else {}
        req["args"]["not_an_argument"] = 1
    return req


def mutate(rng: random.Random, data: bytes) -> bytes:
    b = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        what = rng.random()
        if what < 0.4 and b:
            b[rng.randrange(len(b))] = rng.randrange(256)
        elif what < 0.7:
            b.insert(rng.randint(0, len(b)), rng.randrange(256))
        elif b:
            del b[rng.randrange(len(b))]
    return bytes(b)


def random_frame(rng: random.Random) -> bytes:
    kind = rng.random()
    if kind < 0.25:  # bytes
        data = bytes(rng.randrange(256) for _ in range(rng.randint(0, 512)))
    elif kind < 0.5:  # any JSON value
        data = json.dumps(random_json(rng)).encode()
    elif kind < 0.8:  # a request with garbage in it
        data = json.dumps(request_frame(rng), ensure_ascii=rng.random() < 0.5).encode(
            "utf-8", "surrogatepass")
    else:  # a valid read-only request, mutated
        data = mutate(rng, json.dumps({"op": rng.choice(READ_ONLY), "args": {}}).encode())
    data = data.replace(b"\n", b" ") if rng.random() < 0.9 else data  # mostly one line
    return data + (b"\n" if rng.random() < 0.8 else b"")  # or ended by closing


# Hand-made frames: what JSON parsers and line readers get wrong.
HOSTILE = {
    "deeply_nested_array": b"[" * 100000 + b"]" * 100000 + b"\n",
    "deeply_nested_args": b'{"op": "status", "args": ' + b'{"a":' * 50000 + b"1" +
                          b"}" * 50000 + b"}\n",
    "integer_with_5000_digits": b'{"op": "status", "args": {"x": ' + b"7" * 5000 + b"}}\n",
    "nan_and_infinity": b'{"op": "advance", "args": {"seconds": NaN, "x": Infinity}}\n',
    "lone_surrogate": b'{"op": "\\ud800"}\n',
    "invalid_utf8": b'{"op": "\xff\xfe"}\n',
    "utf16_bom": '{"op": "status"}\n'.encode("utf-16"),
    "nul_bytes": b"\0" * 64 + b"\n",
    "only_newline": b"\n",
    "whitespace": b" \t \r\n",
    "no_newline": b'{"op": "status"}',
    "two_requests_in_one_frame": b'{"op": "status"}\n{"op": "shutdown"}\n',
    "duplicate_keys": b'{"op": "shutdown", "op": "status"}\n',
    "args_with_dunder_names": b'{"op": "status", "args": {"__class__": 1}}\n',
    "op_unknown_and_huge": json.dumps({"op": "x" * (1 << 20)}).encode() + b"\n",
    "exactly_too_large": b"[" + b" " * daemon.MAX_REQUEST,
}


def check_reply(path: str, payload: bytes, what: str) -> None:
    out = exchange(path, payload)
    if not payload:  # nothing sent: closed without a reply
        assert out == b"", (what, out[:200])
        return
    assert out.endswith(b"\n") and out.count(b"\n") == 1, (what, payload[:80], out[:300])
    resp = json.loads(out)
    assert isinstance(resp, dict) and "ok" in resp, (what, resp)
    if resp["ok"]:
        assert any(op.encode() in payload for op in READ_ONLY), (what, payload[:80], resp)
        return
    err = resp["error"]
    assert set(err) == {"type", "code", "message"}, (what, err)
    assert isinstance(err["message"], str) and "\n" not in err["message"], (what, err)
    assert "Traceback" not in err["message"], (what, err)


def still_serving(node_dir, pid: int, log_before: int) -> None:
    resp = daemon.call(str(node_dir), "status", timeout=60)
    assert resp["ok"] and resp["node"]["pid"] == pid, resp
    assert resp["node"]["state"] != "off", resp
    log = (node_dir / "node.log").read_text(errors="replace")[log_before:]
    assert ESCAPED not in log, log[-2000:]
    assert "Traceback" not in log, log[-2000:]


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_frame(running, name):
    path = str(running / "run" / "api.sock")
    before = daemon.call(str(running), "status", timeout=60)["node"]
    log_before = len((running / "node.log").read_text(errors="replace"))
    check_reply(path, HOSTILE[name], name)
    still_serving(running, before["pid"], log_before)
    after = daemon.call(str(running), "status", timeout=60)["node"]
    assert after["volumes"] == before["volumes"]


def test_random_frames(running):
    path = str(running / "run" / "api.sock")
    before = daemon.call(str(running), "status", timeout=60)["node"]
    log_before = len((running / "node.log").read_text(errors="replace"))
    rng = random.Random(SEED)
    for i in range(FRAMES):
        frame = random_frame(rng)
        check_reply(path, frame, f"seed {SEED} frame {i}: {frame[:60]!r}")
    still_serving(running, before["pid"], log_before)
    after = daemon.call(str(running), "status", timeout=60)["node"]
    assert after["volumes"] == before["volumes"]
    assert after["clockMs"] == before["clockMs"]  # no garbage frame advanced the clock
