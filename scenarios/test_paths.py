"""Node directories whose paths hold spaces, non-ASCII letters, shell metacharacters, commas and
`=` (swtpm's option syntax), a tab or a newline work like any other, through Python and through the
CLI: create, boot, write, shutdown, boot again, a kill -9 of the process that owns the powered-on
node, then a boot that recovers — with no loop device, mount or swtpm process left behind
(cryptnode.pytest_plugin.leftovers) and the swtpm state files 0600 (sim/src/firmware/swtpm.cpp).
Paths reach mountinfo escaped (\\040, \\011, \\012, \\134) and sysfs' backing_file raw: both are read
back exactly (docs/design.md)."""

import hashlib
import os
import signal
import subprocess
import sys
import time

import pytest

from configs import NODEID, config, doc
from cryptnode.host import swtpm_processes
from cryptnode.pytest_plugin import leftovers, snapshot

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="simulated nodes need root")

CFG = config(doc("VolumeConfig", "EPHEMERAL", keys=[NODEID]))

NAMES = {
    "spaces-and-letters": "a node dir ünïcødé ノード",
    "shell-metacharacters": "n $(touch PWNED) `id`;&|<>'\"*?[x]{a,b}~!#%\\",
    "tab-and-newline": "tab\there\nnewline -- -n",
    # swtpm splits option values at commas and reads key=value: a path that would add a mode
    "commas-and-equals": "a,b=c,mode=0644,,dir=x ,",
}


def _no_leftovers(before):
    leaks = leftovers(before, snapshot())
    for _ in range(10):  # a loop device detaches a moment after its last close
        if not leaks:
            break
        time.sleep(0.3)
        leaks = leftovers(before, snapshot())
    assert not leaks, f"left behind: {leaks}"


def _tpm_state_is_private(path):
    """The swtpm state (seeds, NV: secrets) is 0600 in a 0700 directory, whatever the path holds."""
    tpm = os.path.join(path, "tpm")
    assert os.stat(tpm).st_mode & 0o777 == 0o700
    files = os.listdir(tpm)
    assert "tpm2-00.permall" in files, files
    for name in files:
        mode = os.lstat(os.path.join(tpm, name)).st_mode & 0o777
        assert mode == 0o600, f"{name}: {oct(mode)}"


def _swtpms_of(path):
    """swtpm processes serving this node: found by its run directory (/run/cryptnode/<16 hex of
    SHA-256(node dir)>, sim/include/cryptnode/sim/swtpm.h), which a command line names whatever the
    node path holds (a path with a comma reaches swtpm through a link there)."""
    run = "/run/cryptnode/" + hashlib.sha256(path.encode()).hexdigest()[:16] + "/"
    return [pid for pid, cmd in swtpm_processes().items() if run in cmd]


def _no_command_ran(root):
    for where in (root, os.getcwd(), "/"):  # a shell would create PWNED in its working directory
        assert not os.path.exists(os.path.join(where, "PWNED")), "a shell ran part of the path in " + str(where)


_OWNER = """
import sys, time
from cryptnode import Node
n = Node.open(sys.argv[1])
n.boot()
n.write_file("EPHEMERAL", "while-killed.txt", b"k")
print("up", flush=True)
time.sleep(600)
"""


def _kill_owner(path):
    """A process that opens and boots the node, then dies by SIGKILL holding it."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    p = subprocess.Popen([sys.executable, "-c", _OWNER, path], stdout=subprocess.PIPE, env=env)
    try:
        assert p.stdout.readline() == b"up\n"
    finally:
        p.send_signal(signal.SIGKILL)
        p.wait()
        p.stdout.close()


@pytest.mark.parametrize("name", list(NAMES.values()), ids=list(NAMES))
def test_python_api_on_a_hostile_path(tmp_path, name):
    from cryptnode import Node
    root = tmp_path / "root"
    root.mkdir()
    path = str(root / name)
    before = snapshot()
    with Node.create(path) as node:
        assert node.path == path
        node.boot(config=CFG)
        node.write_file("EPHEMERAL", "data.txt", b"kept")
        assert node.volume_status("EPHEMERAL").encryption_provider == "luks2"
        _tpm_state_is_private(path)
        assert _swtpms_of(path)
    _no_leftovers(before)
    assert not _swtpms_of(path)
    with Node.open(path) as node:
        node.boot()
        assert node.read_file("EPHEMERAL", "data.txt") == b"kept"
    _no_leftovers(before)

    _kill_owner(path)
    assert leftovers(before, snapshot()), "the killed owner left nothing: the test tests nothing"
    with Node.open(path) as node:  # clears what the killed owner left
        _no_leftovers(before)
        node.boot()
        assert node.volume_status("EPHEMERAL").phase == "ready"
        assert node.read_file("EPHEMERAL", "data.txt") == b"kept"
        assert node.read_file("EPHEMERAL", "while-killed.txt") == b"k"
    _no_leftovers(before)
    assert not _swtpms_of(path)
    _no_command_ran(root)
    assert os.stat(path).st_mode & 0o777 == 0o700


def test_cli_on_a_hostile_path(cli, tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    path = str(root / ("cli " + NAMES["shell-metacharacters"] + " ünï\tx"))
    (tmp_path / "cfg.yaml").write_text(CFG)
    before = snapshot()
    try:
        r = cli("node", "create", path)
        assert r.returncode == 0, r
        r = cli("-n", path, "boot", "--config", tmp_path / "cfg.yaml", "-o", "json")
        assert r.returncode == 0, r
        pid = r.json()["pid"]
        assert {v["id"]: v["phase"] for v in r.json()["volumes"]}["EPHEMERAL"] == "ready"
        assert cli("-n", path, "reboot").returncode == 0
        r = cli("-n", path, "shutdown")
        assert r.returncode == 0, r
        _no_leftovers(before)

        r = cli("-n", path, "boot", "-o", "json")
        assert r.returncode == 0, r
        pid = r.json()["pid"]
        os.kill(pid, signal.SIGKILL)
        for _ in range(100):
            if not os.path.exists(f"/proc/{pid}") or open(f"/proc/{pid}/stat").read().split()[2] == "Z":
                break
            time.sleep(0.05)
        assert leftovers(before, snapshot()), "the killed node process left nothing"
        r = cli("-n", path, "boot", "-o", "json")  # recovers, then boots
        assert r.returncode == 0, r
        assert {v["id"]: v["phase"] for v in r.json()["volumes"]}["EPHEMERAL"] == "ready"
        r = cli("-n", path, "get", "volumestatus")
        assert r.returncode == 0 and "EPHEMERAL" in r.stdout, r
        _tpm_state_is_private(path)
        assert _swtpms_of(path)
    finally:
        cli("-n", path, "shutdown")
    _no_leftovers(before)
    assert not _swtpms_of(path)
    _no_command_ran(root)
