"""What the VM tier started and must stop: domains, processes (QEMU, virtiofsd, swtpm), the libvirt
daemons, and directory permissions it opened for the libvirt-qemu user. Every boot undoes its own
effects in a finally block; the session-end check (vmtests/conftest.py) asks `leftovers()` and
fails the run if anything survived."""

from __future__ import annotations

import os
import signal
import time


def pid_alive(pid: int) -> bool:
    """Running and not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def pid_cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def stop_pid(pid: int, grace: float = 5.0) -> None:
    """SIGTERM, then SIGKILL after grace seconds; only this one pid."""
    if not pid_alive(pid):
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    end = time.monotonic() + grace
    while time.monotonic() < end:
        if not pid_alive(pid):
            return
        time.sleep(0.05)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


class Tracker:
    def __init__(self):
        self.pids: dict[int, str] = {}  # pid -> what it is
        self.session_pids: set[int] = set()  # the daemons: alive until the session ends
        self.domains: set[str] = set()  # libvirt domains created and not yet seen gone
        self.modes: dict[str, int] = {}  # path -> original mode (dirs made traversable)
        self.probes = []  # callables returning a list of leftover descriptions

    # processes
    def started(self, pid: int, what: str, session: bool = False) -> None:
        self.pids[pid] = what
        if session:
            self.session_pids.add(pid)

    def stop(self, pid: int) -> None:
        stop_pid(pid)
        if not pid_alive(pid):
            self.pids.pop(pid, None)

    # permissions
    def make_traversable(self, path: str) -> None:
        """chmod o+x on every directory from path up to /, remembering the old modes (QEMU runs as
        libvirt-qemu under libvirt; a 0700 tmp dir would hide the disk images)."""
        d = os.path.dirname(os.path.abspath(path)) if not os.path.isdir(path) else path
        while True:
            st = os.stat(d)
            if not st.st_mode & 0o001:
                self.modes.setdefault(d, st.st_mode & 0o7777)
                os.chmod(d, (st.st_mode & 0o7777) | 0o001)
            if d == "/":
                break
            d = os.path.dirname(d)

    def restore_modes(self) -> None:
        for d, mode in sorted(self.modes.items(), key=lambda kv: -len(kv[0])):
            try:
                os.chmod(d, mode)
            except FileNotFoundError:
                pass
        self.modes.clear()

    def leftovers(self, include_session: bool = True) -> list[str]:
        """What is still alive or not undone; include_session=False leaves out the daemons that
        live until the end of the session (for a check right after one boot)."""
        out = [f"{what} (pid {pid})" for pid, what in self.pids.items() if pid_alive(pid)
               and (include_session or pid not in self.session_pids)]
        out += [f"permissions of {d} not restored" for d in self.modes]
        out += [f"process {pid}: {cmd[:160]}" for pid, cmd in self.processes_named()
                if pid not in self.pids]
        for probe in self.probes:
            out += probe()
        return out

    @staticmethod
    def processes_named(mark=None):
        """(pid, cmdline) of live processes whose command line names this session's domains or
        run directories (QEMU, virtiofsd, swtpm started for them, by libvirt or by us)."""
        mark = mark or f"cnvmt-{os.getpid()}-"
        found = []
        for d in os.listdir("/proc"):
            if d.isdigit() and int(d) != os.getpid():
                cmd = pid_cmdline(int(d))
                if mark in cmd and pid_alive(int(d)):
                    found.append((int(d), cmd))
        return found

    def cleanup(self) -> None:
        for pid in list(self.pids):
            self.stop(pid)
        for pid, _ in self.processes_named():
            stop_pid(pid)
        self.restore_modes()


TRACKER = Tracker()
