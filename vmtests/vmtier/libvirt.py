"""libvirt: transient domains (type qemu, i.e. TCG) driven with virsh. The URI is a setting,
CRYPTNODE_LIBVIRT_URI (default qemu:///system). For the local system URI, virtlogd and libvirtd are
started when they do not answer (no systemd here) and stopped by close() — only those this object
started. Each domain is destroyed at its time bound; its console file, run directory and libvirt's
per-domain log are removed once it is gone (kept, and named, when the boot failed)."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import time
from xml.sax.saxutils import escape

from . import tracking
from .boot import (CMDLINE, VIRTIOFSD, BootResult, BootSpec, Hypervisor,
                   runs_dir)
from .tpm import GuestTpm
from .tracking import TRACKER

DEFAULT_URI = "qemu:///system"
DAEMONS = (("virtlogd", "/run/virtlogd.pid"), ("libvirtd", "/run/libvirtd.pid"))
PREFIX = "cnvmt-"


class LibvirtUnavailable(Exception):
    pass


def uri() -> str:
    return os.environ.get("CRYPTNODE_LIBVIRT_URI") or DEFAULT_URI


def virsh(*args, timeout=30, check=False):
    return subprocess.run(["virsh", "-q", "-c", uri(), *args], capture_output=True, text=True,
                          timeout=timeout, check=check)


def _pidfile_pid(path):
    try:
        with open(path) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def _answers() -> bool:
    try:
        return virsh("uri", timeout=15).returncode == 0
    except (subprocess.TimeoutExpired, OSError):
        return False


def domain_xml(name, guest, spec: BootSpec, console: str, tpm_socket=None) -> str:
    e = escape
    disks = []
    for i, d in enumerate(spec.disks + [_job_disk(spec)]):
        disks.append(
            f"<disk type='file' device='disk'><driver name='qemu' type='raw'/>"
            f"<source file='{e(d.path)}'/><target dev='vd{chr(ord('a') + i)}' bus='virtio'/>"
            + ("<readonly/>" if d.readonly else "") + f"<serial>{e(d.serial)}</serial></disk>")
    fs = memback = ""
    if spec.share_host_root:
        memback = "<memoryBacking><source type='memfd'/><access mode='shared'/></memoryBacking>"
        fs = (f"<filesystem type='mount' accessmode='passthrough'><driver type='virtiofs'/>"
              f"<binary path='{VIRTIOFSD}'><cache mode='none'/><sandbox mode='chroot'/></binary>"
              f"<source dir='/'/><target dir='hostroot'/></filesystem>")
    tpm = ""
    if tpm_socket:  # a swtpm the tier started (vmtier/tpm.py), not libvirt's emulator backend
        tpm = (f"<tpm model='tpm-crb'><backend type='external'><source type='unix' mode='connect' "
               f"path='{e(tpm_socket)}'/></backend></tpm>")
    return f"""<domain type='qemu'>
  <name>{e(name)}</name>
  <memory unit='MiB'>{spec.memory_mib}</memory><vcpu>1</vcpu>{memback}
  <os><type arch='x86_64' machine='q35'>hvm</type><kernel>{e(guest.kernel)}</kernel>
    <initrd>{e(guest.initrd)}</initrd><cmdline>{e(CMDLINE)}</cmdline></os>
  <features><acpi/></features><cpu mode='maximum'/>
  <on_poweroff>destroy</on_poweroff><on_reboot>destroy</on_reboot><on_crash>destroy</on_crash>
  <devices><emulator>/usr/bin/qemu-system-x86_64</emulator>
    {''.join(disks)}
    {fs}{tpm}
    <serial type='file'><source path='{e(console)}'/><target port='0'/></serial>
    <controller type='usb' model='none'/><memballoon model='none'/>
  </devices>
</domain>
"""


def _job_disk(spec):
    from .boot import Disk

    return Disk(spec.job, "vmtjob", True)


class Libvirt(Hypervisor):
    backend = "libvirt"

    def __init__(self, guest, log=print):
        super().__init__(guest)
        self.uri = uri()
        self.started = []  # (name, pid) of daemons this object started
        if not shutil.which("virsh"):
            raise LibvirtUnavailable("virsh is not installed (libvirt-clients)")
        if not _answers():
            if self.uri != DEFAULT_URI:
                raise LibvirtUnavailable(f"{self.uri} does not answer (not started: not local)")
            self._start_daemons(log)
        self.description = f"libvirt {self.uri}" + (
            " (virtlogd and libvirtd started by the VM tier)" if self.started else "")
        TRACKER.probes.append(self._leftover_domains)

    def _start_daemons(self, log):
        for name, pidfile in DAEMONS:
            pid = _pidfile_pid(pidfile)
            if pid and tracking.pid_alive(pid) and name in tracking.pid_cmdline(pid):
                continue
            exe = shutil.which(name) or f"/usr/sbin/{name}"
            if not os.path.exists(exe):
                self.close()
                raise LibvirtUnavailable(f"{name} is not installed (libvirt-daemon-system)")
            r = subprocess.run([exe, "-d"], stdin=subprocess.DEVNULL, capture_output=True,
                               text=True, timeout=30)
            end = time.monotonic() + 15
            pid = None
            while time.monotonic() < end:
                pid = _pidfile_pid(pidfile)
                if pid and tracking.pid_alive(pid):
                    break
                time.sleep(0.1)
            if not pid or not tracking.pid_alive(pid):
                self.close()
                raise LibvirtUnavailable(f"{name} -d did not start (exit {r.returncode}: "
                                         f"{(r.stderr or r.stdout).strip()[-300:]})")
            self.started.append((name, pid))
            TRACKER.started(pid, f"{name} (started by the VM tier)", session=True)
            log(f"vm: started {name} (pid {pid})")
        end = time.monotonic() + 30
        while time.monotonic() < end:
            if _answers():
                return
            time.sleep(0.3)
        self.close()
        raise LibvirtUnavailable(f"libvirtd started but {self.uri} does not answer")

    def _leftover_domains(self):
        try:
            r = virsh("list", "--all", "--name", timeout=15)
        except (subprocess.TimeoutExpired, OSError):
            return []
        mine = f"{PREFIX}{os.getpid()}-"
        return [f"libvirt domain {n}" for n in r.stdout.split() if n.startswith(mine)]

    def boot(self, spec: BootSpec) -> BootResult:
        self.boots += 1
        name = f"{PREFIX}{os.getpid()}-{self.boots}-{spec.name}"
        run = os.path.join(runs_dir(), name)
        shutil.rmtree(run, ignore_errors=True)
        os.makedirs(run)
        os.chmod(run, 0o755)
        console = os.path.join(run, "console.log")
        xml = os.path.join(run, "domain.xml")
        notes = []
        bound = spec.bound()
        timed_out = False
        t0 = time.monotonic()
        tpm = GuestTpm(spec.tpm_state, run, name) if spec.tpm_state else None
        try:
            with open(xml, "w") as f:
                f.write(domain_xml(name, self.guest, spec, console,
                                   tpm.start(for_libvirt=True) if tpm else None))
            for p in [d.path for d in spec.disks] + [spec.job, self.guest.kernel, run]:
                TRACKER.make_traversable(p)
            TRACKER.domains.add(name)
            r = virsh("create", xml, timeout=120)
            if r.returncode != 0:
                notes.append(f"virsh create failed: {r.stderr.strip()}")
                TRACKER.domains.discard(name)
            else:
                while True:
                    st = virsh("domstate", name, timeout=30)
                    if st.returncode != 0:
                        break  # the transient domain is gone: powered off, crashed or rebooted
                    if time.monotonic() - t0 > bound:
                        timed_out = True
                        notes.append(f"destroyed after {bound:.0f} s (bound {spec.timeout:.0f} s "
                                     f"x load factor {bound / spec.timeout:.2f})")
                        virsh("destroy", name, timeout=60)
                    time.sleep(0.2)
        finally:
            if name in TRACKER.domains:
                if virsh("domstate", name, timeout=30).returncode == 0:
                    virsh("destroy", name, timeout=60)
                TRACKER.domains.discard(name)
            if tpm:
                tpm.stop()
            TRACKER.restore_modes()
        seconds = time.monotonic() - t0
        try:
            with open(console, errors="replace") as f:
                text = f.read()
        except OSError:
            text = ""
        result = BootResult(self.backend, name, text, seconds, timed_out, notes=notes)
        # libvirt never removes its per-domain logs (QEMU's, virtiofsd's): move them into the run
        # directory, which goes too unless the boot failed.
        for p in glob.glob(f"/var/log/libvirt/qemu/{name}*.log*"):
            shutil.move(p, os.path.join(run, "libvirt-" + os.path.basename(p)))
        qlog = os.path.join(run, f"libvirt-{name}.log")
        if result.exit_status == 0 and not timed_out:
            shutil.rmtree(run, ignore_errors=True)
        else:
            if os.path.exists(qlog):
                with open(qlog, errors="replace") as f:
                    result.notes.append("libvirt QEMU log tail:\n" + f.read()[-1500:])
            result.notes.append(f"files kept in {run}")
            result.run_dir = run
        return result

    def close(self) -> None:
        for name, pid in reversed(self.started):
            tracking.stop_pid(pid, grace=10)
            if not tracking.pid_alive(pid):
                TRACKER.pids.pop(pid, None)
        self.started = []
