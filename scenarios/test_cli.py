"""The `cryptnode` command line, run as a user would (a subprocess of Debian's python3)."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENV = dict(os.environ, PYTHONPATH=str(ROOT / "bindings" / "python"))


def cli(*args, stdin=None):
    return subprocess.run([sys.executable, "-m", "cryptnode", *args], capture_output=True,
                          text=True, env=ENV, input=stdin, timeout=600)


def test_help_answers():
    r = cli("--help")
    assert r.returncode == 0
    assert "config" in r.stdout and "demo" in r.stdout
    r = cli("config", "--help")
    assert r.returncode == 0 and "validate" in r.stdout and "describe" in r.stdout


def test_config_validate(tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text("apiVersion: v1alpha1\nkind: VolumeConfig\nname: EPHEMERAL\nencryption:\n"
                    "  provider: luks2\n  keys:\n    - slot: 0\n      nodeID: {}\n")
    r = cli("config", "validate", str(good))
    assert r.returncode == 0 and r.stdout.strip() == "valid"
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: v1alpha1\nkind: VolumeConfig\nname: EPHEMERAL\nencryption:\n"
                   "  provider: luks2\n")
    r = cli("config", "validate", str(bad), "-o", "json")
    assert r.returncode == 1
    assert json.loads(r.stdout)["errors"] == ["encryption keys are required"]
    r = cli("config", "validate", "-", stdin="a: [\n")
    assert r.returncode == 1 and "invalid YAML" in r.stdout


def test_config_describe_shows_kinds_not_secrets(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("apiVersion: v1alpha1\nkind: VolumeConfig\nname: EPHEMERAL\nencryption:\n"
                 "  provider: luks2\n  keys:\n    - slot: 2\n      static:\n"
                 "        passphrase: hunter2-secret\n      lockToSTATE: true\n")
    r = cli("config", "describe", str(f))
    assert r.returncode == 0, r.stderr
    assert "slot 2" in r.stdout and "lockToSTATE" in r.stdout
    assert "hunter2-secret" not in r.stdout
    d = json.loads(cli("config", "describe", str(f), "-o", "json").stdout)
    assert d["effective"]["EPHEMERAL"]["keys"][0]["kind"] == "static"
    assert "hunter2" not in json.dumps(d)


def test_missing_file_is_a_clear_error(tmp_path):
    r = cli("config", "validate", str(tmp_path / "nope.yaml"))
    assert r.returncode != 0 and "cannot read" in r.stderr


def test_demo_examples_print_no_passphrase():
    r = cli("demo", "--examples-only")
    assert r.returncode == 0, r.stderr
    assert "STATE and EPHEMERAL with nodeID keys" in r.stdout
    for secret in ("supersecret", "oldkey", "newkey"):
        assert secret not in r.stdout


def test_node_commands_like_talosctl(tmp_path):
    """node create, then boot (a background node process), get volumestatus, apply-config,
    reset, shutdown: nothing left running."""
    import pytest
    if os.geteuid() != 0:
        pytest.skip("simulated nodes need root")
    d = tmp_path / "n"
    assert cli("node", "create", str(d)).returncode == 0
    cfg = tmp_path / "c.yaml"
    cfg.write_text("apiVersion: v1alpha1\nkind: VolumeConfig\nname: EPHEMERAL\nencryption:\n"
                   "  provider: luks2\n  keys:\n    - slot: 0\n      nodeID: {}\n")
    base = tmp_path / "base.yaml"
    base.write_text("version: v1alpha1\nmachine:\n  type: worker\n")
    try:
        r = cli("-n", str(d), "boot", "--config", str(base))
        assert r.returncode == 0, r.stderr
        r = cli("-n", str(d), "get", "volumestatus", "-o", "json")
        assert r.returncode == 0, r.stderr
        phases = {v["id"]: v["phase"] for v in json.loads(r.stdout)["volumes"]}
        assert phases == {"STATE": "ready", "EPHEMERAL": "ready"}
        r = cli("-n", str(d), "apply-config", "-f", str(cfg), "--mode=staged")
        assert r.returncode == 0, r.stderr
        r = cli("-n", str(d), "reset", "--system-labels-to-wipe", "EPHEMERAL", "--reboot=true",
                "-o", "json")
        assert r.returncode == 0, r.stderr
        eph = [v for v in json.loads(r.stdout)["volumes"] if v["id"] == "EPHEMERAL"][0]
        assert eph["encryptionProvider"] == "luks2" and eph["phase"] == "ready"
        r = cli("-n", str(d), "reset", "--system-labels-to-wipe", "NOPE")
        assert r.returncode == 1 and 'failed to get volume status with label "NOPE"' in r.stderr
    finally:
        cli("-n", str(d), "shutdown")
    r = cli("-n", str(d), "get", "volumestatus")
    assert r.returncode == 1 and "is not running" in r.stderr


def test_node_process_killed_is_recovered_at_the_next_boot(tmp_path):
    """kill -9 of the node process leaves mounts, a FUSE mapper and loop devices; the next boot of
    that node directory cleans them up, and shutdown leaves nothing."""
    import signal
    import pytest
    from cryptnode.pytest_plugin import fuse_mounts, loop_devices
    if os.geteuid() != 0:
        pytest.skip("simulated nodes need root")
    d = tmp_path / "n"
    base = tmp_path / "base.yaml"
    base.write_text("apiVersion: v1alpha1\nkind: VolumeConfig\nname: EPHEMERAL\nencryption:\n"
                    "  provider: luks2\n  keys:\n    - slot: 0\n      nodeID: {}\n")
    assert cli("node", "create", str(d)).returncode == 0
    assert cli("-n", str(d), "boot", "--config", str(base)).returncode == 0
    pid = int(subprocess.run(["pgrep", "-f", f"cryptnode.daemon {d}"], capture_output=True,
                             text=True).stdout.split()[0])
    os.kill(pid, signal.SIGKILL)
    import time
    for _ in range(100):
        if not os.path.exists(f"/proc/{pid}"):
            break
        time.sleep(0.05)
    mine = lambda: [b for b in loop_devices().values() if b.startswith(str(d))]  # noqa: E731
    assert mine()  # the kill left them
    r = cli("-n", str(d), "boot")
    assert r.returncode == 0, r.stderr
    assert "EPHEMERAL    ready" in r.stdout
    cli("-n", str(d), "shutdown")
    for _ in range(100):
        if not mine():
            break
        time.sleep(0.05)
    assert mine() == []
    assert not any(m.startswith(str(d)) for m in fuse_mounts())
