"""The engine itself with the `kernel` activation backend (libcryptsetup -> kernel dm-crypt, as Talos
runs it), inside the guest: the host's root is shared read-only over virtiofs and used as a chroot
(/usr/bin/python3, the build tree's cryptnode package, mkfs.xfs), a scratch disk holds the node
directory, and a boot -> two-step key rotation -> reset EPHEMERAL -> reboot scenario
(vmtests/guest/flows.py, flow rotate_reset) runs there on real loop devices and dm-crypt, without
udev. Its result comes back over the console."""

import os
import subprocess

import pytest

import cryptnode
from vmtier.boot import BootSpec, Disk
from vmtier.job import Job

pytestmark = [pytest.mark.vm, pytest.mark.slow]

FLOWS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "guest", "flows.py")


def package_root():
    """The directory holding the cryptnode package this run imports (the build tree's)."""
    return os.path.dirname(os.path.dirname(os.path.abspath(cryptnode.__file__)))


def scratch_disk(path, size=4 << 30):
    with open(path, "wb") as f:
        f.truncate(size)
    subprocess.run(["mkfs.ext4", "-q", "-F", "-L", "scratch", path], check=True,
                   capture_output=True)
    return Disk(path, "scratch", readonly=False)


def engine_job(flows, udev_disabled, tmp_path):
    with open(FLOWS, "rb") as f:
        job = Job("engine-scenario").add_file("flows.py", f.read())
    job.line("pythonpath", package_root())
    job.line("script", "flows.py")
    for a in ("--dir", "/tmp/nodes", "--backend", "kernel", "--flows", flows):
        job.line("arg", a)
    if udev_disabled:
        job.line("env", "DM_DISABLE_UDEV=1")
    return job.write(str(tmp_path / "job"))


def test_engine_kernel_backend_boot_rotate_reset_reboot_in_guest(vm, tmp_path):
    if os.geteuid() != 0:
        pytest.skip("sharing the host's root with the guest (virtiofsd) needs root")
    if not os.path.exists("/usr/lib/qemu/virtiofsd"):
        pytest.skip("/usr/lib/qemu/virtiofsd is missing (qemu-system-common)")
    spec = BootSpec("engine", [scratch_disk(str(tmp_path / "scratch.img"))],
                    engine_job("rotate_reset", False, tmp_path), memory_mib=1024,
                    share_host_root=True, timeout=600)
    result = vm.boot(spec)
    print(result.describe())  # shown with -rP: the engine's own lines and timings
    result.check()
    start = result.lines("ENGINE-START")
    assert start and "loop_control=yes" in start[0] and "dm_control=yes" in start[0], start
    assert "udev=no" in start[0], start  # no udev in the guest, and none needed
    flows = result.lines("FLOW")
    assert flows and flows[0].startswith("rotate_reset ok"), result.describe()
    checks = result.lines("CHECK")
    assert checks == ["kernel-dm EPHEMERAL", "rotate-add slots=0,1", "rotate-remove slots=1",
                      "reset EPHEMERAL wiped, STATE kept"], checks
    end = result.lines("ENGINE-END")
    assert end and "status=0" in end[0] and "dm_left=0" in end[0] and "loops_left=0" in end[0], end
