"""What a boot is (BootSpec), what it gave (BootResult), and choosing the hypervisor: libvirt
(domain type qemu, TCG) when its daemons run or can be started, plain QEMU otherwise."""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass, field
from typing import Optional

from . import vm_dir
from .guest import Guest

DEFAULT_TIMEOUT = float(os.environ.get("CRYPTNODE_VM_TIMEOUT", "240"))
# A boot gets this many seconds on an idle host; the bound scales up with the host's load
# (2 shared cores under TCG), never down.
CMDLINE = "console=ttyS0 panic=-1 quiet loglevel=4"
VIRTIOFSD = "/usr/lib/qemu/virtiofsd"


@dataclass
class Disk:
    path: str
    serial: str  # the guest finds it by /sys/block/vdX/serial (at most 20 characters)
    readonly: bool = True


@dataclass
class BootSpec:
    name: str  # short label, part of the domain name
    disks: list
    job: str  # the job disk (vmtier.job.Job.write)
    memory_mib: int = 512
    share_host_root: bool = False  # virtiofs tag "hostroot", source "/"
    # A TPM (tpm-crb) backed by a swtpm on a copy of this state directory (vmtier/tpm.py).
    tpm_state: Optional[str] = None
    timeout: float = DEFAULT_TIMEOUT
    stretch: bool = True  # multiply the bound by load_factor()

    def bound(self) -> float:
        return self.timeout * (load_factor() if self.stretch else 1.0)


class VmFailure(AssertionError):
    pass


@dataclass
class BootResult:
    backend: str
    name: str
    console: str
    seconds: float
    timed_out: bool = False
    exit_status: Optional[int] = None  # from "VMT: EXIT n"; None: the guest never got there
    notes: list = field(default_factory=list)
    run_dir: Optional[str] = None  # kept for a failed boot (console, domain XML, logs)

    def __post_init__(self):
        m = re.findall(r"^VMT: EXIT (\d+)", self.console, re.MULTILINE)
        if m:
            self.exit_status = int(m[-1])

    def lines(self, tag: str) -> list:
        """The text after "VMT: TAG " of every such console line."""
        pre = f"VMT: {tag} "
        return [ln[len(pre):].strip() for ln in self.console.splitlines() if ln.startswith(pre)]

    def tail(self, n: int = 40) -> str:
        return "\n".join(self.console.splitlines()[-n:])

    def describe(self) -> str:
        what = ("killed at the time bound" if self.timed_out else
                "ended without reaching the end of /init (panic or crash?)"
                if self.exit_status is None else f"job exit status {self.exit_status}")
        return (f"VM {self.name} ({self.backend}, {self.seconds:.1f} s): {what}\n"
                + "".join(n + "\n" for n in self.notes)
                + f"--- console tail ---\n{self.tail()}")

    def discard(self) -> None:
        """Remove the files kept for a failed boot (tests that fail a boot on purpose)."""
        if self.run_dir:
            shutil.rmtree(self.run_dir, ignore_errors=True)
            self.run_dir = None

    def check(self) -> "BootResult":
        """Raise VmFailure with the console tail unless the job ran and exited 0."""
        if self.timed_out or self.exit_status != 0:
            raise VmFailure(self.describe())
        return self


def load_factor() -> float:
    """The bound is stretched by the host's load: TCG on two shared cores slows with it."""
    try:
        load = os.getloadavg()[0]
    except OSError:
        return 1.0
    cores = os.cpu_count() or 1
    return max(1.0, min(4.0, load / cores))


KEEP_FAILED = 20


def runs_dir() -> str:
    """<vm_dir>/runs: one directory per boot, removed after a good boot; the most recent
    KEEP_FAILED of failed boots are kept for a look."""
    d = os.path.join(vm_dir(), "runs")
    os.makedirs(d, exist_ok=True)
    kept = sorted((os.path.getmtime(os.path.join(d, n)), n) for n in os.listdir(d))
    for _, n in kept[:-KEEP_FAILED] if len(kept) > KEEP_FAILED else []:
        shutil.rmtree(os.path.join(d, n), ignore_errors=True)
    return d


def qemu_unavailable() -> Optional[str]:
    if not shutil.which("qemu-system-x86_64"):
        return "qemu-system-x86_64 is not installed (scripts/setup --vm)"
    return None


class Hypervisor:
    """boot(spec) -> BootResult; one guest at a time. close() stops what this object started."""

    backend = "?"
    description = "?"

    def __init__(self, guest: Guest):
        self.guest = guest
        self.boots = 0

    def boot(self, spec: BootSpec) -> BootResult:
        raise NotImplementedError

    def close(self) -> None:
        pass


def choose(guest: Guest, log=print) -> Hypervisor:
    """CRYPTNODE_VM_BACKEND=auto (default) | libvirt | qemu. auto: libvirt, plain QEMU when
    libvirt cannot start (said so in the description)."""
    from .libvirt import Libvirt, LibvirtUnavailable
    from .qemu import Qemu

    want = os.environ.get("CRYPTNODE_VM_BACKEND", "auto")
    if want not in ("auto", "libvirt", "qemu"):
        raise ValueError(f"CRYPTNODE_VM_BACKEND={want!r} is not one of auto, libvirt, qemu")
    if want == "qemu":
        return Qemu(guest, "plain QEMU (CRYPTNODE_VM_BACKEND=qemu)")
    try:
        return Libvirt(guest, log=log)
    except LibvirtUnavailable as e:
        if want == "libvirt":
            raise
        return Qemu(guest, f"plain QEMU (fallback: libvirt unavailable: {e})")
