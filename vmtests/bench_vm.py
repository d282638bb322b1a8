"""VM-tier benchmark: the seed document's flows (vmtests/guest/flows.py) in the simulation on this
host (userspace backend) and inside the VM guest (kernel backend, real dm-crypt, TCG), side by
side in one run; then a real boot of a guest that opens a node's volumes with cryptsetup against
the simulation's reboot of the same node. Prints `ratio ...` lines for scripts/bench.

Usage: PYTHONPATH=<build tree's package dir> /usr/bin/python3 vmtests/bench_vm.py [--flows a,b]
Exits 0 with a "skipped" line where QEMU or the guest is unavailable."""

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import cryptnode  # noqa: E402
from helpers import NODEID, UUID, config, key, node_disks, user_disk, volume_doc  # noqa: E402
from vmtier import boot as vmboot  # noqa: E402
from vmtier import guest as vmguest  # noqa: E402
from vmtier.boot import BootSpec  # noqa: E402
from vmtier.job import Job  # noqa: E402
from vmtier.tracking import TRACKER  # noqa: E402

FLOWS = os.path.join(HERE, "guest", "flows.py")
FLOW_LINE = re.compile(r"^VMT: FLOW (\S+) ok seconds=([0-9.]+)", re.MULTILINE)
PKG_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(cryptnode.__file__)))


def sim_flows(flows, workdir):
    """{flow: seconds} from flows.py run on this host (the simulation's default backend)."""
    env = dict(os.environ, PYTHONPATH=PKG_ROOT, PYTHONDONTWRITEBYTECODE="1")
    r = subprocess.run([sys.executable, FLOWS, "--dir", os.path.join(workdir, "sim"),
                        "--backend", "userspace", "--flows", flows], capture_output=True, text=True,
                       env=env, timeout=1800)
    if r.returncode != 0:
        raise SystemExit(f"bench_vm: the flows failed in the simulation:\n{r.stdout[-3000:]}"
                         f"{r.stderr[-2000:]}")
    return {m.group(1): float(m.group(2)) for m in FLOW_LINE.finditer(r.stdout)}


def vm_flows(hv, flows, workdir):
    """({flow: seconds} measured in the guest, wall seconds of the whole boot, the result)."""
    scratch = os.path.join(workdir, "scratch.img")
    with open(scratch, "wb") as f:
        f.truncate(6 << 30)
    subprocess.run(["mkfs.ext4", "-q", "-F", scratch], check=True, capture_output=True)
    with open(FLOWS, "rb") as f:
        job = Job("engine-scenario").add_file("flows.py", f.read())
    job.line("pythonpath", PKG_ROOT).line("script", "flows.py")
    for a in ("--dir", "/tmp/nodes", "--backend", "kernel", "--flows", flows):
        job.line("arg", a)
    spec = BootSpec("bench-flows", [vmboot.Disk(scratch, "scratch", False)],
                    job.write(os.path.join(workdir, "job-flows")), memory_mib=1024,
                    share_host_root=True, timeout=1800)
    result = hv.boot(spec).check()
    return ({m.group(1): float(m.group(2)) for m in FLOW_LINE.finditer(result.console)},
            result.seconds, result)


def boot_vs_reboot(hv, workdir):
    """A node with STATE, EPHEMERAL and a user volume (nodeID keys): the simulation's reboot
    against a VM boot that opens the three volumes with cryptsetup and dm-crypt."""
    cfg = config(volume_doc("VolumeConfig", "STATE", [key(0, NODEID)]),
                 volume_doc("VolumeConfig", "EPHEMERAL", [key(0, NODEID)]),
                 volume_doc("UserVolumeConfig", "data", [key(0, NODEID)], extra=user_disk()))
    path = os.path.join(workdir, "node")
    with cryptnode.Node.create(path, uuid=UUID, tpm=False, backend="userspace") as node:
        node.boot(config=cfg)
        t = time.perf_counter()
        node.reboot()
        sim = time.perf_counter() - t
    job = Job("read-volumes")
    for vol, serial in (("STATE", "system"), ("EPHEMERAL", "system"), ("u-data", "disk1")):
        job.line("open", vol, serial, vol, 0, "nodeid", UUID, 0).line("close", vol)
    result = hv.boot(BootSpec("bench-boot", node_disks(path), job.write(
        os.path.join(workdir, "job-boot")))).check()
    return sim, result.seconds, result


def uptime_at(result, tag):
    m = re.search(rf"^VMT: {tag}\b.*?uptime=([0-9.]+)", result.console, re.MULTILINE)
    return float(m.group(1)) if m else float("nan")


def main(argv):
    p = argparse.ArgumentParser()
    p.add_argument("--flows", default="all")
    a = p.parse_args(argv)
    reason = vmboot.qemu_unavailable()
    if reason:
        print(f"bench_vm: skipped: {reason}")
        return 0
    try:
        guest = vmguest.ensure_guest()
    except vmguest.GuestUnavailable as e:
        print(f"bench_vm: skipped: the guest cannot be built: {e}")
        return 0
    hv = vmboot.choose(guest)
    print(f"bench_vm: {hv.description}; guest {guest.flavour} kernel {guest.kver}; "
          f"host load {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    try:
        with tempfile.TemporaryDirectory(prefix="cryptnode-benchvm-") as d:
            sim = sim_flows(a.flows, d)
            vm, wall, res = vm_flows(hv, a.flows, d)
            sim_boot, vm_boot, res_boot = boot_vs_reboot(hv, d)
    finally:
        hv.close()
        TRACKER.cleanup()
    print(f"{'flow':26s} {'sim (userspace)':>16s} {'VM (kernel, TCG)':>17s} {'vm/sim':>7s}")
    for name in sim:
        v = vm.get(name, float("nan"))
        print(f"{name:26s} {sim[name] * 1000:13.0f} ms {v * 1000:14.0f} ms {v / sim[name]:7.1f}")
    total_sim, total_vm = sum(sim.values()), sum(vm.get(n, 0.0) for n in sim)
    print(f"{'all flows':26s} {total_sim * 1000:13.0f} ms {total_vm * 1000:14.0f} ms "
          f"{total_vm / total_sim:7.1f}")
    start = uptime_at(res, "ENGINE-START")
    print(f"flows boot: {wall:.1f} s wall (guest /init at {uptime_at(res, 'INIT'):.1f} s, engine "
          f"start {start:.1f} s, python + flows {uptime_at(res, 'ENGINE-END') - start:.1f} s)")
    print(f"volume-open boot: VM {vm_boot:.1f} s wall (/init at {uptime_at(res_boot, 'INIT'):.1f} "
          f"s, modules loaded {uptime_at(res_boot, 'MODULES'):.1f} s, job done "
          f"{uptime_at(res_boot, 'EXIT'):.1f} s) vs simulation reboot {sim_boot * 1000:.0f} ms")
    for name in sim:
        if name in vm:
            print(f"ratio vm/sim flow {name} = {vm[name] / sim[name]:.1f}")
    print(f"ratio vm/sim all flows = {total_vm / total_sim:.1f}")
    print(f"ratio vm-boot/sim-reboot = {vm_boot / sim_boot:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
