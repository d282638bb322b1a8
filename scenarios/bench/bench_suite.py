"""Suite wall time: the seed flows and the Talos integration replays (scenarios/test_seed_flows.py,
scenarios/test_talos_integration.py) run by pytest serially and under pytest-xdist with 2 workers,
alternating, ROUNDS times. This is what a user running rotation suites in CI feels. Prints the
min/median/max per side and `ratio suite parallel/serial = X` and
`ratio suite best/goal = X (goal <= 1: 15 s)`."""

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
FILES = ["test_seed_flows.py", "test_talos_integration.py"]
ROUNDS = int(os.environ.get("CRYPTNODE_BENCH_SUITE_ROUNDS", "2"))
GOAL_S = 15.0


def has_xdist():
    try:
        import xdist  # noqa: F401
        return True
    except ImportError:
        return False


def run(extra):
    env = dict(os.environ, PYTHONPATH=str(HERE.parent / "bindings" / "python"))
    t = time.perf_counter()
    p = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *extra,
                        *FILES], cwd=HERE, env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True)
    dt = time.perf_counter() - t
    if p.returncode != 0:
        sys.stdout.write(p.stdout[-3000:])
        raise SystemExit(f"bench_suite: pytest {' '.join(extra)} failed (exit {p.returncode})")
    return dt


def fmt(xs):
    return "/".join(f"{x:.1f}" for x in (min(xs), statistics.median(xs), max(xs)))


def main():
    sides = {"serial": []}
    if has_xdist():
        sides["xdist-2"] = ["-n", "2"]
    res = {k: [] for k in sides}
    for _ in range(ROUNDS):
        for name in sides:
            res[name].append(run(sides[name]))
    for name, xs in res.items():
        print(f"suite {name:8s} ({' + '.join(FILES)}) min/median/max {fmt(xs)} s")
    ser = statistics.median(res["serial"])
    if "xdist-2" in res:
        print(f"ratio suite parallel/serial = {statistics.median(res['xdist-2']) / ser:.2f}")
    best = min(statistics.median(xs) for xs in res.values())
    print(f"ratio suite best/goal = {best / GOAL_S:.2f} (goal <= 1: {GOAL_S:.0f} s)")


if __name__ == "__main__":
    main()
