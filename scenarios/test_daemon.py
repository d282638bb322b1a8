"""The node process's API socket (run/api.sock): concurrent clients, a deadline per request, clients
that vanish, only the owning user, and nothing secret in a reply or in node.log."""

import json
import os
import socket
import stat
import threading
import time

import pytest

from cryptnode import daemon

BASE = "version: v1alpha1\nmachine:\n  type: worker\n"
SECRET = "TopSecretPass123"
WITH_SECRET = (BASE + "---\napiVersion: v1alpha1\nkind: VolumeConfig\nname: EPHEMERAL\n"
               "encryption:\n  provider: luks2\n  keys:\n    - slot: 0\n      static:\n"
               f"        passphrase: {SECRET}\n")


def raw(sock_path, payload: bytes, read=True):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(60)
    s.connect(sock_path)
    s.sendall(payload)
    if not read:
        return s
    with s:
        return json.loads(s.makefile("rb").readline())


@pytest.fixture
def running(cli, node_dir, tmp_path):
    base = tmp_path / "base.yaml"
    base.write_text(BASE)
    r = cli("-n", node_dir, "boot", "--config", base)
    assert r.returncode == 0, r
    return node_dir


def test_run_dir_and_socket_are_the_owners_only(running):
    run = running / "run"
    assert stat.S_IMODE(os.stat(run).st_mode) == 0o700
    assert stat.S_ISSOCK(os.stat(run / "api.sock").st_mode)
    assert stat.S_IMODE(os.stat(run / "api.sock").st_mode) == 0o600


def test_an_idle_connection_blocks_nobody(cli, running):
    idle = [raw(str(running / "run" / "api.sock"), b"", read=False) for _ in range(3)]
    half = raw(str(running / "run" / "api.sock"), b'{"op": "sta', read=False)
    try:
        t = time.monotonic()
        r = cli("-n", running, "get", "volumestatus", "-o", "json", timeout=60)
        assert r.returncode == 0, r
        assert time.monotonic() - t < daemon.REQUEST_TIMEOUT  # not after the idle ones' deadline
    finally:
        for s in idle + [half]:
            s.close()


@pytest.fixture
def short_deadline(monkeypatch):
    """The node process booted after this gives a client 1 s, not 10, to send its request."""
    monkeypatch.setenv("CRYPTNODE_REQUEST_TIMEOUT", "1")
    return 1.0


def test_an_idle_connection_is_dropped_after_its_deadline(short_deadline, running):
    s = raw(str(running / "run" / "api.sock"), b"", read=False)
    with s:
        s.settimeout(short_deadline + 30)
        assert s.recv(1) == b""  # the node process closed it


def test_concurrent_requests_are_served_one_operation_at_a_time(running):
    path = str(running / "run" / "api.sock")
    results = []

    def ask(op):
        results.append(raw(path, (json.dumps({"op": op, "args": {}}) + "\n").encode()))

    threads = [threading.Thread(target=ask, args=(op,)) for op in
               ["reboot", "status", "status", "meta", "reboot", "status"]]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert len(results) == 6 and all(r["ok"] for r in results), results
    assert all(r["node"]["state"] == "running" for r in results)


def test_bad_requests_get_errors_not_a_dead_node(cli, running):
    path = str(running / "run" / "api.sock")
    assert raw(path, b"not json\n")["error"]["message"] == "bad request: not JSON"
    assert "unknown operation" in raw(path, b'{"op": "format_everything"}\n')["error"]["message"]
    assert raw(path, b'[1, 2]\n')["error"]["message"] == "bad request"
    assert raw(path, b'{"op": "status", "args": []}\n')["error"]["message"] == "bad request"
    r = raw(path, b'{"op": "apply_config", "args": {"config_b64": "%%%"}}\n')
    assert "base64" in r["error"]["message"]
    assert cli("-n", running, "get", "volumestatus").returncode == 0


def test_a_wrong_argument_type_never_echoes_the_config(running):
    path = str(running / "run" / "api.sock")
    req = {"op": "apply_config", "args": {"config_b64": daemon.encode_config(WITH_SECRET.encode()),
                                          "mode": "auto", "insecure": "yes"}}
    r = raw(path, (json.dumps(req) + "\n").encode())
    assert not r["ok"] and SECRET not in json.dumps(r)
    assert "Invoked with" not in r["error"]["message"]
    req["args"].update(insecure=False, mode=["auto"])
    r = raw(path, (json.dumps(req) + "\n").encode())
    assert not r["ok"] and SECRET not in json.dumps(r)
    req = {"op": "apply_config", "args": {"config_b64": daemon.encode_config(WITH_SECRET.encode()),
                                          "unexpected": 1}}
    r = raw(path, (json.dumps(req) + "\n").encode())
    assert not r["ok"] and SECRET not in json.dumps(r)
    assert SECRET not in (running / "node.log").read_text()


class _FakeApp:
    def handle(self, req):
        return {"ok": True, "result": "served", "node": {}}


def test_a_peer_of_another_user_is_refused(tmp_path):
    """SO_PEERCRED: a server owned by another uid refuses this process's connection."""
    path = str(tmp_path / "run" / "api.sock")
    server = daemon.Server(path, _FakeApp(), owner_uid=os.geteuid() + 4242)
    t = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    t.start()
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(60)
            s.connect(path)
            try:
                s.sendall(b'{"op": "status"}\n')
            except BrokenPipeError:
                pass  # refused and closed before the request was written: the reply is there
            r = json.loads(s.makefile("rb").readline())
        assert not r["ok"] and r["error"]["code"] == "permission_denied"
        assert f"uid {os.geteuid()} is not the node's owner" in r["error"]["message"]
    finally:
        server.shutdown()
        server.server_close()
    assert not os.path.exists(path)


def test_the_owner_is_served_and_a_long_socket_path_works(tmp_path):
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    path = str(deep / "run" / "api.sock")
    assert len(path) > 108
    server = daemon.Server(path, _FakeApp())
    t = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    t.start()
    try:
        resp = daemon.call(str(deep), "status", timeout=30)
        assert resp["result"] == "served"
    finally:
        server.shutdown()
        server.server_close()


def test_the_server_makes_run_0700_even_if_it_exists(tmp_path):
    run = tmp_path / "run"
    run.mkdir(mode=0o755)
    os.chmod(run, 0o755)
    (run / "api.sock").write_text("stale")  # a crashed owner's leftover
    old = os.umask(0)
    try:
        server = daemon.Server(str(run / "api.sock"), _FakeApp())
    finally:
        os.umask(old)
    try:
        assert stat.S_IMODE(os.stat(run).st_mode) == 0o700
        assert stat.S_IMODE(os.stat(run / "api.sock").st_mode) == 0o600
        assert stat.S_ISSOCK(os.stat(run / "api.sock").st_mode)
    finally:
        server.server_close()
