"""Boot benchmark: a node with STATE, EPHEMERAL and one user volume, nodeID keys,
fast PBKDF. First boot (format + mkfs) and later boots (open + sync), median of runs, with a
breakdown by step from the node's event log. Prints `ratio ...` lines for scripts/bench: later boot
vs first boot, so the figure is comparable across machines."""

import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cryptnode  # noqa: E402
from configs import NODEID, config, doc, key  # noqa: E402

USER = """provisioning:
  diskSelector:
    match: "!system_disk"
  minSize: 100MiB
  maxSize: 200MiB
"""
CFG = config(
    doc("VolumeConfig", "STATE", [key(0, NODEID)]),
    doc("VolumeConfig", "EPHEMERAL", [key(0, NODEID)]),
    doc("UserVolumeConfig", "data", [key(0, NODEID)], extra=USER),
)
RUNS = 3


def breakdown(events):
    """Wall time spent up to each step's first event, as deltas between consecutive events."""
    out = {}
    prev = 0.0
    for e in events:
        out[e.step] = out.get(e.step, 0.0) + (e.wall_ms - prev)
        prev = e.wall_ms
    return out


def main():
    first, later = [], []
    steps_first, steps_later = [], []
    for _ in range(RUNS):
        with tempfile.TemporaryDirectory(prefix="cryptnode-bench-") as d:
            with cryptnode.Node.create(Path(d) / "node") as node:
                t = time.perf_counter()
                node.boot(config=CFG)
                first.append(time.perf_counter() - t)
                steps_first.append(breakdown(node.events()))
                assert node.running, [(v.id, v.phase, v.error_message) for v in node.volumes()]
                n0 = len(node.events())
                t = time.perf_counter()
                node.reboot()
                later.append(time.perf_counter() - t)
                steps_later.append(breakdown(node.events()[n0:]))
    f, l = statistics.median(first), statistics.median(later)
    print(f"boot first  median {f*1000:8.1f} ms  ({RUNS} runs: "
          + ", ".join(f"{x*1000:.0f}" for x in first) + ")")
    print(f"boot later  median {l*1000:8.1f} ms  (reboot incl. clean power-off)")
    for name, runs in (("first", steps_first), ("later", steps_later)):
        keys = sorted({k for r in runs for k in r}, key=lambda k: -statistics.median(
            [r.get(k, 0.0) for r in runs]))
        print(f"  breakdown ({name} boot, median ms): " + ", ".join(
            f"{k} {statistics.median([r.get(k, 0.0) for r in runs]):.0f}" for k in keys))
    print(f"ratio boot later/first = {l / f:.2f}")


if __name__ == "__main__":
    main()
