"""The guest's TPM: a swtpm the tier starts itself on a copy of a node's TPM state (the node's
swtpm state directory, `<node>/tpm`), which QEMU reaches over swtpm's control socket — libvirt as
`<tpm model='tpm-crb'><backend type='external'>`, plain QEMU as `-chardev socket` + `-tpmdev
emulator`. The copy lives in the boot's run directory, so the node's own state is never touched
and the leak check finds the swtpm by its command line; it is removed when the boot ends (it holds
the TPM's seeds), whether the boot went well or not."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import time
from typing import Optional

from . import tracking
from .tracking import TRACKER

QEMU_USER = "libvirt-qemu"  # whom libvirt runs QEMU as (qemu:///system)


class GuestTpm:
    def __init__(self, state_src: str, run_dir: str, name: str):
        if not os.path.isdir(state_src) or not os.listdir(state_src):
            raise ValueError(f"TPM state {state_src!r} is not a non-empty directory (a node's "
                             f"<node>/tpm after a boot with tpm=True)")
        self.state_src = state_src
        self.dir = os.path.join(run_dir, "tpm")
        self.state = os.path.join(self.dir, "state")
        self.socket = os.path.join(self.dir, "swtpm.sock")
        self.name = name
        self.proc: Optional[subprocess.Popen] = None

    def start(self, for_libvirt: bool) -> str:
        """Copy the state, start swtpm; returns the control socket path QEMU connects to."""
        if shutil.which("swtpm") is None:
            raise RuntimeError("swtpm is not installed (Debian package swtpm)")
        shutil.copytree(self.state_src, self.state)
        ctrl = f"type=unixio,path={self.socket}"
        if for_libvirt:  # QEMU runs as libvirt-qemu and connects to the socket
            os.chmod(self.dir, 0o755)
            ctrl += f",mode=0660,uid={pwd.getpwnam(QEMU_USER).pw_uid}"
        log = os.path.join(self.dir, "swtpm.log")
        # Not --daemon: a child the tier waits for (docs/tpm-and-firmware.md). QEMU initialises the
        # TPM over the control channel, and the guest's firmware sends TPM2_Startup.
        self.proc = subprocess.Popen(
            ["swtpm", "socket", "--tpm2", "--tpmstate", f"dir={self.state}", "--ctrl", ctrl,
             "--log", f"file={log}"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True)
        TRACKER.started(self.proc.pid, f"swtpm for {self.name}")
        end = time.monotonic() + 10
        while not os.path.exists(self.socket) and time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"swtpm exited {self.proc.returncode}: {self.log_tail()}")
            time.sleep(0.05)
        if not os.path.exists(self.socket):
            raise RuntimeError(f"swtpm did not create {self.socket}: {self.log_tail()}")
        return self.socket

    def log_tail(self) -> str:
        try:
            with open(os.path.join(self.dir, "swtpm.log"), errors="replace") as f:
                return f.read()[-800:]
        except OSError:
            return ""

    def stop(self) -> None:
        """swtpm exits with QEMU; stop it if it did not, then remove the state copy."""
        if self.proc is not None:
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                tracking.stop_pid(self.proc.pid)
                self.proc.wait()
            TRACKER.pids.pop(self.proc.pid, None)
            self.proc = None
        shutil.rmtree(self.state, ignore_errors=True)
        if os.path.exists(self.socket):
            os.remove(self.socket)
