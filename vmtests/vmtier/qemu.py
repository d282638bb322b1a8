"""Plain QEMU (TCG), the fallback when libvirt cannot start: the same guest, disks, console file
and time bound. QEMU runs in its own process group and is killed at the bound; virtiofsd (when the
host root is shared) is started and stopped here."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time

from . import tracking
from .boot import (CMDLINE, VIRTIOFSD, BootResult, BootSpec, Hypervisor,
                   runs_dir)
from .tpm import GuestTpm
from .tracking import TRACKER


def qemu_argv(guest, spec: BootSpec, console: str, vfs_socket=None, tpm_socket=None) -> list:
    argv = ["qemu-system-x86_64", "-machine", "q35", "-accel", "tcg", "-cpu", "max",
            "-m", str(spec.memory_mib), "-smp", "1", "-display", "none", "-monitor", "none",
            "-serial", f"file:{console}", "-no-reboot", "-nic", "none", "-nodefaults",
            "-kernel", guest.kernel, "-initrd", guest.initrd, "-append", CMDLINE]
    disks = list(spec.disks)
    for i, d in enumerate(disks):
        ro = ",readonly=on" if d.readonly else ""
        argv += ["-drive", f"file={d.path},if=none,id=d{i},format=raw{ro}",
                 "-device", f"virtio-blk-pci,drive=d{i},serial={d.serial}"]
    argv += ["-drive", f"file={spec.job},if=none,id=job,format=raw,readonly=on",
             "-device", "virtio-blk-pci,drive=job,serial=vmtjob"]
    if vfs_socket:
        argv += ["-object", f"memory-backend-memfd,id=mem,size={spec.memory_mib}M,share=on",
                 "-numa", "node,memdev=mem", "-chardev", f"socket,id=vfs,path={vfs_socket}",
                 "-device", "vhost-user-fs-pci,chardev=vfs,tag=hostroot"]
    if tpm_socket:  # a swtpm the tier started (vmtier/tpm.py)
        argv += ["-chardev", f"socket,id=chrtpm,path={tpm_socket}",
                 "-tpmdev", "emulator,id=tpm0,chardev=chrtpm", "-device", "tpm-crb,tpmdev=tpm0"]
    return argv


class Qemu(Hypervisor):
    backend = "qemu"

    def __init__(self, guest, description="plain QEMU"):
        super().__init__(guest)
        self.description = description

    def boot(self, spec: BootSpec) -> BootResult:
        self.boots += 1
        name = f"cnvmt-{os.getpid()}-{self.boots}-{spec.name}"
        run = os.path.join(runs_dir(), name)
        shutil.rmtree(run, ignore_errors=True)
        os.makedirs(run)
        console = os.path.join(run, "console.log")
        vfs = proc = None
        notes = []
        bound = spec.bound()
        t0 = time.monotonic()
        timed_out = False
        tpm = GuestTpm(spec.tpm_state, run, name) if spec.tpm_state else None
        try:
            sock = None
            if spec.share_host_root:
                sock = os.path.join(run, "vfs.sock")
                vfs = subprocess.Popen([VIRTIOFSD, f"--socket-path={sock}", "-o", "source=/",
                                        "-o", "cache=none", "-o", "sandbox=chroot"],
                                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                       stderr=open(os.path.join(run, "virtiofsd.log"), "w"),
                                       start_new_session=True)
                TRACKER.started(vfs.pid, f"virtiofsd for {name}")
                end = time.monotonic() + 10
                while not os.path.exists(sock) and time.monotonic() < end and vfs.poll() is None:
                    time.sleep(0.05)
                if not os.path.exists(sock):
                    notes.append("virtiofsd did not create its socket")
            argv = qemu_argv(self.guest, spec, console, sock,
                             tpm.start(for_libvirt=False) if tpm else None)
            with open(os.path.join(run, "qemu.log"), "w") as log:
                proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                        start_new_session=True)
            TRACKER.started(proc.pid, f"qemu {name}")
            try:
                proc.wait(timeout=bound)
            except subprocess.TimeoutExpired:
                timed_out = True
                notes.append(f"killed after {bound:.0f} s (bound {spec.timeout:.0f} s x load "
                             f"factor {bound / spec.timeout:.2f})")
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            if proc.returncode not in (0, None) and not timed_out:
                with open(os.path.join(run, "qemu.log")) as f:
                    notes.append(f"qemu exited {proc.returncode}: {f.read()[-2000:]}")
        finally:
            if proc is not None:
                if proc.poll() is None:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
                TRACKER.pids.pop(proc.pid, None)
            if vfs is not None:
                try:
                    vfs.wait(timeout=5)  # exits with QEMU
                except subprocess.TimeoutExpired:
                    tracking.stop_pid(vfs.pid)
                    vfs.wait()
                TRACKER.pids.pop(vfs.pid, None)
            if tpm:
                tpm.stop()
        seconds = time.monotonic() - t0
        try:
            with open(console, errors="replace") as f:
                text = f.read()
        except OSError:
            text = ""
        result = BootResult(self.backend, name, text, seconds, timed_out, notes=notes)
        if result.exit_status == 0 and not timed_out:
            shutil.rmtree(run, ignore_errors=True)
        else:
            result.notes.append(f"files kept in {run}")
            result.run_dir = run
        return result
