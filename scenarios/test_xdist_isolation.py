"""Parallel sessions (pytest-xdist): each worker's leak check covers its own directory
(pytest-N/popen-gwX) and never reports another worker's nodes, nor a concurrent session's with the
same ancestor; a worker's leak fails the run and is named with the worker; nodes of parallel
workers do not collide."""

import hashlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from cryptnode import pytest_plugin
from cryptnode.host import swtpm_processes

ROOT = Path(__file__).resolve().parents[1]


def _session_dir(tmp_path):
    d = tmp_path / "pytest-of-someone" / "pytest-7"
    d.mkdir(parents=True)
    return d


def test_a_worker_never_sees_another_workers_nodes(tmp_path):
    session = _session_dir(tmp_path)  # the controller's basetemp
    mine, theirs = session / "popen-gw0", session / "popen-gw1"
    after = {
        "loop devices": {"/dev/loop2": f"{mine}/test_x0/node0/disks/system.img",
                         "/dev/loop3": f"{theirs}/test_y0/node0/disks/system.img"},
        "mounts": {f"{mine}/test_x0/node0/m": f"{mine}/test_x0/node0/m",
                   f"{theirs}/test_y0/node0/m": f"{theirs}/test_y0/node0/m"},
        "swtpm processes": {"98": f"swtpm socket --tpmstate dir={mine}/test_x0/node0/tpm",
                            "99": f"swtpm socket --tpmstate dir={theirs}/test_y0/node0/tpm"},
    }
    assert pytest_plugin.leftovers({}, after, roots=[str(mine)]) == {
        "loop devices": ["/dev/loop2"],
        "mounts": [f"{mine}/test_x0/node0/m"],
        "swtpm processes": ["98"],
    }
    # the controller: every worker's
    assert pytest_plugin.leftovers({}, after, roots=[str(session)])["loop devices"] == [
        "/dev/loop2", "/dev/loop3"]


def test_a_loop_device_another_session_held_at_the_snapshot_is_new_when_reused(tmp_path):
    """Concurrent sessions free and take loop devices all the time: a device that was another
    session's when this one started, then detached and attached again by this session, is this
    session's leak (the snapshot's device names alone would hide it)."""
    session = _session_dir(tmp_path)
    before = {"loop devices": {"/dev/loop4": "/tmp/pytest-of-other/pytest-3/test_z0/disk.img"}}
    after = {"loop devices": {"/dev/loop4": f"{session}/test_x0/leak.img"}}
    roots = [str(session)]
    assert pytest_plugin.leftovers(before, after, roots) == {"loop devices": ["/dev/loop4"]}
    assert pytest_plugin.leftovers(after, after, roots) == {}


def test_a_worker_owns_its_directory_and_a_session_run_by_a_test_its_parents_too():
    """An xdist worker inherits its controller's environment, which names the controller's whole
    pytest-N: it keeps its own directory. A session run by a test keeps that test's session's."""
    controller = json.dumps(["/t/pytest-of-root/pytest-4"])
    worker = "/t/pytest-of-root/pytest-4/popen-gw1"
    assert pytest_plugin.session_roots(worker, controller, xdist_worker=True) == [worker]
    inner = "/t/pytest-of-root/pytest-5"
    assert pytest_plugin.session_roots(inner, json.dumps([worker]), xdist_worker=False) == [
        inner, worker]
    assert pytest_plugin.session_roots(inner, None, xdist_worker=False) == [inner]
    assert pytest_plugin.session_roots(inner, "not json", xdist_worker=False) == [inner]


def test_a_path_that_only_starts_like_a_root_is_not_beneath_it():
    root = "/t/pytest-of-root/pytest-1"
    after = {"loop devices": {"/dev/loop6": "/t/pytest-of-root/pytest-10/test_a0/x.img"},
             "swtpm processes": {"97": "swtpm socket --tpmstate dir=/t/pytest-of-root/pytest-10/t"}}
    assert pytest_plugin.leftovers({}, after, roots=[root]) == {}


def test_a_swtpm_named_through_its_run_dir_link_is_this_sessions(tmp_path):
    """swtpm names a state directory whose path holds a comma through <run dir>/state
    (docs/tpm-and-firmware.md): its command line does not name this session's directory, the
    leak check follows the link there."""
    if os.geteuid() != 0:
        pytest.skip("simulated nodes need root")
    from configs import NODEID, config, doc
    from cryptnode import Node
    path = str(tmp_path / "a,b=c")
    run = "/run/cryptnode/" + hashlib.sha256(path.encode()).hexdigest()[:16] + "/"
    before = pytest_plugin.snapshot()
    with Node.create(path) as node:
        node.boot(config=config(doc("VolumeConfig", "EPHEMERAL", keys=[NODEID])))
        swtpms = [pid for pid, cmd in swtpm_processes().items() if run in cmd]
        assert swtpms and not [p for p in swtpms if str(tmp_path) in swtpm_processes()[p]], \
            "no swtpm named only through its link: the test tests nothing"
        leaks = pytest_plugin.leftovers(before, pytest_plugin.snapshot())
        assert set(swtpms) <= set(leaks.get("swtpm processes", [])), leaks
    assert not pytest_plugin.settled_leftovers(before)


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


_NESTED = '''
import time
from pathlib import Path

def test_waits_while_the_other_worker_attaches():
    sync = Path(__file__).parent
    (sync / "nested-started").touch()
    for _ in range(1200):
        if (sync / "attached").exists():
            return
        time.sleep(0.05)
    raise AssertionError("the other worker attached no loop device")
'''


def test_a_concurrent_sessions_loop_device_is_not_this_sessions_leak(tmp_path):
    """Under `pytest -n 2` a test of one worker runs a session of its own (as the tests here do)
    while a test of the other worker attaches a loop device in its own directory. The two share an
    ancestor (the controller) and the device appears after the nested session started, yet it is
    not that session's leak: its directory is neither the nested session's nor its test's."""
    if os.geteuid() != 0:
        pytest.skip("needs root (loop devices)")
    pytest.importorskip("xdist")
    sync = tmp_path / "sync"
    sync.mkdir()
    (sync / "nested.py").write_text(_NESTED)  # not test_*.py: the -n 2 session does not collect it
    r = _run_xdist(tmp_path, f"""
        import os, subprocess, sys, time
        from pathlib import Path
        SYNC = Path({str(sync)!r})

        def wait_for(name):
            for _ in range(1200):
                if (SYNC / name).exists():
                    return
                time.sleep(0.05)
            raise AssertionError("timed out waiting for " + name)

        def test_runs_a_session_of_its_own():
            env = dict(os.environ)
            env.pop("PYTEST_XDIST_WORKER", None)
            try:
                n = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                                    "-p", "cryptnode.pytest_plugin", str(SYNC / "nested.py")],
                                   capture_output=True, text=True, env=env, timeout=300)
            finally:
                (SYNC / "nested-done").touch()
            assert n.returncode == 0 and "leak check" not in n.stdout, n.stdout + n.stderr
            assert "1 passed" in n.stdout, n.stdout

        def test_attaches_while_the_other_session_runs(tmp_path):
            wait_for("nested-started")
            img = tmp_path / "theirs.img"
            img.write_bytes(b"\\0" * (1 << 20))
            dev = subprocess.run(["losetup", "-f", "--show", str(img)], check=True,
                                 capture_output=True, text=True).stdout.strip()
            try:
                (SYNC / "attached").touch()
                wait_for("nested-done")
            finally:
                subprocess.run(["losetup", "-d", dev], check=True)
    """)
    try:
        assert r.returncode == 0, r.stdout + r.stderr
        assert "2 passed" in r.stdout and "cryptnode leak check" not in r.stdout, r.stdout
    finally:
        out = subprocess.run(["losetup", "-a"], capture_output=True, text=True).stdout
        for line in out.splitlines():
            if str(tmp_path) in line:
                subprocess.run(["losetup", "-d", line.split(":")[0]])
