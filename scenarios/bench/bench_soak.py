"""Soak: SOAK_NODES nodes, each in a process of its own, run SOAK_CYCLES cycles of boot, write,
key rotation (the two-step rotation, one apply-config --mode=reboot per cycle), an occasional reset
of EPHEMERAL and a 30 s retry window on the virtual clock — with the power cut at a random fault
point of the cycle (seeded: SOAK_SEED) and, every third cycle, the node driven through the CLI's
node process and that process killed with SIGKILL. After each cut the next boot must open every
volume and find every file written to u-data since the node was made (EPHEMERAL's since its last
reset). At the end nothing may be left: no loop device, mount (FUSE included), swtpm or node
process under the soak's directory.

Prints cycles per minute and the peak RSS of each node's process (no `ratio` line: a soak has
no reference to compare with). The default run (2 nodes x 6 cycles, capped by SOAK_SECONDS=150)
takes about two minutes. SOAK_CYCLES counts per node: the full soak, 1000 cycles across 8 nodes, is
SOAK_CYCLES=125 SOAK_NODES=8 SOAK_SECONDS=0 (0: no time cap). Measured on the shared 2-core machine
(load average 7.7 at the start, 18 at the end): 1000 cycles in 1193 s = 50.3 cycles/min, 719 power
cuts and 328 kill -9, peak RSS 56-65 MiB per node process, nothing left behind."""

import json
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bindings" / "python"))

NODES = int(os.environ.get("SOAK_NODES", "2"))
CYCLES = int(os.environ.get("SOAK_CYCLES", "6"))
SECONDS = float(os.environ.get("SOAK_SECONDS", "150"))
SEED = int(os.environ.get("SOAK_SEED", "1"))

# The points each kind of cycle reaches: a rotation step that adds a key, one that removes the old
# key, a reset of EPHEMERAL (wipe, then the format at the reboot).
ADD_POINTS = ["apply_config.after_persist", "encryption.before_add_key", "encryption.after_add_key"]
REMOVE_POINTS = ["apply_config.after_persist", "encryption.before_kill", "encryption.after_kill",
                 "encryption.after_remove"]
RESET_POINTS = ["reset.after_wipe", "reset.before_gpt_delete", "luks2.after_format",
                "volume.before_mkfs"]


def cfg(keys):
    from cryptnode.configs import config, node_id, static, user_volume_config, volume_config
    return config(volume_config("STATE", keys=[node_id()]),
                  volume_config("EPHEMERAL", keys=[static(p, s) for s, p in keys]),
                  user_volume_config("data", keys=[node_id(0), node_id(1, lock_to_state=True)]))


def rotation(k):
    """The EPHEMERAL keys after k rotation steps: one key, then two (the new one added), then the
    new one alone, in alternating slots."""
    gen, add = divmod(k, 2)
    cur = (gen % 2, f"soak-key-{gen}")
    return [cur, ((gen + 1) % 2, f"soak-key-{gen + 1}")] if add else [cur]


def check(node, files):
    for st in node.volumes():
        assert st.phase == "ready", f"{st.id} {st.phase}: {st.error_message}"
    for (vol, name), data in files.items():
        got = node.read_file(vol, name)
        assert got == data, f"{vol}/{name} differs"


def cli(*args):
    env = dict(os.environ, PYTHONPATH=str(ROOT / "bindings" / "python"))
    r = subprocess.run([sys.executable, "-m", "cryptnode", *map(str, args)], env=env,
                       capture_output=True, text=True, timeout=600)
    return r


def worker(index, root):
    from cryptnode import Node
    rng = random.Random(SEED * 1000 + index)
    path = os.path.join(root, f"node{index}")
    files, k, cuts, kills, done = {}, 0, 0, 0, 0
    deadline = time.monotonic() + SECONDS if SECONDS > 0 else None
    node = Node.create(path, pbkdf="fast")
    try:
        node.boot(config=cfg(rotation(0)))
        for cycle in range(CYCLES):
            if deadline and time.monotonic() > deadline:
                break
            tag = f"c{cycle}".encode()
            node.write_file("u-data", f"c{cycle}", tag)
            node.write_file("EPHEMERAL", f"c{cycle}", tag)
            files[("u-data", f"c{cycle}")] = tag
            files[("EPHEMERAL", f"c{cycle}")] = tag
            resetting = rng.random() < 0.25
            points = RESET_POINTS if resetting else ADD_POINTS if k % 2 == 0 else REMOVE_POINTS
            armed = rng.random() < 0.75
            if armed:
                node.crash_at(rng.choice(points))
            if resetting:
                node.reset(["EPHEMERAL"], reboot=True)
                files = {f: d for f, d in files.items() if f[0] != "EPHEMERAL"}
            else:
                k += 1
                node.apply_config(cfg(rotation(k)), mode="reboot")
            if node.last_crash:
                cuts += 1
                node.boot()
            elif armed:
                raise AssertionError(f"cycle {cycle}: the armed point was not reached")
            node.crash_at("")
            node.advance(rng.choice([0, 30, 90]))
            check(node, files)
            if cycle % 3 == 2:  # through the node process, killed with SIGKILL, then recovered
                node.close()
                r = cli("-n", path, "boot", "-o", "json")
                assert r.returncode == 0, r.stderr
                os.kill(json.loads(r.stdout)["pid"], signal.SIGKILL)
                kills += 1
                time.sleep(0.2)
                node = Node.open(path)  # clears what the killed process left
                node.boot()
                check(node, files)
            done += 1
            if done % 25 == 0:  # progress, on stderr (stdout carries the result)
                print(f"node {index}: {done} cycles", file=sys.stderr, flush=True)
    finally:
        node.close()
    rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"node": index, "cycles": done, "cuts": cuts, "kills": kills,
                      "peak_rss_mib": round(rss_kib / 1024, 1)}), flush=True)


def leftovers(root):
    from cryptnode.host import node_leftovers
    left = {k: v for k, v in node_leftovers(root).items() if v}
    procs = []
    for pid in os.listdir("/proc"):
        if pid.isdigit() and int(pid) != os.getpid():
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    if root.encode() in f.read():
                        procs.append(pid)
            except OSError:
                pass
    if procs:
        left["processes"] = procs
    return left


def main():
    if len(sys.argv) == 3:
        worker(int(sys.argv[1]), sys.argv[2])
        return 0
    if os.geteuid() != 0:
        print("bench_soak: skipped (simulated nodes need root)")
        return 0
    root = tempfile.mkdtemp(prefix="cryptnode-soak-")
    load = os.getloadavg()  # the machine is shared: the figure means little without it
    t = time.perf_counter()
    procs = [subprocess.Popen([sys.executable, __file__, str(i), root], stdout=subprocess.PIPE,
                              text=True) for i in range(NODES)]
    results, status = [], 0
    for i, p in enumerate(procs):
        out, _ = p.communicate()
        lines = [x for x in out.splitlines() if x.startswith("{")]
        if p.returncode or not lines:
            print(f"!! node {i}: the worker failed (exit {p.returncode})")
            status = 1
        else:
            results.append(json.loads(lines[-1]))
    wall = time.perf_counter() - t
    time.sleep(0.5)
    left = leftovers(root)
    shutil.rmtree(root, ignore_errors=True)
    cycles = sum(r["cycles"] for r in results)
    for r in results:
        print(f"node {r['node']}: {r['cycles']} cycles, {r['cuts']} power cuts, {r['kills']} "
              f"kill -9, peak RSS {r['peak_rss_mib']} MiB")
    print(f"soak: {len(results)} nodes, {cycles} cycles in {wall:.0f} s = "
          f"{cycles / (wall / 60):.1f} cycles/min (seed {SEED}); load average at the start "
          f"{load[0]:.1f}, at the end {os.getloadavg()[1]:.1f} (5 min)")
    if left:
        print(f"!! left behind: {left}")
        status = 1
    else:
        print("left behind: nothing (loop devices, mounts, swtpm, node processes)")
    return status


if __name__ == "__main__":
    sys.exit(main())
