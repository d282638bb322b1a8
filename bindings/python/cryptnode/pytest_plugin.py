"""pytest plugin for cryptnode suites (registered by scenarios/conftest.py and by the `pytest11`
entry point of the installed package).

- markers: vm (boots a real kernel under QEMU), slow, exhaustive (deselected by `make test`), tpm
  (needs swtpm), kms (needs the KMS server)
- fixtures: node, node_factory (simulated nodes in the test's tmp dir, closed afterwards), kms (a
  KMS server, stopped afterwards), crash_at (the helper below)
- crash_at(node, point, operation, *args): arm a fault point, run the operation, check the node
  lost power exactly there
- a session check that fails the run if a loop device, mount or swtpm process is left behind by
  THIS session: new since the session started, and beneath the directories it owns
  (session_roots): its basetemp (where tmp_path, and so the fixtures' nodes, lie) and, for a
  session run by a test, the directories of the session that ran it. A loop device is placed by its
  backing file, a mount by its target, a swtpm process by its command line, its working directory
  and the symlinks its command line names (a state directory whose path holds a comma is named
  through <run dir>/state). What other suites or concurrent sessions make elsewhere is theirs, even
  when they share an ancestor. fusectl is never a leftover.
  Under pytest-xdist each worker checks what lies beneath its own basetemp (pytest-N/popen-gwX),
  never another worker's nodes, and hands its findings to the controller, which fails the run and
  names the worker; the controller then checks its whole pytest-N once every worker is done.

State lives in config.stash, not in module globals: several sessions (pytester, xdist) can share
one interpreter."""

from __future__ import annotations

import json
import os
import re
from typing import Any, Callable, Dict, List, Optional, Union

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
ROOTS = pytest.StashKey[List[str]]()  # the directories this session owns (session_roots)
PREVIOUS_ROOTS_ENV = pytest.StashKey[Optional[str]]()
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


# The directories a running session owns (its basetemp, and those of the sessions whose test
# started it), as a JSON list: the leak check of this session reads it, and a session started by
# one of its tests inherits it through the environment.
ROOTS_ENV = "CRYPTNODE_PYTEST_ROOTS"


def session_roots(basetemp: Optional[str], inherited: Optional[str], xdist_worker: bool) -> List[str]:
    """The directories whose contents a session owns: its basetemp (an xdist worker's is
    pytest-N/popen-gwX, a controller's pytest-N) and, unless it is an xdist worker, the roots it
    inherited (`inherited`, the value of ROOTS_ENV it started with): a session run by a test owns
    what it leaves in that test's directories, since the test waits for it. A worker inherits its
    controller's environment, which names the whole pytest-N: it keeps its own directory only."""
    roots = [basetemp] if basetemp else []
    if not xdist_worker:
        roots += [r for r in _parse_roots(inherited) if r not in roots]
    return roots


def _parse_roots(text: Optional[str]) -> List[str]:
    """The directories a ROOTS_ENV value names (nothing when absent or not a JSON list)."""
    try:
        value = json.loads(text) if text else []
    except ValueError:
        return []
    return [r for r in value if isinstance(r, str)] if isinstance(value, list) else []


def _beneath(path: str, root: str) -> bool:
    root = root.rstrip("/")
    return path == root or path.startswith(root + "/")


def _names(text: str, root: str) -> bool:
    """`text` (a command line) names `root` or a path beneath it."""
    return re.search(re.escape(root.rstrip("/")) + r"(?=[/\s,:]|$)", text) is not None


def _process_places(pid: str) -> List[str]:
    """Where a process works: its working directory and the targets of the symlinks its command
    line names (swtpm reaches a state directory whose path holds a comma through
    <run dir>/state, docs/tpm-and-firmware.md)."""
    places = []
    try:
        places.append(os.readlink(f"/proc/{pid}/cwd"))
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            args = f.read().decode(errors="replace").split("\0")
    except OSError:
        return places
    for arg in args:
        for field in arg.split(","):
            path = field.split("=", 1)[-1]
            if path.startswith("/") and os.path.islink(path):
                places.append(os.path.realpath(path))
    return places


def _ours(kind: str, key: str, where: str, roots: List[str]) -> bool:
    """A loop device whose backing file, a mount whose target, a process whose command line,
    working directory or linked paths lie beneath one of `roots`."""
    if kind != "swtpm processes":
        return any(_beneath(where, r) for r in roots)
    if any(_names(where, r) for r in roots):
        return True
    return any(_beneath(p, r) for p in _process_places(key) for r in roots)


def _current_roots() -> Optional[List[str]]:
    text = os.environ.get(ROOTS_ENV)
    return _parse_roots(text) if text else None


def leftovers(before: Dict[str, Dict[str, str]], after: Dict[str, Dict[str, str]],
              roots: Optional[List[str]] = None) -> Dict[str, list]:
    """What appeared since `before` beneath `roots` (default: the running session's, ROOTS_ENV;
    everything new outside a session). Loop devices, mounts and swtpm processes elsewhere — another
    suite's /tmp/..., a concurrent session's or xdist worker's nodes — are not this session's. An
    item is new when its name or what it names changed: a loop device (or a pid) that another
    session held at the snapshot and this one has taken since is this one's."""
    if roots is None:
        roots = _current_roots()
    out = {}
    for kind, items in after.items():
        new = sorted(k for k, where in items.items()
                     if before.get(kind, {}).get(k) != where
                     and (roots is None or _ours(kind, k, where, roots)))
        if new:
            out[kind] = new
    return out


def settled_leftovers(before: Dict[str, Dict[str, str]], roots: Optional[List[str]] = None,
                      tries: int = 5, pause: float = 0.5) -> Dict[str, list]:
    """leftovers(), asked again while some remain: a loop device the kernel detaches a moment
    after its last close is not a leak."""
    import time
    leaks = leftovers(before, snapshot(), roots)
    for _ in range(tries):
        if not leaks:
            break
        time.sleep(pause)
        leaks = leftovers(before, snapshot(), roots)
    return leaks


def _describe(leaks: Dict[str, list]) -> str:
    now = snapshot()
    parts = []
    for kind, items in leaks.items():
        named = [f"{k} ({now[kind][k]})" if now[kind].get(k, k) != k else k for k in items]
        parts.append(f"{kind}: {', '.join(named)}")
    return "; ".join(parts)


def pytest_sessionstart(session):
    config = session.config
    factory = getattr(config, "_tmp_path_factory", None)
    basetemp = str(factory.getbasetemp()) if factory is not None else None
    roots = session_roots(basetemp, os.environ.get(ROOTS_ENV), hasattr(config, "workerinput"))
    config.stash[ROOTS] = roots
    config.stash[PREVIOUS_ROOTS_ENV] = os.environ.get(ROOTS_ENV)
    os.environ[ROOTS_ENV] = json.dumps(roots)
    config.stash[SNAPSHOT] = snapshot()
    config.stash[WORKER_LEAKS] = []


def _restore_roots_env(config) -> None:
    """An in-process session (pytester) hands the environment back as it found it."""
    previous = config.stash.get(PREVIOUS_ROOTS_ENV, None)
    if previous is None:
        os.environ.pop(ROOTS_ENV, None)
    else:
        os.environ[ROOTS_ENV] = previous


def pytest_sessionfinish(session, exitstatus):
    before = session.config.stash.get(SNAPSHOT, None)
    if before is None:
        return
    leaks = settled_leftovers(before, session.config.stash.get(ROOTS, []))
    _restore_roots_env(session.config)
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
    closed (powered off, loop devices detached) at the end of the test, and the test fails if a
    node's swtpm run directory (Node.swtpm_run_dir) is still there after that."""
    reason = _node_support_missing()
    if reason:
        pytest.skip(reason)
    from cryptnode import Node

    made, runs = [], []

    def make(**kwargs):
        n = Node.create(tmp_path / f"node{len(made)}", **kwargs)
        made.append(n)
        runs.append(n.swtpm_run_dir)
        return n

    yield make
    for n in reversed(made):
        n.close()
    # A node leaves nothing behind once closed, its swtpm's run directory included.
    left = [r for r in runs if os.path.exists(r)]
    if left:
        pytest.fail("cryptnode leak check: swtpm run directory left after close: " + ", ".join(left))


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
