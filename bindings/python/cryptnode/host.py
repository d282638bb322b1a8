"""What a node can leave on the host: loop devices, mounts (FUSE included) and swtpm processes.
Read from /sys and /proc only (no tools); used by the pytest plugin's leak check and by
`cryptnode -n DIR shutdown` when it clears a crashed node process's leftovers."""

from __future__ import annotations

import glob
import os
from typing import Dict, List, NamedTuple


class Mount(NamedTuple):
    source: str
    target: str
    fstype: str


def _unescape(field: str) -> str:
    """/proc/mounts escapes space, tab, newline and backslash as \\ooo."""
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and i + 3 < len(field) and field[i + 1:i + 4].isdigit():
            out.append(chr(int(field[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def loop_devices() -> Dict[str, str]:
    """Attached loop devices: {"/dev/loop3": "/path/to/backing"}."""
    out = {}
    for path in glob.glob("/sys/block/loop*/loop/backing_file"):
        name = path.split("/")[3]
        try:
            with open(path) as f:
                out["/dev/" + name] = f.read().strip()
        except OSError:
            pass
    return out


def mounts() -> List[Mount]:
    """Every mount except fusectl (the FUSE control filesystem the userspace backend mounts once
    per host to abort a connection: it is not a node's)."""
    try:
        with open("/proc/self/mounts") as f:
            lines = f.read().splitlines()
    except OSError:
        return []
    out = []
    for line in lines:
        parts = line.split()
        if len(parts) >= 3 and parts[2] != "fusectl":
            out.append(Mount(_unescape(parts[0]), _unescape(parts[1]), parts[2]))
    return out


def fuse_mounts() -> set:
    """Mount points of FUSE filesystems (type fuse or fuse.*)."""
    return {m.target for m in mounts() if m.fstype == "fuse" or m.fstype.startswith("fuse.")}


def swtpm_processes() -> Dict[str, str]:
    """Running swtpm processes: {pid: command line}."""
    out = {}
    for comm in glob.glob("/proc/[0-9]*/comm"):
        try:
            with open(comm) as f:
                if f.read().strip() != "swtpm":
                    continue
            with open(comm[:-4] + "cmdline", "rb") as f:
                out[comm.split("/")[2]] = f.read().replace(b"\0", b" ").decode(
                    errors="replace").strip()
        except OSError:
            pass
    return out


def _beneath(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def node_leftovers(node_dir: str) -> Dict[str, List[str]]:
    """What belongs to the node directory: loop devices backed by its disk images, mounts beneath
    it, swtpm processes whose command line names it."""
    root = os.path.realpath(node_dir)
    return {
        "loop devices": sorted(dev for dev, backing in loop_devices().items()
                               if _beneath(backing, root)),
        "mounts": sorted(m.target for m in mounts() if _beneath(m.target, root)),
        "swtpm processes": sorted(pid for pid, cmd in swtpm_processes().items() if root in cmd),
    }


def describe(leftovers: Dict[str, List[str]]) -> str:
    """ "2 loop devices (/dev/loop3, /dev/loop4), 1 mount (...)" or "" when there are none."""
    parts = []
    for kind, items in leftovers.items():
        if items:
            name = _SINGULAR.get(kind, kind) if len(items) == 1 else kind
            parts.append(f"{len(items)} {name} ({', '.join(items)})")
    return ", ".join(parts)


_SINGULAR = {"loop devices": "loop device", "mounts": "mount", "swtpm processes": "swtpm process",
             "FUSE mounts": "FUSE mount"}
