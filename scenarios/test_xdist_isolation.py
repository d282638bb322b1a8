"""Parallel sessions (pytest-xdist): each worker's leak check covers its own directory
(pytest-N/popen-gwX) and never reports another worker's nodes; a worker's leak fails the run and is
named with the worker; nodes of parallel workers do not collide."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from cryptnode import pytest_plugin

ROOT = Path(__file__).resolve().parents[1]


def _session_dir(tmp_path, pid):
    d = tmp_path / "pytest-of-someone" / "pytest-7"
    d.mkdir(parents=True)
    (d / ".lock").write_text(str(pid))
    return d


def test_a_worker_never_sees_another_workers_nodes(tmp_path, monkeypatch):
    session = _session_dir(tmp_path, os.getpid())  # the controller: this process
    mine, theirs = session / "popen-gw0", session / "popen-gw1"
    after = {
        "loop devices": {"/dev/loop2": f"{mine}/test_x0/node0/disks/system.img",
                         "/dev/loop3": f"{theirs}/test_y0/node0/disks/system.img"},
        "mounts": {f"{mine}/test_x0/node0/m": f"{mine}/test_x0/node0/m",
                   f"{theirs}/test_y0/node0/m": f"{theirs}/test_y0/node0/m"},
        "swtpm processes": {"98": f"swtpm socket --tpmstate dir={mine}/test_x0/node0/tpm",
                            "99": f"swtpm socket --tpmstate dir={theirs}/test_y0/node0/tpm"},
    }
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw0")
    assert pytest_plugin.leftovers({}, after) == {
        "loop devices": ["/dev/loop2"],
        "mounts": [f"{mine}/test_x0/node0/m"],
        "swtpm processes": ["98"],
    }
    monkeypatch.delenv("PYTEST_XDIST_WORKER")  # the controller: every worker's
    assert pytest_plugin.leftovers({}, after)["loop devices"] == ["/dev/loop2", "/dev/loop3"]


def test_a_loop_device_another_session_held_at_the_snapshot_is_new_when_reused(tmp_path):
    """Concurrent sessions free and take loop devices all the time: a device that was another
    session's when this one started, then detached and attached again by this session, is this
    session's leak (the snapshot's device names alone would hide it)."""
    session = _session_dir(tmp_path, os.getpid())
    before = {"loop devices": {"/dev/loop4": "/tmp/pytest-of-other/pytest-3/test_z0/disk.img"}}
    after = {"loop devices": {"/dev/loop4": f"{session}/test_x0/leak.img"}}
    assert pytest_plugin.leftovers(before, after) == {"loop devices": ["/dev/loop4"]}
    assert pytest_plugin.leftovers(after, after) == {}


def test_a_worker_dir_named_in_an_unrelated_path_is_not_a_worker(tmp_path):
    session = _session_dir(tmp_path, os.getpid())
    assert pytest_plugin._worker_of(f"{session}/popen-gw3/test_a0/x") == "gw3"
    assert pytest_plugin._worker_of(f"{session}/test_a0/popen-gw3/x") is None
    assert pytest_plugin._worker_of("/srv/popen-gw3/x") is None


def _run_xdist(tmp_path, body):
    """Runs `body` under `pytest -n 2` in a session of its own whose temporary directories lie in
    tmp_path (PYTEST_DEBUG_TEMPROOT), not in the /tmp/pytest-of-<user> that concurrent sessions
    share and clean."""
    (tmp_path / "conftest.py").write_text((ROOT / "scenarios" / "conftest.py").read_text())
    (tmp_path / "test_inner.py").write_text(textwrap.dedent(body))
    (tmp_path / "temproot").mkdir()
    env = dict(os.environ, PYTHONPATH=str(ROOT / "bindings" / "python"),
               PYTEST_DEBUG_TEMPROOT=str(tmp_path / "temproot"))
    env.pop("PYTEST_XDIST_WORKER", None)
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "-n", "2", str(tmp_path)], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=600)


def test_a_workers_leak_fails_the_run_and_names_the_worker(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("needs root (loop devices)")
    pytest.importorskip("xdist")
    r = _run_xdist(tmp_path, """
        import subprocess, time
        def test_leaks(tmp_path):
            img = tmp_path / "leak.img"
            img.write_bytes(b"\\0" * (1 << 20))
            subprocess.run(["losetup", "-f", str(img)], check=True)
        def test_clean(tmp_path):
            img = tmp_path / "clean.img"
            img.write_bytes(b"\\0" * (1 << 20))
            dev = subprocess.run(["losetup", "-f", "--show", str(img)], check=True,
                                 capture_output=True, text=True).stdout.strip()
            subprocess.run(["losetup", "-d", dev], check=True)
    """)
    try:
        assert r.returncode != 0, r.stdout
        workers = [line for line in r.stdout.splitlines()
                   if "cryptnode leak check: left behind by xdist worker" in line]
        assert len(workers) == 1, r.stdout  # the clean worker reports nothing
        assert "leak.img" in workers[0] and "clean.img" not in r.stdout, r.stdout
    finally:
        out = subprocess.run(["losetup", "-a"], capture_output=True, text=True).stdout
        for line in out.splitlines():
            if str(tmp_path) in line:
                subprocess.run(["losetup", "-d", line.split(":")[0]])


def test_parallel_workers_boot_nodes_without_colliding(tmp_path):
    """Two workers each boot an encrypted node at once (loop devices, FUSE mounts, sockets, KMS
    ports, swtpm): both pass and nothing is left behind."""
    if os.geteuid() != 0:
        pytest.skip("needs root")
    pytest.importorskip("xdist")
    r = _run_xdist(tmp_path, """
        import pytest
        from cryptnode.configs import config, kms, node_id, volume_config
        @pytest.mark.parametrize("i", range(2))
        def test_boot(node, i, request):
            kms_server = request.getfixturevalue("kms")
            node.boot(config=config(volume_config(
                "EPHEMERAL", keys=[node_id(0), kms(kms_server.endpoint, slot=1)])))
            assert node.volume_status("EPHEMERAL").phase == "ready"
            node.write_file("EPHEMERAL", "x", b"y" * 4096)
    """)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "2 passed" in r.stdout and "cryptnode leak check" not in r.stdout, r.stdout
