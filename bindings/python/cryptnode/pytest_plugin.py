"""pytest plugin for cryptnode suites (registered by scenarios/conftest.py and by the `pytest11`
entry point of the installed package).

- markers: vm (boots a real kernel under QEMU), slow, exhaustive (deselected by `make test`), tpm
  (needs swtpm), kms (needs the KMS server)
- fixtures: node, node_factory (simulated nodes in the test's tmp dir, closed afterwards), kms (a
  KMS server, stopped afterwards), crash_at (the helper below)
- crash_at(node, point, operation, *args): arm a fault point, run the operation, check the node
  lost power exactly there
- a session check that fails the run if a loop device, mount or swtpm process is left behind by
  THIS session: new since the session started, and beneath this session's temporary directories
  (tmp_path, where the fixtures make nodes) or those of a session that ran this one; what other
  suites or concurrent sessions make elsewhere is theirs. fusectl is never a leftover.
  Under pytest-xdist each worker checks what lies beneath its own directory (pytest-N/popen-gwX,
  where its fixtures make nodes), never another worker's nodes, and hands its findings to the
  controller, which fails the run and names the worker; the controller then checks the whole
  session once every worker is done. A session started by a test of a worker (PYTEST_XDIST_WORKER
  is inherited) is confined to that worker's directory the same way.

State lives in config.stash, not in module globals: several sessions (pytester, xdist) can share
one interpreter."""

from __future__ import annotations

import os
import re
from typing import Any, Callable, Dict, Optional, Set, Union

import pytest

from .host import fuse_mounts, loop_devices, mounts, swtpm_processes

__all__ = ["crash_at", "fuse_mounts", "loop_devices", "snapshot", "leftovers"]

MARKERS = {
    "vm": "boots a real kernel under libvirt/QEMU (slow; skipped where QEMU or a kernel is absent)",
    "slow": "takes more than a few seconds",
    "exhaustive": "beyond the default run's representative subset (the full crash matrix): "
                  "`make test` deselects it, `make test-exhaustive` runs it",
    "tpm": "needs swtpm",
    "kms": "needs the gRPC KMS server",
}

SNAPSHOT = pytest.StashKey[Dict[str, Dict[str, str]]]()
WORKER_LEAKS = pytest.StashKey[list]()  # the controller: what workers' leak checks found
_WORKER_OUTPUT = "cryptnode_leaks"  # the key of a worker's finding in xdist's workeroutput


def pytest_configure(config):
    for name, text in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {text}")


# --- leak check -----------------------------------------------------------------------------

def snapshot() -> Dict[str, Dict[str, str]]:
    """What a node can leave behind, each item with the path that tells whose it is:
    {"loop devices": {dev: backing file}, "mounts": {target: target},
     "swtpm processes": {pid: command line}}."""
    return {"loop devices": loop_devices(),
            "mounts": {m.target: m.target for m in mounts()},
            "swtpm processes": swtpm_processes()}


# A pytest session's base temporary directory, anywhere in a path or a command line.
_SESSION_DIR = re.compile(r"((?:/[^/\s=]+)*/pytest-of-[^/\s]+/pytest-\d+)(?=/|\s|$)")
# An xdist worker's directory right below a session's: pytest-N/popen-gwX (xdist's
# workermanage.py).
_WORKER_DIR = re.compile(r"/popen-(gw\d+)(?=/|\s|$)")


def _session_pid(where: str) -> Optional[int]:
    """The pid of the pytest session whose temporary directory `where` names (pytest writes it to
    pytest-N/.lock while the session runs), or None."""
    matches = list(_SESSION_DIR.finditer(where))
    if not matches:
        return None
    m = matches[-1]  # the innermost: a session's directory may sit in another's
    try:
        with open(m.group(1) + "/.lock") as f:
            return int(f.read().strip() or 0) or None
    except (OSError, ValueError):
        return None


def _family() -> Set[int]:
    """This process and its ancestors: a session started by a test of an outer session shares
    that session's leftovers."""
    pids, pid = set(), os.getpid()
    while pid > 1 and pid not in pids:
        pids.add(pid)
        try:
            with open(f"/proc/{pid}/stat") as f:
                pid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            break
    return pids


def _worker_of(where: str) -> Optional[str]:
    """The xdist worker ("gw0") whose directory `where` lies in, innermost session first; None
    when it is in no worker's directory."""
    session = list(_SESSION_DIR.finditer(where))
    if not session:
        return None
    m = _WORKER_DIR.match(where, session[-1].end())
    return m.group(1) if m else None


def _ours(where: str, family: Set[int], worker: Optional[str] = None) -> bool:
    """Ours when it lies in a pytest session's temporary directory and that session is this
    process or one of its ancestors. Loop devices, mounts and swtpm processes elsewhere (another
    suite's /tmp/..., another user's nodes) are not this session's. Inside an xdist worker
    (`worker` = its PYTEST_XDIST_WORKER), what lies in another worker's directory is that
    worker's."""
    if _session_pid(where) not in family:
        return False
    owner = _worker_of(where)
    return worker is None or owner is None or owner == worker


def leftovers(before: Dict[str, Dict[str, str]],
              after: Dict[str, Dict[str, str]]) -> Dict[str, list]:
    """What appeared since `before` and belongs to this session (to this xdist worker, in one).
    An item is new when its name or what it names changed: a loop device (or a pid) that another
    session held at the snapshot and this one has taken since is this one's."""
    family = _family()
    worker = os.environ.get("PYTEST_XDIST_WORKER") or None
    out = {}
    for kind, items in after.items():
        new = sorted(k for k, where in items.items()
                     if before.get(kind, {}).get(k) != where and _ours(where, family, worker))
        if new:
            out[kind] = new
    return out


def settled_leftovers(before: Dict[str, Dict[str, str]], tries: int = 5,
                      pause: float = 0.5) -> Dict[str, list]:
    """leftovers(), asked again while some remain: a loop device the kernel detaches a moment
    after its last close, or another process's short-lived one, is not a leak."""
    import time
    leaks = leftovers(before, snapshot())
    for _ in range(tries):
        if not leaks:
            break
        time.sleep(pause)
        leaks = leftovers(before, snapshot())
    return leaks


def _describe(leaks: Dict[str, list]) -> str:
    now = snapshot()
    parts = []
    for kind, items in leaks.items():
        named = [f"{k} ({now[kind][k]})" if now[kind].get(k, k) != k else k for k in items]
        parts.append(f"{kind}: {', '.join(named)}")
    return "; ".join(parts)


def pytest_sessionstart(session):
    session.config.stash[SNAPSHOT] = snapshot()
    session.config.stash[WORKER_LEAKS] = []


def pytest_sessionfinish(session, exitstatus):
    before = session.config.stash.get(SNAPSHOT, None)
    if before is None:
        return
    leaks = settled_leftovers(before)
    if hasattr(session.config, "workeroutput"):
        # An xdist worker: its own directory only; the controller reports and fails the run.
        if leaks:
            session.config.workeroutput[_WORKER_OUTPUT] = _describe(leaks)
        return
    found = list(session.config.stash.get(WORKER_LEAKS, []))
    if leaks:
        found.append("left behind after the session: " + _describe(leaks))
    if found:
        tr = session.config.pluginmanager.get_plugin("terminalreporter")
        for line in found:
            text = "cryptnode leak check: " + line
            if tr:
                tr.write_line(text, red=True)
            else:
                print(text)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    """xdist's controller: a worker finished; keep what its leak check found."""
    text = getattr(node, "workeroutput", {}).get(_WORKER_OUTPUT)
    if text:
        worker = node.workerinput.get("workerid", "?") if hasattr(node, "workerinput") else "?"
        node.config.stash.setdefault(WORKER_LEAKS, []).append(
            f"left behind by xdist worker {worker}: {text}")


# --- node fixtures ----------------------------------------------------------------------------

def _node_support_missing() -> Optional[str]:
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


@pytest.fixture
def kms():
    """A KMS server on 127.0.0.1 (kms.endpoint, kms.set_fault(...)), stopped after the test."""
    from cryptnode import KmsServer
    server = KmsServer.start()
    yield server
    server.stop()


def crash_at(node, point: str, operation: Union[str, Callable[..., Any]], *args: Any,
             **kwargs: Any) -> None:
    """Arms `point`, runs `operation` (a Node method name or a callable) and checks that the node
    lost power exactly there: crash_at(node, "meta.between_copies", "apply_config", text)."""
    from cryptnode import fault_points
    names = [n for n, _ in fault_points()]
    if point.split("#", 1)[0] not in names:  # "<point>#<N>": the Nth reach
        pytest.fail(f"crash_at: {point!r} is not a fault point", pytrace=False)
    node.crash_at(point)
    op = getattr(node, operation) if isinstance(operation, str) else operation
    op(*args, **kwargs)
    if node.last_crash != point:
        pytest.fail(f"crash_at: the operation did not reach fault point {point!r} "
                    f"(last crash: {node.last_crash or 'none'})", pytrace=False)
    if node.powered_on:
        pytest.fail(f"crash_at: the node is still powered on after crashing at {point!r}",
                    pytrace=False)


@pytest.fixture(name="crash_at")
def _crash_at_fixture():
    """The crash_at helper, as a fixture."""
    return crash_at
