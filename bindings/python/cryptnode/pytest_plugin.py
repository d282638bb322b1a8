"""pytest plugin for cryptnode suites (registered by scenarios/conftest.py and by the `pytest11`
entry point of the installed package).

- markers: vm (boots a real kernel under QEMU), slow, tpm (needs swtpm), kms (needs the KMS server)
- fixtures: node, node_factory (simulated nodes in the test's tmp dir, closed afterwards)
- a session check that fails the run if a loop device, FUSE mount or swtpm process is left behind
  that was not there when the session started."""

from __future__ import annotations

import glob
import os
import subprocess

import pytest

MARKERS = {
    "vm": "boots a real kernel under libvirt/QEMU (slow; skipped where QEMU or a kernel is absent)",
    "slow": "takes more than a few seconds",
    "tpm": "needs swtpm",
    "kms": "needs the gRPC KMS server",
}


def pytest_configure(config):
    for name, text in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {text}")


# --- leak check -----------------------------------------------------------------------------

def loop_devices():
    """Attached loop devices: {"/dev/loop3": "/path/to/backing"}."""
    out = {}
    for d in glob.glob("/sys/block/loop*/loop/backing_file"):
        name = d.split("/")[3]
        try:
            with open(d) as f:
                out["/dev/" + name] = f.read().strip()
        except OSError:
            pass
    return out


def fuse_mounts():
    """FUSE filesystems (type fuse or fuse.*); fusectl, the control filesystem the userspace
    backend mounts to abort a connection, is not one."""
    try:
        with open("/proc/mounts") as f:
            return {line.split()[1] for line in f
                    if line.split()[2] == "fuse" or line.split()[2].startswith("fuse.")}
    except OSError:
        return set()


def swtpm_processes():
    try:
        out = subprocess.run(["pgrep", "-x", "swtpm"], capture_output=True, text=True).stdout
    except OSError:
        return set()
    return set(out.split())


def snapshot():
    return {"loop devices": set(loop_devices()), "FUSE mounts": fuse_mounts(),
            "swtpm processes": swtpm_processes()}


def pytest_sessionstart(session):
    session.config._cryptnode_before = snapshot()


def pytest_sessionfinish(session, exitstatus):
    before = getattr(session.config, "_cryptnode_before", None)
    if before is None or hasattr(session.config, "workerinput"):
        return  # xdist workers: the controller checks
    after = snapshot()
    leaks = {k: sorted(after[k] - before[k]) for k in after if after[k] - before[k]}
    if leaks:
        tr = session.config.pluginmanager.get_plugin("terminalreporter")
        text = "cryptnode leak check: left behind after the session: " + "; ".join(
            f"{k}: {', '.join(v)}" for k, v in leaks.items())
        if tr:
            tr.write_line(text, red=True)
        else:
            print(text)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


# --- node fixtures ----------------------------------------------------------------------------

def _node_support_missing():
    try:
        from cryptnode import Node  # noqa: F401
    except ImportError:
        return "this build of cryptnode has no simulated node"
    if os.geteuid() != 0:
        return "simulated nodes need root (loop devices, mounts)"
    for p in ("/dev/loop-control", "/dev/fuse"):
        if not os.path.exists(p):
            return f"simulated nodes need {p}"
    return None


@pytest.fixture
def node_factory(tmp_path):
    """node_factory(**Node.create kwargs) -> a new Node in the test's tmp dir; every node made is
    closed (powered off, loop devices detached) at the end of the test."""
    reason = _node_support_missing()
    if reason:
        pytest.skip(reason)
    from cryptnode import Node

    made = []

    def make(**kwargs):
        n = Node.create(tmp_path / f"node{len(made)}", **kwargs)
        made.append(n)
        return n

    yield make
    for n in reversed(made):
        n.close()


@pytest.fixture
def node(node_factory):
    """A fresh node (1 GiB system disk + a 512 MiB disk for user volumes), not yet booted."""
    return node_factory()
