"""Scale benchmark: how many nodes one machine runs at once, each a node process (`cryptnode -n DIR
boot`) holding 3 encrypted volumes (STATE, EPHEMERAL, a user volume; nodeID keys, fast PBKDF,
userspace dm-crypt over FUSE, its own swtpm), and the memory each takes: RSS and PSS of the node
process and every process under it (swtpm included; FUSE serves from the node process). Boots
CRYPTNODE_BENCH_NODES nodes (default 32) concurrently, CRYPTNODE_BENCH_PARALLEL at a time
(default 8), checks every volume is ready, then shuts them all down.

Prints `ratio scale nodes_up/asked = X (goal >= 32 nodes)` and
`ratio scale pss_mib_per_node/goal = X (goal <= 1, 50 MiB)`."""

import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from configs import NODEID, USER_DISK, config, doc, key  # noqa: E402

from cryptnode.daemon import call  # noqa: E402

CFG = config(
    doc("VolumeConfig", "STATE", [key(0, NODEID)]),
    doc("VolumeConfig", "EPHEMERAL", [key(0, NODEID)]),
    doc("UserVolumeConfig", "data", [key(0, NODEID)], extra=USER_DISK),
)
NODES = int(os.environ.get("CRYPTNODE_BENCH_NODES", "32"))
PARALLEL = int(os.environ.get("CRYPTNODE_BENCH_PARALLEL", "8"))
GOAL_MIB = 50


def cli(*args, stdin=None):
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2] / "bindings/python"))
    return subprocess.run([sys.executable, "-m", "cryptnode", *map(str, args)], env=env,
                          capture_output=True, input=stdin, timeout=900)


def tree(pid):
    """pid and every process under it."""
    children = {}
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open(f"/proc/{p}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(p))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def memory_kib(pid):
    """(RSS, PSS) in KiB of a process tree."""
    rss = pss = 0
    for p in tree(pid):
        try:
            with open(f"/proc/{p}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Rss:"):
                        rss += int(line.split()[1])
                    elif line.startswith("Pss:"):
                        pss += int(line.split()[1])
        except OSError:
            pass
    return rss, pss


def boot(d, cfg):
    r = cli("node", "create", d)
    if r.returncode:
        return f"create: {r.stderr.decode().strip()}"
    t = time.perf_counter()
    r = cli("-n", d, "boot", "--config", cfg)
    if r.returncode:
        return f"boot: {r.stderr.decode().strip()}"
    st = call(str(d), "status", timeout=60)
    vols = {v["id"]: v["phase"] for v in st["node"]["volumes"]}
    if any(vols.get(v) != "ready" for v in ("STATE", "EPHEMERAL", "u-data")):
        return f"volumes not ready: {vols}"
    return time.perf_counter() - t


def main():
    with tempfile.TemporaryDirectory(prefix="cryptnode-bench-scale-") as base:
        cfg = Path(base) / "config.yaml"
        cfg.write_text(CFG)
        dirs = [Path(base) / f"n{i}" for i in range(NODES)]
        t = time.perf_counter()
        try:
            with ThreadPoolExecutor(PARALLEL) as pool:
                results = list(pool.map(lambda d: boot(d, cfg), dirs))
            wall = time.perf_counter() - t
            up = [d for d, r in zip(dirs, results) if isinstance(r, float)]
            for d, r in zip(dirs, results):
                if not isinstance(r, float):
                    print(f"  {d.name}: {r}")
            mem = [memory_kib(call(str(d), "status", timeout=60)["node"]["pid"]) for d in up]
        finally:
            with ThreadPoolExecutor(PARALLEL) as pool:
                list(pool.map(lambda d: cli("-n", d, "shutdown"), dirs))
    boots = [r for r in results if isinstance(r, float)]
    print(f"nodes up at once: {len(up)} of {NODES} (3 encrypted volumes each), booted {PARALLEL} "
          f"at a time in {wall:.1f} s; boot median {statistics.median(boots):.1f} s"
          if boots else f"nodes up at once: 0 of {NODES}")
    if mem:
        rss = statistics.median(m[0] for m in mem) / 1024
        pss = statistics.median(m[1] for m in mem) / 1024
        print(f"memory per node (node process + swtpm): RSS median {rss:.1f} MiB, "
              f"PSS median {pss:.1f} MiB")
        print(f"ratio scale pss_mib_per_node/goal = {pss / GOAL_MIB:.2f} (goal <= 1, {GOAL_MIB} MiB)")
    print(f"ratio scale nodes_up/asked = {len(up) / NODES:.2f} (goal: 1.00 at >= 32 nodes)")
    return 0 if len(up) == NODES else 1


if __name__ == "__main__":
    sys.exit(main())
