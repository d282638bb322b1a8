"""The plugin's session check fails a run that leaves a loop device behind."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_a_leaked_loop_device_fails_the_session(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("needs root (loop devices)")
    img = tmp_path / "leak.img"
    img.write_bytes(b"\0" * (1 << 20))
    (tmp_path / "conftest.py").write_text((ROOT / "scenarios" / "conftest.py").read_text())
    (tmp_path / "test_leaky.py").write_text(textwrap.dedent(f"""
        import subprocess
        def test_leaks():
            subprocess.run(["losetup", "-f", "{img}"], check=True)
    """))
    env = dict(os.environ, PYTHONPATH=str(ROOT / "bindings" / "python"))
    try:
        r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                            str(tmp_path)], capture_output=True, text=True, env=env,
                           cwd=tmp_path, timeout=300)
    finally:
        out = subprocess.run(["losetup", "-j", str(img)], capture_output=True, text=True).stdout
        for line in out.splitlines():
            subprocess.run(["losetup", "-d", line.split(":")[0]])
    assert r.returncode != 0, r.stdout
    assert "cryptnode leak check" in r.stdout and "loop devices" in r.stdout
