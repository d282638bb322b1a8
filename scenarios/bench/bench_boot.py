"""Boot benchmark: a node with STATE, EPHEMERAL and one user volume, nodeID keys, fast PBKDF.
First boot (format + mkfs) and later boots (open + sync), median of runs, with a breakdown by step
from the node's event log, for a node with a TPM (Node.create's default: a swtpm per node and the
measured boot at every power-on) and one without, booted alternately so both see the same load.
Prints `ratio ...` lines for scripts/bench: later boot vs first boot (so the figure is comparable
across machines) and the TPM node vs the node without one."""

import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cryptnode  # noqa: E402
from configs import NODEID, USER_DISK, config, doc, key  # noqa: E402

CFG = config(
    doc("VolumeConfig", "STATE", [key(0, NODEID)]),
    doc("VolumeConfig", "EPHEMERAL", [key(0, NODEID)]),
    doc("UserVolumeConfig", "data", [key(0, NODEID)], extra=USER_DISK),
)
RUNS = 3
KINDS = (("tpm", True), ("no tpm", False))


def breakdown(events, start=0):
    """Wall time from the previous event to each event, summed by step. The wall clock restarts
    at each power-on, so the shutdown before a reboot counts from the last event of the boot
    before it; "power" is split into "power on" (hardware, swtpm, measured boot) and
    "power off" (unmount, close, detach: the shutdown half of a reboot)."""
    out = {}
    prev = events[start - 1].wall_ms if start > 0 else 0.0
    for e in events[start:]:
        if e.wall_ms < prev:
            prev = 0.0
        step = f"power {e.message.split()[0]}" if e.step == "power" else e.step
        out[step] = out.get(step, 0.0) + (e.wall_ms - prev)
        prev = e.wall_ms
    return out


def boot_once(tpm):
    with tempfile.TemporaryDirectory(prefix="cryptnode-bench-") as d:
        with cryptnode.Node.create(Path(d) / "node", tpm=tpm) as node:
            t = time.perf_counter()
            node.boot(config=CFG)
            first = time.perf_counter() - t
            steps_first = breakdown(node.events())
            assert node.running, [(v.id, v.phase, v.error_message) for v in node.volumes()]
            n0 = len(node.events())
            t = time.perf_counter()
            node.reboot()
            later = time.perf_counter() - t
            assert node.running, [(v.id, v.phase, v.error_message) for v in node.volumes()]
            return first, later, steps_first, breakdown(node.events(), n0)


def summary(steps):
    keys = sorted({k for r in steps for k in r},
                  key=lambda k: -statistics.median([r.get(k, 0.0) for r in steps]))
    return ", ".join(f"{k} {statistics.median([r.get(k, 0.0) for r in steps]):.0f}" for k in keys)


def main():
    runs = {name: [] for name, _ in KINDS}
    for i in range(RUNS):
        for name, tpm in (KINDS if i % 2 == 0 else KINDS[::-1]):  # alternate which goes first
            runs[name].append(boot_once(tpm))
    med = {}
    for name, _ in KINDS:
        first = [r[0] for r in runs[name]]
        later = [r[1] for r in runs[name]]
        med[name] = (statistics.median(first), statistics.median(later))
        print(f"boot first  ({name:6}) median {med[name][0]*1000:8.1f} ms  ({RUNS} runs: "
              + ", ".join(f"{x*1000:.0f}" for x in first) + ")")
        print(f"boot later  ({name:6}) median {med[name][1]*1000:8.1f} ms  ({RUNS} runs: "
              + ", ".join(f"{x*1000:.0f}" for x in later) + "; reboot incl. clean power-off)")
        print(f"  breakdown (first boot, median ms): {summary([r[2] for r in runs[name]])}")
        print(f"  breakdown (later boot, median ms): {summary([r[3] for r in runs[name]])}")
    print(f"ratio boot later/first = {med['tpm'][1] / med['tpm'][0]:.2f}")
    print(f"ratio boot later/first no-tpm = {med['no tpm'][1] / med['no tpm'][0]:.2f}")
    print(f"ratio boot tpm/no-tpm first = {med['tpm'][0] / med['no tpm'][0]:.2f}")
    print(f"ratio boot tpm/no-tpm later = {med['tpm'][1] / med['no tpm'][1]:.2f}")


if __name__ == "__main__":
    main()
